"""The user's own files: texts to analyse (one per line, a CSV column, a JSON Lines field) and labelled
examples to train on (CSV or JSON Lines). The CSV and JSON Lines readers share one path, `_user_examples`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ...types import TextExample
from .base import ReaderError, _csv_records, _jsonl_records, open_text

# (path, required fields) -> (line, record) for each record of the file
_Records = Callable[[str | Path, tuple[str, ...]], Iterator[tuple[int, dict]]]

_FORMATS: dict[str, _Records] = {".csv": _csv_records, ".jsonl": _jsonl_records}
_COMPRESSIONS = (".xz", ".gz", ".bz2")


def read_text_lines(path: str | Path) -> Iterator[TextExample]:
    """Read one text per line (plain CLI input). Blank lines are not texts; `id` is the line number."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield TextExample(text=line.strip(), id=str(lineno), source=f"{path}:{lineno}")


def read_texts_csv(path: str | Path, column: str) -> Iterator[TextExample]:
    """Read the texts in `column` of a CSV file (CLI input), one per record; `id` is the record's line."""
    yield from _user_examples(path, _csv_records, column, None)


def read_texts_jsonl(path: str | Path, field: str) -> Iterator[TextExample]:
    """Read the string `field` of each JSON object in a JSON Lines file (CLI input); `id` is the line number."""
    yield from _user_examples(path, _jsonl_records, field, None)


def read_labelled_file(path: str | Path, text_field: str = "text", label_field: str = "label") -> Iterator[TextExample]:
    """Read labelled examples from the user's `.csv` or `.jsonl` file (optionally `.xz`, `.gz`, `.bz2`).

    The format comes from the suffix: a CSV file needs the columns `text_field` and `label_field`, a JSON
    Lines file an object with both fields on each line. The text must be a string; the label may be a string
    or a number (JSON `1` and CSV `1` both give "1") and must not be empty. `id` is the record's line.
    An unknown suffix raises ReaderError at once; a bad record raises it, naming the line, when reached.
    """
    name = Path(path).name.lower()
    name = next((name.removesuffix(c) for c in _COMPRESSIONS if name.endswith(c)), name)  # as `open_text` does
    records = _FORMATS.get(Path(name).suffix)
    if records is None:
        compressions = ", ".join(_COMPRESSIONS)
        raise ReaderError(
            path, None, f"unknown format; expected .csv or .jsonl (optionally compressed: {compressions})"
        )
    return _user_examples(path, records, text_field, label_field)


def _user_examples(
    path: str | Path, records: _Records, text_field: str, label_field: str | None
) -> Iterator[TextExample]:
    """One TextExample per record: the string `text_field`, and the label from `label_field` when given."""
    required = (text_field,) if label_field is None else (text_field, label_field)
    for line, record in records(path, required):
        text = record[text_field]
        if not isinstance(text, str):
            raise ReaderError(path, line, f"field {text_field!r} is {type(text).__name__}; expected a string")
        label = None if label_field is None else _label(record[label_field], label_field, path, line)
        if label is not None and not text.strip():
            raise ReaderError(path, line, f"empty text in field {text_field!r}; a training example needs one")
        yield TextExample(text=text, label=label, id=str(line), source=f"{path}:{line}")


def _label(value: object, field: str, path: str | Path, line: int) -> str:
    """A label as a string: JSON strings and numbers are accepted; null, lists and objects are not."""
    if isinstance(value, (list, dict)):
        raise ReaderError(path, line, f"field {field!r} is {type(value).__name__}; expected a string or a number")
    label = "" if value is None else str(value)
    if not label.strip():
        raise ReaderError(path, line, f"empty label in field {field!r}; every example needs one")
    return label.strip()
