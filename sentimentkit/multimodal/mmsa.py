"""MMSA feature pickles (MOSI/MOSEI `unaligned_50.pkl`, `aligned_50.pkl`, SIMS `unaligned_39.pkl`) -> examples.

The layout (MULTIMODAL.md section 3): a pickled dict with splits `train`, `valid`, `test`; each split a dict of
arrays over N clips: `raw_text` (N,), `audio` (N, T_a, D_a), `vision` (N, T_v, D_v), `regression_labels` (N,),
`id` (N,) as "<video_id>$_$<clip_id>", optionally `audio_lengths`, `vision_lengths` (N,) and `annotations` (N,).
Other keys (`text`, `text_bert`, `classification_labels`, SIMS's per-modality labels) are not read.

Why the trust flag: unpickling runs code that the file names, so a pickle is read only when the caller says it
trusts the file (`trust_pickle=True`, the CLI's `--trust-pickle`). `convert_mmsa` then writes the safe format
(`npz.py`) once, and later runs read that.

What reading does, per split and sample (section 3):
- audio `-inf` becomes 0 (audio only, `-inf` only, as MMSA's loaders do); any other NaN or inf is an error;
- the padding side is detected per sample and modality from the zero frames: zeros only at the start means left
  padding, only at the end right padding, neither none. The padding is removed so that only real frames remain:
  with a given length, the last `length` frames of a left-padded clip or the first `length` of any other (MMSA's
  own convention); without one, the all-zero frames on the padded side. A clip with no real frames keeps a
  (0, D) array. `meta["padding"]` holds the side ("left", "right" or "none"; "mixed" when audio and vision
  disagree), `meta["padding_audio"]` and `meta["padding_vision"]` each modality's;
- the SHA-256 of the file is compared with MMSA's published sums; a mismatch is reported, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..types import MultimodalExample
from .npz import save_examples, sidecar_path

# MMSA README, "SHA-256 for feature files" (MULTIMODAL.md section 3)
PUBLISHED_SHA256 = {
    "78e0f8b5ef8ff71558e7307848fc1fa929ecb078203f565ab22b9daab2e02524": "MOSI/Processed/unaligned_50.pkl",
    "d3994fd25681f9c7ad6e9c6596a6fe9b4beb85ff7d478ba978b124139002e5f9": "MOSI/Processed/aligned_50.pkl",
    "ad8b23d50557045e7d47959ce6c5b955d8d983f2979c7d9b7b9226f6dd6fec1f": "MOSEI/Processed/unaligned_50.pkl",
    "45eccfb748a87c80ecab9bfac29582e7b1466bf6605ff29d3b338a75120bf791": "MOSEI/Processed/aligned_50.pkl",
    "c9e20c13ec0454d98bb9c1e520e490c75146bfa2dfeeea78d84de047dbdd442f": "SIMS/Processed/unaligned_39.pkl",
}
SPLITS = {"train": "train", "valid": "validation", "test": "test"}  # MMSA's key -> ours
OUTPUT_FILES = {"train": "train.npz", "validation": "valid.npz", "test": "test.npz"}
REQUIRED_KEYS = ("raw_text", "audio", "vision", "regression_labels", "id")
ID_SEPARATOR = "$_$"

__all__ = ["MMSAFormatError", "UntrustedPickleError", "convert_mmsa", "file_sha256", "read_mmsa_pickle"]


class MMSAFormatError(ValueError):
    """An MMSA pickle does not have the expected layout; the message names the file, split, key or sample."""


class UntrustedPickleError(PermissionError):
    """Reading a pickle was refused because the caller did not say they trust the file."""


def file_sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sum(path: Path, sha: str) -> list[str]:
    """A note when the file is one of MMSA's published files; a warning when its name is but its sum is not."""
    if sha in PUBLISHED_SHA256:
        return [f"{path.name}: sha256 matches MMSA's published {PUBLISHED_SHA256[sha]}"]
    expected = [f"{name} {s}" for s, name in PUBLISHED_SHA256.items() if Path(name).name == path.name]
    if expected:
        return [
            f"warning: {path}: sha256 {sha} differs from MMSA's published sum for a file of this name "
            f"({'; '.join(expected)}); the file may be another version or damaged"
        ]
    return []


def _unpickle(path: Path) -> Any:
    with open(path, "rb") as handle:
        try:
            return pickle.load(handle)
        except UnicodeDecodeError:
            # pickles written by Python 2 hold byte strings that only decode as latin-1
            handle.seek(0)
            return pickle.load(handle, encoding="latin1")


def _detect_padding(nonzero: np.ndarray) -> str:
    """The padding side of one clip from its (T,) non-zero-frame flags: "left", "right" or "none"."""
    if not nonzero.any():
        return "right" if len(nonzero) else "none"
    leading, trailing = not nonzero[0], not nonzero[-1]
    if leading and not trailing:
        return "left"
    if trailing and not leading:
        return "right"
    return "none" if not leading else "right"  # zeros at both ends: MMSA pads at the end


def _strip(frames: np.ndarray, side: str, length: int | None) -> tuple[np.ndarray, str, bool]:
    """The real frames of one (T, D) clip, its padding side, and whether a given length disagreed with the zeros.

    Zeros at both ends are read as right padding (MMSA pads at the end) unless the given length only fits left.
    """
    nonzero = (frames != 0).any(axis=1)
    if length is not None:
        cut = len(frames) - length

        def fits(s: str) -> bool:
            return not (nonzero[:cut] if s == "left" else nonzero[length:]).any()

        if side == "right" and not fits("right") and fits("left") and not nonzero[0]:
            side = "left"
        real = frames[cut:] if side == "left" else frames[:length]
        return real, side, not fits(side)
    if not nonzero.any():
        return frames[:0], side, False
    first, last = int(np.argmax(nonzero)), len(nonzero) - 1 - int(np.argmax(nonzero[::-1]))
    if side == "left":
        return frames[first:], side, False
    if side == "right":
        return frames[: last + 1], side, False
    return frames, side, False


def _array(path: Path, split: str, key: str, value: Any, n: int | None) -> np.ndarray:
    array = np.asarray(value)
    if n is not None and (array.ndim == 0 or len(array) != n):
        shape = array.shape
        raise MMSAFormatError(f"{path}: split {split!r} key {key!r} has shape {shape}; expected {n} entries (N)")
    return array


def _float_array(path: Path, split: str, key: str, value: Any, n: int, ndim: int) -> np.ndarray:
    array = _array(path, split, key, value, n)
    if array.ndim != ndim:
        expected = "(N, T, D)" if ndim == 3 else "(N,)"
        raise MMSAFormatError(f"{path}: split {split!r} key {key!r} has shape {array.shape}; expected {expected}")
    if not np.issubdtype(array.dtype, np.floating):
        raise MMSAFormatError(f"{path}: split {split!r} key {key!r} has dtype {array.dtype}; expected floats")
    return array


def _lengths(path: Path, split: str, key: str, value: Any, n: int, limit: int, ids: list[str]) -> np.ndarray:
    array = _array(path, split, key, value, n).reshape(-1)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise MMSAFormatError(f"{path}: split {split!r} key {key!r} has dtype {array.dtype}; expected integers")
    if np.issubdtype(array.dtype, np.floating) and not (np.isfinite(array).all() and (array == np.round(array)).all()):
        raise MMSAFormatError(f"{path}: split {split!r} key {key!r} holds non-integer lengths; expected frame counts")
    array = array.astype(np.int64)
    bad = np.flatnonzero((array < 0) | (array > limit))
    if len(bad):
        i = int(bad[0])
        raise MMSAFormatError(
            f"{path}: split {split!r} key {key!r}: sample {ids[i]!r} has length {array[i]}; "
            f"expected 0..{limit} (the sequence length)"
        )
    return array


def _read_split(path: Path, split: str, data: Any) -> tuple[list[MultimodalExample], list[str]]:
    if not isinstance(data, Mapping):
        raise MMSAFormatError(f"{path}: split {split!r} is a {type(data).__name__}; expected a dict of arrays")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise MMSAFormatError(
            f"{path}: split {split!r} lacks key(s) {missing}; an MMSA split has {list(REQUIRED_KEYS)}"
        )
    ids = [str(i) for i in _array(path, split, "id", data["id"], None).reshape(-1)]
    n = len(ids)
    texts = [str(t) for t in _array(path, split, "raw_text", data["raw_text"], n).reshape(-1)]
    labels = _array(path, split, "regression_labels", data["regression_labels"], n)
    if labels.size != n:  # (N,) or (N, 1)
        raise MMSAFormatError(
            f"{path}: split {split!r} key 'regression_labels' has shape {labels.shape}; expected one value per sample"
        )
    labels = _float_array(path, split, "regression_labels", labels.reshape(n), n, 1).astype(np.float64)
    if not np.isfinite(labels).all():
        i = int(np.argmax(~np.isfinite(labels)))
        raise MMSAFormatError(
            f"{path}: split {split!r} key 'regression_labels': sample {ids[i]!r} is {labels[i]}; expected a number"
        )
    annotations = (
        [str(a) for a in _array(path, split, "annotations", data["annotations"], n)] if "annotations" in data else None
    )
    notes: list[str] = []
    sequences: dict[str, list[np.ndarray]] = {}
    sides: dict[str, list[str]] = {}
    for modality in ("audio", "vision"):
        array = _float_array(path, split, modality, data[modality], n, 3).astype(np.float32)
        if modality == "audio":
            minus_inf = array == -np.inf
            if minus_inf.any():
                clips = int(minus_inf.any(axis=(1, 2)).sum())
                notes.append(f"{split}: {int(minus_inf.sum())} audio values of -inf in {clips} clips set to 0")
                array = np.where(minus_inf, np.float32(0), array)
        bad = ~np.isfinite(array)
        if bad.any():
            i, frame, _ = (int(v) for v in np.argwhere(bad)[0])
            raise MMSAFormatError(
                f"{path}: split {split!r} key {modality!r}: sample {ids[i]!r} has NaN or inf at frame {frame}; "
                "expected finite features" + (" (only audio -inf is set to 0)" if modality == "audio" else "")
            )
        key = f"{modality}_lengths"
        lengths = _lengths(path, split, key, data[key], n, array.shape[1], ids) if key in data else None
        nonzero = (array != 0).any(axis=2)  # (N, T)
        sides[modality], sequences[modality], disagree = [], [], []
        for i in range(n):
            length = None if lengths is None else int(lengths[i])
            real, side, mismatch = _strip(array[i], _detect_padding(nonzero[i]), length)
            sides[modality].append(side)
            sequences[modality].append(np.ascontiguousarray(real))
            if mismatch:
                disagree.append(ids[i])
        counts = Counter(sides[modality])
        notes.append(
            f"{split}: {modality} padding left {counts['left']}, right {counts['right']}, none {counts['none']}"
        )
        if disagree:
            notes.append(
                f"warning: {split}: {len(disagree)} {modality} clips have non-zero frames inside the padding that "
                f"their {key} implies (e.g. {disagree[:3]}); the given lengths were used"
            )
    examples = []
    for i in range(n):
        audio_side, vision_side = sides["audio"][i], sides["vision"][i]
        both = {audio_side, vision_side} - {"none"}
        meta: dict[str, Any] = {
            "speaker": ids[i].split(ID_SEPARATOR)[0],
            "padding": both.pop() if len(both) == 1 else ("none" if not both else "mixed"),
            "padding_audio": audio_side,
            "padding_vision": vision_side,
        }
        if annotations is not None:
            meta["annotation"] = annotations[i]
        examples.append(
            MultimodalExample(
                text=texts[i],
                audio=sequences["audio"][i],
                vision=sequences["vision"][i],
                label=float(labels[i]),
                id=ids[i],
                source=f"{path}:{split}#{i}",
                meta=meta,
            )
        )
    return examples, notes


def read_mmsa_pickle(
    path: str | Path, *, trust_pickle: bool = False
) -> tuple[dict[str, list[MultimodalExample]], list[str]]:
    """Read an MMSA feature pickle into {"train", "validation", "test"} examples, plus report lines.

    The report lines say what reading did (padding sides per split, -inf values set to 0, whether the file's
    SHA-256 is a published one); lines that start with "warning:" are worth a user's attention.
    """
    path = Path(path)
    if not trust_pickle:
        raise UntrustedPickleError(
            f"{path}: refusing to unpickle; loading a pickle runs code named in the file. If you trust where it "
            "came from, pass --trust-pickle (trust_pickle=True), and convert it once with convert_mmsa to the "
            "safe .npz format"
        )
    if not path.exists():
        raise FileNotFoundError(f"{path}: MMSA feature file not found")
    notes = _check_sum(path, file_sha256(path))
    try:
        data = _unpickle(path)
    except (pickle.UnpicklingError, EOFError, AttributeError, ModuleNotFoundError, ImportError) as error:
        raise MMSAFormatError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from None
    if not isinstance(data, Mapping):
        raise MMSAFormatError(f"{path}: holds a {type(data).__name__}; expected a dict with {list(SPLITS)}")
    missing = [k for k in SPLITS if k not in data]
    if missing:
        raise MMSAFormatError(f"{path}: lacks split(s) {missing}; an MMSA file has {list(SPLITS)}")
    splits: dict[str, list[MultimodalExample]] = {}
    for key, name in SPLITS.items():
        splits[name], split_notes = _read_split(path, key, data[key])
        notes.extend(split_notes)
    return splits, notes


def convert_mmsa(path: str | Path, out_dir: str | Path, *, trust_pickle: bool = False) -> dict[str, Path]:
    """Convert an MMSA pickle once to `out_dir/{train,valid,test}.npz` (+ sidecars); returns split -> path.

    The pickle's SHA-256 is recorded as each sidecar's `source`; when all three files already record the same
    sum, they are returned without unpickling again. The report lines of `read_mmsa_pickle` are written to
    `out_dir/conversion.json` beside them.
    """
    path, out_dir = Path(path), Path(out_dir)
    outputs = {split: out_dir / name for split, name in OUTPUT_FILES.items()}
    source = f"{path.name} sha256:{file_sha256(path)}"
    if all(_recorded_source(p) == source for p in outputs.values()):
        return outputs
    splits, notes = read_mmsa_pickle(path, trust_pickle=trust_pickle)
    for split, target in outputs.items():
        save_examples(splits[split], target, source=source)
    report = {"source": source, "counts": {k: len(v) for k, v in splits.items()}, "report": notes}
    (out_dir / "conversion.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return outputs


def _recorded_source(path: Path) -> str | None:
    side = sidecar_path(path)
    if not (path.exists() and side.exists()):
        return None
    try:
        return json.loads(side.read_text(encoding="utf-8")).get("source")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
