"""What every reader shares: `ReaderError`, `open_text` (UTF-8, transparent decompression) and the record
helpers for CSV and JSON Lines files."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class ReaderError(ValueError):
    """A source file does not match its format. The message says where and what was expected."""

    def __init__(self, path: str | Path, line: int | str | None, message: str) -> None:
        # `line` is a line number, or a record name ("record 3", "sentence 812") where a format has no lines.
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


def open_text(path: str | Path, newline: str | None = None, errors: str = "strict") -> IO[str]:
    """Open a UTF-8 text file for reading, decompressing `.xz`, `.gz` and `.bz2` on the fly.

    A leading byte-order mark is dropped (spreadsheets write one). `newline` and `errors` go to the text
    layer (`newline=""` for the csv module). Bytes that are not UTF-8 raise a ReaderError at their line.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    return _Utf8Text(open_binary(path), path, newline=newline, errors=errors)


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing `.xz`, `.gz` and `.bz2` on the fly."""
    suffix = path.suffix.lower()
    if suffix == ".xz":
        return lzma.open(path, "rb")
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    return open(path, "rb")


class _Utf8Text(io.TextIOWrapper):
    """A UTF-8 text stream that turns a decoding error into a ReaderError naming the file and line."""

    def __init__(self, binary: IO[bytes], path: Path, newline: str | None, errors: str) -> None:
        super().__init__(binary, encoding="utf-8-sig", newline=newline, errors=errors)
        self._path = path

    def __next__(self) -> str:
        try:
            return super().__next__()
        except UnicodeDecodeError as e:
            raise _not_utf8(self._path, e) from None

    def read(self, size: int | None = -1) -> str:
        try:
            return super().read(size)
        except UnicodeDecodeError as e:
            raise _not_utf8(self._path, e) from None

    def readline(self, size: int | None = -1) -> str:
        try:
            return super().readline(size)
        except UnicodeDecodeError as e:
            raise _not_utf8(self._path, e) from None


def _not_utf8(path: Path, error: UnicodeDecodeError) -> ReaderError:
    """Find the first line that is not UTF-8 (the text layer decodes in chunks, so it cannot tell)."""
    bad = error.object[error.start : error.start + 1]
    with open_binary(path) as f:
        for lineno, line in enumerate(f, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                bad = line[e.start : e.start + 1]
                return ReaderError(path, lineno, f"byte {bad!r} is not UTF-8; save the file as UTF-8")
    return ReaderError(path, None, f"byte {bad!r} is not UTF-8; save the file as UTF-8")


# --- records of CSV and JSON Lines files -----------------------------------------------------------


def _csv_records(path: str | Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line, row) per CSV record after checking the header and each record's number of fields.

    Quoted fields may hold newlines, so `line` is the csv reader's `line_num`: the line where the record ends.
    """
    with open_text(path, newline="") as f:
        rows = csv.reader(f, strict=True)
        try:
            header = next(rows, [])
            missing = [column for column in required if column not in header]
            if missing:
                raise ReaderError(path, 1, f"no column {', '.join(missing)}; the header has {header}")
            for values in rows:
                if not values:
                    continue  # a blank line
                if len(values) != len(header):
                    raise ReaderError(path, rows.line_num, f"{len(values)} fields; the header has {len(header)}")
                yield rows.line_num, dict(zip(header, values, strict=True))
        except csv.Error as e:
            raise ReaderError(path, rows.line_num, f"invalid CSV: {e}") from None


def _jsonl_records(path: str | Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield (line, object) per non-blank line of a JSON Lines file, each an object with the `required` fields."""
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ReaderError(path, lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
            if not isinstance(record, dict):
                raise ReaderError(path, lineno, f"expected a JSON object, found {type(record).__name__}")
            missing = [field for field in required if field not in record]
            if missing:
                fields = ", ".join(repr(field) for field in missing)
                raise ReaderError(path, lineno, f"no field {fields}; this object has {sorted(record)}")
            yield lineno, record
