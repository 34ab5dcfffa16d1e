"""Text benchmarks: TweetEval, IMDb and the CMU-MOSI labels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ...labels import BINARY
from ...types import ClipLabel, TextExample
from .base import ReaderError, _csv_records, open_text

# --- TweetEval -------------------------------------------------------------------------------------


def read_tweeteval(
    text_path: str | Path, labels_path: str | Path, mapping_path: str | Path | None = None
) -> Iterator[TextExample]:
    """Read a TweetEval split: `{split}_text.txt` and `{split}_labels.txt`, aligned line by line.

    Labels are named through `mapping.txt` ("0\\tanger" per line); without it the label ids are kept as
    strings. Tweets keep their text; only trailing whitespace is removed.
    """
    mapping = _read_label_mapping(mapping_path) if mapping_path is not None else None
    with open_text(text_path) as f:
        texts = [line.rstrip() for line in f]
    with open_text(labels_path) as f:
        labels = [line.strip() for line in f]
    if len(texts) != len(labels):
        raise ReaderError(
            text_path, None, f"{len(texts)} tweets but {labels_path} has {len(labels)} labels; they must align"
        )
    for lineno, (text, label) in enumerate(zip(texts, labels, strict=True), 1):
        if not text:
            raise ReaderError(text_path, lineno, "empty tweet; each line must hold the tweet for that label line")
        if mapping is not None and label not in mapping:
            raise ReaderError(labels_path, lineno, f"label {label!r} is not in {mapping_path} ({sorted(mapping)})")
        if mapping is None and not label.isdecimal():
            raise ReaderError(labels_path, lineno, f"label {label!r}; expected an integer label id")
        name = mapping[label] if mapping is not None else label
        yield TextExample(text=text, label=name, id=str(lineno), source=f"{text_path}:{lineno}")


def _read_label_mapping(path: str | Path) -> dict[str, str]:
    """Read `id<TAB>name` lines into {id: name}."""
    mapping: dict[str, str] = {}
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split(maxsplit=1)
            if len(fields) != 2 or not fields[0].isdecimal():
                raise ReaderError(path, lineno, f"{line.strip()!r}; expected 'id<TAB>name' such as '0\\tanger'")
            if fields[0] in mapping:
                raise ReaderError(path, lineno, f"label id {fields[0]} is listed twice")
            mapping[fields[0]] = fields[1].strip()
    return mapping


# --- IMDb and CMU-MOSI (CSV) -----------------------------------------------------------------------


def read_imdb_csv(path: str | Path) -> Iterator[TextExample]:
    """Read an IMDb split CSV (`id,label,...,text`, label 0 = negative, 1 = positive; other columns ignored).

    A file without a `label` column (`unsup.csv.xz`: `id,text`) gives unlabelled examples (label None).
    """
    for line, row in _csv_records(path, ("id", "text")):
        label = row.get("label")
        if label is not None and label not in ("0", "1"):
            raise ReaderError(path, line, f"label {label!r}; expected 0 (negative) or 1 (positive)")
        if not row["text"].strip():
            raise ReaderError(path, line, f"review {row['id']!r} has an empty text")
        yield TextExample(
            text=row["text"],
            label=BINARY.name(int(label)) if label is not None else None,
            id=row["id"],
            source=f"{path}:{line}",
        )


_MOSI_MODES = ("train", "valid", "test")


def read_mosi_labels(path: str | Path) -> Iterator[ClipLabel]:
    """Read an MMSA `label.csv` (CMU-MOSI): one clip per row, sentiment score in [-3, 3], split from `mode`."""
    for line, row in _csv_records(path, ("video_id", "clip_id", "text", "label", "annotation", "mode")):
        if row["mode"] not in _MOSI_MODES:
            raise ReaderError(path, line, f"mode {row['mode']!r}; expected one of {_MOSI_MODES}")
        try:
            score = float(row["label"])
        except ValueError:
            raise ReaderError(path, line, f"label {row['label']!r} is not a number") from None
        if not -3.0 <= score <= 3.0:
            raise ReaderError(path, line, f"label {score} is outside [-3, 3]")
        yield ClipLabel(
            id=f"{row['video_id']}_{row['clip_id']}",
            text=row["text"],
            score=score,
            annotation=row["annotation"] or None,
            split=row["mode"],
            source=f"{path}:{line}",
        )
