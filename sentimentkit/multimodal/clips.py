"""A folder of the user's own clips in MMSA layout, read as MultimodalExamples (features extracted and cached).

Layout (as MMSA's raw datasets):

    FOLDER/label.csv                          video_id, clip_id, text, label, annotation, mode
    FOLDER/Raw/<video_id>/<clip_id>.mp4       or .wav (also FOLDER/<video_id>/<clip_id>.*)
    FOLDER/OpenFace/<video_id>/<clip_id>.csv  optional: OpenFace 2 features of the clip (else no vision)
    FOLDER/extraction.json                    optional: {"landmarks": true} for face-landmark vision

Each clip gets `extract_clip` features (audio33; OpenFace vision when its CSV exists). With landmarks (the
`landmarks` argument, else extraction.json, else off) vision is instead the 20 face-landmark features of each
clip's own frames (`landmarks.py`; OpenFace CSVs are then not read). Features of a split are cached in
`FOLDER/features/<split>.npz` (the safe format of `multimodal/npz.py`); the cache records a fingerprint of
label.csv, each clip and CSV file read (size and modification time) and the extractor version (which differs
between OpenFace and landmark vision), and is rebuilt when any of them changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from ..data.readers.base import ReaderError, _csv_records
from ..data.readers.text import read_mosi_labels
from ..types import ClipLabel, MultimodalExample

log = logging.getLogger(__name__)

LABEL_FILE = "label.csv"
SETTINGS_FILE = "extraction.json"
CLIP_SUFFIXES = (".mp4", ".wav", ".mov", ".mkv", ".webm", ".avi", ".m4a", ".mp3", ".flac")
EXTRACTOR_VERSION = "audio33-v1+openface2-v1"
LANDMARKS_EXTRACTOR_VERSION = "audio33-v1+mediapipe-0.10.21-landmark20-v1"
_SPLITS = {"train": "train", "valid": "valid", "validation": "valid", "test": "test"}
_COLUMNS = ("video_id", "clip_id", "text", "label", "annotation", "mode")


def find_clip(directory: Path, video_id: str, clip_id: str) -> Path | None:
    """The media file of a clip: Raw/<video_id>/<clip_id>.<ext> first, then <video_id>/<clip_id>.<ext>."""
    for parent in (directory / "Raw" / video_id, directory / video_id):
        for suffix in CLIP_SUFFIXES:
            candidate = parent / f"{clip_id}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def is_clip_folder(path: str | Path) -> bool:
    """Whether `path` is a folder of clips: it holds label.csv and the media file of its first row exists."""
    path = Path(path)
    if not (path / LABEL_FILE).is_file():
        return False
    try:
        first = next(_csv_records(path / LABEL_FILE, _COLUMNS), None)
    except (ReaderError, OSError):
        return False
    return first is not None and find_clip(path, first[1]["video_id"], first[1]["clip_id"]) is not None


def wants_landmarks(directory: Path) -> bool:
    """The folder's `extraction.json` switch {"landmarks": true|false}; False without the file. Other keys or
    values are errors naming the file."""
    path = directory / SETTINGS_FILE
    if not path.is_file():
        return False
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(settings, dict) or set(settings) - {"landmarks"}:
        raise ValueError(f'{path}: expected an object with one key, "landmarks" (true or false); got {settings!r}')
    value = settings.get("landmarks", False)
    if not isinstance(value, bool):
        raise ValueError(f'{path}: "landmarks" must be true or false, got {value!r}')
    return value


def _rows(
    directory: Path, mode: str, landmarks: bool
) -> list[tuple[str, dict[str, str], Path, Path | None, ClipLabel]]:
    """(where, raw row, clip file, OpenFace CSV or None, ClipLabel) for each label.csv row of `mode`; the CSV is
    None with `landmarks`, whose vision comes from the clip's frames."""
    label_file = directory / LABEL_FILE
    out = []
    records = _csv_records(label_file, _COLUMNS)
    for label, (line, row) in zip(read_mosi_labels(label_file), records, strict=True):
        if label.split != mode:
            continue
        where = f"{label_file}:{line}"
        clip = find_clip(directory, row["video_id"], row["clip_id"])
        if clip is None:
            raise FileNotFoundError(
                f"{where}: no media file for video {row['video_id']!r} clip {row['clip_id']!r}; expected "
                f"Raw/{row['video_id']}/{row['clip_id']}.mp4 (or .wav, or {row['video_id']}/{row['clip_id']}.*)"
            )
        openface = directory / "OpenFace" / row["video_id"] / f"{row['clip_id']}.csv"
        out.append((where, row, clip, openface if openface.is_file() and not landmarks else None, label))
    return out


def _fingerprint(directory: Path, rows: list, version: str) -> str:
    """SHA-256 over label.csv, each clip's and CSV's relative path, size and mtime, and the extractor version."""
    digest = hashlib.sha256(version.encode())
    digest.update((directory / LABEL_FILE).read_bytes())
    for _, _, clip, openface, _ in rows:
        for file in (clip, openface):
            if file is not None:
                stat = file.stat()
                digest.update(f"{file.relative_to(directory)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return f"clip-folder sha256:{digest.hexdigest()}"


def _cached_source(path: Path) -> str | None:
    from .npz import sidecar_path

    try:
        return json.loads(sidecar_path(path).read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError):
        return None


def read_clip_folder(
    directory: str | Path, split: str, *, cache: bool = True, landmarks: bool | None = None
) -> list[MultimodalExample]:
    """The clips of `split` ("train", "valid"/"validation" or "test": label.csv's `mode`) of a clip folder, with
    features extracted by `extract_clip`, in label.csv order. `landmarks`: vision from face landmarks instead of
    OpenFace CSVs (None: as the folder's extraction.json says, off without one). With `cache`, features are read
    from (and written to) `features/<split>.npz` while the fingerprint of the inputs is unchanged. Labels must
    lie in [-3, 3]."""
    from .features import FeatureError, extract_clip
    from .npz import load_examples, save_examples

    directory = Path(directory)
    if split not in _SPLITS:
        raise ValueError(f"split {split!r}; expected one of {', '.join(_SPLITS)}")
    mode = _SPLITS[split]
    if not (directory / LABEL_FILE).is_file():
        raise FileNotFoundError(f"{directory}: no {LABEL_FILE}; a clip folder needs one (MMSA layout)")
    if landmarks is None:
        landmarks = wants_landmarks(directory)
    rows = _rows(directory, mode, landmarks)
    if not rows:
        raise ValueError(f"{directory / LABEL_FILE}: no rows with mode {mode!r}")
    cache_path = directory / "features" / f"{mode}.npz"
    fingerprint = _fingerprint(directory, rows, LANDMARKS_EXTRACTOR_VERSION if landmarks else EXTRACTOR_VERSION)
    if cache and cache_path.is_file() and _cached_source(cache_path) == fingerprint:
        return load_examples(cache_path)
    if landmarks:
        from .landmarks import landmarks_python

        landmarks_python()  # a missing landmark interpreter is reported once, not as the first clip's error
    examples = []
    for where, row, clip, openface, label in rows:
        try:
            example = extract_clip(
                clip, row["text"], openface=openface, landmarks=landmarks, clip_id=label.id, label=label.score
            )
        except FileNotFoundError as error:
            raise FileNotFoundError(f"{where}: clip {clip.relative_to(directory)}: {error}") from error
        except ValueError as error:
            raise FeatureError(f"{where}: clip {clip.relative_to(directory)}: {error}") from error
        meta = dict(example.meta) | {"video_id": row["video_id"], "clip_id": row["clip_id"]}
        if label.annotation:
            meta["annotation"] = label.annotation
        examples.append(
            MultimodalExample(
                text=example.text,
                audio=example.audio,
                vision=example.vision,
                label=example.label,
                id=example.id,
                source=where,
                meta=meta,
            )
        )
    if cache:
        save_examples(examples, cache_path, source=fingerprint)
        log.info("cached the features of %d %s clips in %s", len(examples), mode, cache_path)
    return examples
