"""The safe on-disk format for multimodal examples: one `NAME.npz` of arrays plus a `NAME.json` sidecar.

Why: MMSA ships features as pickles, and unpickling runs code from the file. This format holds only plain
numeric arrays (read with `np.load(allow_pickle=False)`) and JSON, so opening a file cannot run anything, and
every array is checked against a SHA-256 recorded when it was written.

Layout for N clips (all sequences hold real frames only; nothing is padded):

`NAME.npz` (written with `np.savez`, uncompressed):

| key | shape, dtype | meaning |
|---|---|---|
| `audio` | (sum of T_a, D_a) float32 | every clip's audio frames, one clip after another |
| `audio_offsets` | (N+1,) int64 | clip i is `audio[audio_offsets[i]:audio_offsets[i+1]]`; 0 first, len(audio) last |
| `vision` | (sum of T_v, D_v) float32 | likewise for vision |
| `vision_offsets` | (N+1,) int64 | likewise |
| `labels` | (N,) float64 | the sentiment value; NaN means "no label" |
| `part__<name>` | (sum of T, D) float32 | optional named components (SynMOSI's signal and nuisance parts) |
| `part__<name>__offsets` | (N+1,) int64 | the offsets of that part |

`NAME.json` (same stem):

```json
{"format": "sentimentkit-multimodal", "version": 1, "n": N, "dims": [D_a, D_v],
 "ids": [...N strings or null...], "texts": [...N transcripts...], "meta": [...N JSON objects...],
 "source": "where the data came from, or null",
 "sha256": {"audio": "<hex of the array's bytes>", "audio_offsets": "...", ...one entry per array key...}}
```

A clip with no frames of a modality has equal consecutive offsets, and loads as a (0, D) array. The SHA-256 of
an array is taken over its C-ordered bytes (`hashlib.sha256(array.tobytes())`).

On load every rule above is checked; a file that breaks one raises `MultimodalFormatError` naming the file, the
key or the clip id, and what was expected. `load_split(folder, "validation")` reads `valid.npz` or
`validation.npz` from a folder that holds `train.npz`, `valid.npz` and `test.npz`.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..types import MultimodalExample
from .example import check_dims

FORMAT = "sentimentkit-multimodal"
VERSION = 1
PART_PREFIX = "part__"
OFFSETS_SUFFIX = "__offsets"
SPLIT_FILES = {"train": ("train.npz",), "validation": ("valid.npz", "validation.npz"), "test": ("test.npz",)}
_SIDECAR_KEYS = ("format", "version", "n", "dims", "ids", "texts", "meta", "source", "sha256")

__all__ = ["MultimodalFormatError", "load_examples", "load_split", "save_examples", "sidecar_path"]


class MultimodalFormatError(ValueError):
    """A multimodal .npz/.json pair does not follow the format; the message says where and what was expected."""


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar that belongs to an .npz file (same folder, same stem)."""
    return Path(path).with_suffix(".json")


def _offsets_key(key: str) -> str:
    """`audio` -> `audio_offsets`; `part__x` -> `part__x__offsets`."""
    return key + (OFFSETS_SUFFIX if key.startswith(PART_PREFIX) else "_offsets")


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _stack(sequences: Sequence[np.ndarray], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate (T_i, D) arrays into (sum T_i, D) float32 and their (N+1,) int64 offsets."""
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in sequences])
    if not sequences or offsets[-1] == 0:
        return np.zeros((0, width), dtype=np.float32), offsets
    return np.concatenate([np.asarray(s, dtype=np.float32) for s in sequences], axis=0), offsets


def save_examples(examples: Sequence[MultimodalExample], path: str | Path, *, source: str | None = None) -> Path:
    """Write `examples` to `path` (.npz) and its `.json` sidecar; returns the .npz path.

    Every example must have the same (D_a, D_v) and the same part names. `source` (e.g. the SHA-256 of the
    pickle the examples were converted from) is kept in the sidecar so a later conversion can tell whether
    the files are up to date.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: a multimodal data file must end in .npz")
    if not examples:
        raise ValueError(f"{path}: no examples to write; the format needs at least one clip")
    d_a, d_v = check_dims(examples, str(path))
    part_names = sorted(examples[0].parts)
    for x in examples:
        if sorted(x.parts) != part_names:
            raise ValueError(
                f"{path}: {x.source or x.id} has parts {sorted(x.parts)}, the first example {part_names}; "
                "every clip of a file must carry the same parts"
            )
    arrays: dict[str, np.ndarray] = {}
    arrays["audio"], arrays["audio_offsets"] = _stack([x.audio for x in examples], d_a)
    arrays["vision"], arrays["vision_offsets"] = _stack([x.vision for x in examples], d_v)
    arrays["labels"] = np.array([np.nan if x.label is None else x.label for x in examples], dtype=np.float64)
    for name in part_names:
        values = [np.asarray(x.parts[name]) for x in examples]
        width = values[0].shape[-1]
        for x, value in zip(examples, values, strict=True):
            if value.ndim != 2 or value.shape[1] != width:
                where = x.source or x.id
                raise ValueError(f"{path}: part {name!r} of {where} has shape {value.shape}; expected (T, {width})")
        key = PART_PREFIX + name
        arrays[key], arrays[_offsets_key(key)] = _stack(values, width)
    sidecar = {
        "format": FORMAT,
        "version": VERSION,
        "n": len(examples),
        "dims": [d_a, d_v],
        "ids": [x.id for x in examples],
        "texts": [x.text for x in examples],
        "meta": [dict(x.meta) for x in examples],
        "source": source,
        "sha256": {key: _sha256(value) for key, value in arrays.items()},
    }
    try:
        text = json.dumps(sidecar, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: example meta must be JSON-ready (str, number, bool, list, dict): {error}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    sidecar_path(path).write_text(text + "\n", encoding="utf-8")
    return path


def _read_sidecar(path: Path) -> dict[str, Any]:
    side = sidecar_path(path)
    if not side.exists():
        raise MultimodalFormatError(f"{path}: its sidecar {side.name} is missing; both files are written together")
    try:
        sidecar = json.loads(side.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MultimodalFormatError(f"{side}: not valid JSON ({error})") from None
    if not isinstance(sidecar, dict):
        raise MultimodalFormatError(f"{side}: expected a JSON object with keys {list(_SIDECAR_KEYS)}")
    missing = [k for k in _SIDECAR_KEYS if k not in sidecar]
    if missing:
        raise MultimodalFormatError(f"{side}: missing key(s) {missing}; expected {list(_SIDECAR_KEYS)}")
    if sidecar["format"] != FORMAT or sidecar["version"] != VERSION:
        raise MultimodalFormatError(
            f"{side}: format {sidecar['format']!r} version {sidecar['version']!r}; "
            f"expected {FORMAT!r} version {VERSION}"
        )
    n = sidecar["n"]
    if not isinstance(n, int) or n < 1:
        raise MultimodalFormatError(f"{side}: key 'n' is {n!r}; expected a positive clip count")
    for key in ("ids", "texts", "meta"):
        if not isinstance(sidecar[key], list) or len(sidecar[key]) != n:
            got = len(sidecar[key]) if isinstance(sidecar[key], list) else type(sidecar[key]).__name__
            raise MultimodalFormatError(f"{side}: key {key!r} has {got} entries; expected a list of n = {n}")
    dims = sidecar["dims"]
    if not (isinstance(dims, list) and len(dims) == 2 and all(isinstance(d, int) and d >= 0 for d in dims)):
        raise MultimodalFormatError(f"{side}: key 'dims' is {dims!r}; expected [D_a, D_v]")
    if not isinstance(sidecar["sha256"], dict):
        raise MultimodalFormatError(f"{side}: key 'sha256' must map each array key to a hex digest")
    return sidecar


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise MultimodalFormatError(f"{path}: file not found") from None
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        # allow_pickle=False refuses object arrays with a ValueError: such a file is not in this format
        raise MultimodalFormatError(f"{path}: not a readable array file of plain numbers ({error})") from None


def _check_offsets(path: Path, key: str, offsets: np.ndarray, n: int, length: int) -> None:
    if offsets.ndim != 1 or offsets.dtype != np.int64:
        raise MultimodalFormatError(f"{path}: {key} is {offsets.ndim}-D {offsets.dtype}; expected (N+1,) int64")
    if len(offsets) != n + 1:
        raise MultimodalFormatError(f"{path}: {key} has {len(offsets)} entries; expected n + 1 = {n + 1}")
    if offsets[0] != 0 or offsets[-1] != length:
        raise MultimodalFormatError(
            f"{path}: {key} runs from {offsets[0]} to {offsets[-1]}; expected 0 to {length} (the array's length)"
        )
    steps = np.diff(offsets)
    if (steps < 0).any():
        raise MultimodalFormatError(
            f"{path}: {key} decreases at entry {int(np.argmax(steps < 0)) + 1}; offsets must not"
        )


def _check_sequences(path: Path, key: str, values: np.ndarray, offsets: np.ndarray, ids: list[Any]) -> None:
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        frame = int(np.argmin(finite))
        clip = int(np.searchsorted(offsets, frame, side="right")) - 1
        raise MultimodalFormatError(
            f"{path}: {key} has NaN or infinite values in clip {clip} (id {ids[clip]!r}, frame {frame - offsets[clip]})"
        )


def load_examples(path: str | Path) -> list[MultimodalExample]:
    """Read a .npz file and its sidecar, check every rule of the format, and return the examples.

    Each example's `source` is "<path>#<index>" so that errors downstream can point back to the clip.
    """
    path = Path(path)
    sidecar = _read_sidecar(path)
    arrays = _read_arrays(path)
    n, ids, (d_a, d_v) = sidecar["n"], sidecar["ids"], sidecar["dims"]
    parts = sorted(
        k[len(PART_PREFIX) :] for k in arrays if k.startswith(PART_PREFIX) and not k.endswith(OFFSETS_SUFFIX)
    )
    sequence_keys = ["audio", "vision", *(PART_PREFIX + name for name in parts)]
    expected = ["labels", *sequence_keys, *map(_offsets_key, sequence_keys)]
    for key in expected:
        if key not in arrays:
            raise MultimodalFormatError(f"{path}: array key {key!r} is missing")
    unknown = sorted(set(arrays) - set(expected))
    if unknown:
        raise MultimodalFormatError(f"{path}: unexpected array key(s) {unknown}; see the format in {__name__}")
    for key in expected:
        recorded = sidecar["sha256"].get(key)
        if recorded is None:
            raise MultimodalFormatError(f"{sidecar_path(path)}: no sha256 recorded for array key {key!r}")
        if recorded != _sha256(arrays[key]):
            raise MultimodalFormatError(
                f"{path}: array {key!r} does not match the sha256 in {sidecar_path(path).name}; "
                "the file changed after it was written"
            )
    labels = arrays["labels"]
    if labels.shape != (n,) or labels.dtype != np.float64:
        raise MultimodalFormatError(
            f"{path}: labels has shape {labels.shape} dtype {labels.dtype}; expected ({n},) float64"
        )
    if np.isinf(labels).any():
        clip = int(np.argmax(np.isinf(labels)))
        raise MultimodalFormatError(
            f"{path}: labels is infinite for clip {clip} (id {ids[clip]!r}); NaN marks no label"
        )
    offsets = {}
    for key in sequence_keys:
        offsets_key = _offsets_key(key)
        if arrays[key].ndim != 2 or arrays[key].dtype != np.float32:
            raise MultimodalFormatError(
                f"{path}: {key} has shape {arrays[key].shape} dtype {arrays[key].dtype}; "
                "expected (frames, features) float32"
            )
        _check_offsets(path, offsets_key, arrays[offsets_key], n, len(arrays[key]))
        _check_sequences(path, key, arrays[key], arrays[offsets_key], ids)
        offsets[key] = arrays[offsets_key]
    for key, width in (("audio", d_a), ("vision", d_v)):
        if arrays[key].shape[1] != width:
            raise MultimodalFormatError(
                f"{path}: {key} has {arrays[key].shape[1]} features per frame; the sidecar's dims say {width}"
            )

    def clip(key: str, i: int) -> np.ndarray:
        return arrays[key][offsets[key][i] : offsets[key][i + 1]]

    examples = []
    for i in range(n):
        label = float(labels[i])
        examples.append(
            MultimodalExample(
                text=sidecar["texts"][i],
                audio=clip("audio", i),
                vision=clip("vision", i),
                label=None if math.isnan(label) else label,
                id=ids[i],
                source=f"{path}#{i}",
                meta=sidecar["meta"][i],
                parts={name: clip(PART_PREFIX + name, i) for name in parts},
            )
        )
    return examples


def load_split(directory: str | Path, split: str) -> list[MultimodalExample]:
    """The examples of `split` ("train", "validation" or "test") from a folder of converted files."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split {split!r}: expected one of {list(SPLIT_FILES)}")
    directory = Path(directory)
    for name in SPLIT_FILES[split]:
        if (directory / name).exists():
            return load_examples(directory / name)
    raise FileNotFoundError(f"{directory}: no {' or '.join(SPLIT_FILES[split])} for split {split!r}")
