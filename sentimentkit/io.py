"""Inputs and outputs that lose nothing: read texts (arguments, stdin, .txt/.csv/.jsonl) and write predictions
(.csv, .jsonl, or JSON lines on stdout). Shared by the CLI and, later, the service, monitor and batch scorer.

Every input record gets exactly one output row, in input order, with an id: the record's id column when one
is named (`id_column`), else its line (or record) number. A blank text or a line that is not UTF-8 is not
dropped: it gets a row whose `error` says so, and the rest is scored. A record may carry other columns to
the output (`keep`). The output is checked before any work (format, folder) and written as results arrive.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from .data.readers.base import ReaderError, open_binary, open_text
from .labels import LabelSet
from .types import Prediction, TextExample

INPUT_FORMATS = (".txt", ".csv", ".jsonl", ".ndjson")
OUTPUT_FORMATS = (".csv", ".jsonl")
COMPRESSIONS = (".xz", ".gz", ".bz2")
STDIN = "<stdin>"


class InputError(ValueError):
    """An input source or option is unusable (unknown format, missing column); the message says what and where."""


class OutputError(ValueError):
    """An output path is unusable (unknown format, missing folder, not writable); raised before any work."""


@dataclass(frozen=True)
class InputRecord:
    """One input: its id, text, kept columns, where it came from ("file:line"), and why it cannot be scored."""

    id: str
    text: str
    source: str
    fields: tuple[tuple[str, Any], ...] = ()
    error: str | None = None

    def example(self) -> TextExample:
        return TextExample(text=self.text, id=self.id, source=self.source, fields=self.fields)

    def failed(self) -> Prediction:
        """The row of an input that could not be read."""
        return Prediction(text=self.text, id=self.id, error=self.error, fields=self.fields)


def read_inputs(
    texts: Sequence[str] = (),
    file: str | Path | None = None,
    column: str = "text",
    id_column: str | None = None,
    keep: Sequence[str] = (),
    stdin: BinaryIO | None = None,
) -> Iterator[InputRecord]:
    """Input records from command-line texts, stdin (`texts == ["-"]`), or a .txt/.csv/.jsonl file (optionally
    .xz/.gz/.bz2). `column` names the text column (CSV) or field (JSON Lines); `id_column` the id; `keep` the
    other columns to carry to the output. A file's format and columns are checked when this is called."""
    if file is not None and texts:
        raise InputError("give texts as arguments or a file, not both")
    if file is None:
        if list(texts) == ["-"]:
            return _lines(stdin if stdin is not None else sys.stdin.buffer, STDIN)
        if not texts:
            raise InputError('nothing to analyze: give a text, "-" for stdin, or a file')
        if (id_column or keep) and texts:
            raise InputError("id and kept columns come from a .csv or .jsonl file, not from texts on the command line")
        return iter([InputRecord(str(i), text, f"argument {i}") for i, text in enumerate(texts, 1)])
    path = Path(file)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    kind = input_format(path)
    if kind == ".txt":
        if id_column or keep:
            raise InputError(f"{path}: a .txt file has one text per line and no columns; use .csv or .jsonl")
        return _lines(open_binary(path), str(path), close=True)
    if kind == ".csv":
        return _csv_inputs(path, column, id_column, tuple(keep))
    return _jsonl_inputs(path, column, id_column, tuple(keep))


def input_format(path: Path) -> str:
    """The format of an input file from its name: .txt, .csv or .jsonl (compression suffixes looked through)."""
    name = path.name.lower()
    name = next((name.removesuffix(c) for c in COMPRESSIONS if name.endswith(c)), name)
    suffix = Path(name).suffix
    if suffix not in INPUT_FORMATS:
        raise InputError(f"{path}: unknown input format; expected .csv, .jsonl or .txt (optionally .xz/.gz/.bz2)")
    return ".jsonl" if suffix == ".ndjson" else suffix


def _decode(raw: bytes, lineno: int, where: str) -> str | InputRecord:
    """A line's text, or the error row of a line that is not UTF-8 (a byte-order mark on line 1 is dropped)."""
    try:
        return raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as err:
        bad = raw[err.start : err.start + 1]
        return InputRecord(str(lineno), "", where, error=f"{where}: byte {bad!r} is not UTF-8")


def _lines(stream: BinaryIO, name: str, close: bool = False) -> Iterator[InputRecord]:
    """One record per line, decoded line by line: a line that is not UTF-8 becomes an error row, not a crash."""
    try:
        for lineno, raw in enumerate(stream, 1):
            where = f"{name}:{lineno}"
            text = _decode(raw, lineno, where)
            yield text if isinstance(text, InputRecord) else InputRecord(str(lineno), text.strip(), where)
    finally:
        if close:
            stream.close()


def _record(
    path: Path, line: int, record: dict[str, Any], column: str, id_column: str | None, keep: tuple[str, ...]
) -> InputRecord:
    where = f"{path}:{line}"
    fields = tuple((k, record.get(k)) for k in keep)
    record_id = str(line)
    if id_column is not None:
        value = record.get(id_column)
        if value is None or not str(value).strip():
            return InputRecord(record_id, "", where, fields, f"{where}: empty id in {id_column!r}")
        record_id = str(value)
    text = record.get(column)
    if not isinstance(text, str):
        kind = "missing" if column not in record else type(text).__name__
        return InputRecord(record_id, "", where, fields, f"{where}: field {column!r} is {kind}; expected a string")
    return InputRecord(record_id, text, where, fields)


def _check_columns(path: Path, have: Iterable[str], column: str, id_column: str | None, keep: tuple[str, ...]) -> None:
    have = list(have)
    missing = [c for c in (column, id_column, *keep) if c is not None and c not in have]
    if missing:
        raise InputError(f"{path}:1: no column {', '.join(map(repr, missing))}; the header has {have}")


def _csv_inputs(path: Path, column: str, id_column: str | None, keep: tuple[str, ...]) -> Iterator[InputRecord]:
    f = open_text(path, newline="")
    rows = csv.reader(f)
    try:
        header = next(rows, [])
    except csv.Error as err:
        f.close()
        raise InputError(f"{path}:1: invalid CSV header: {err}") from None
    except ReaderError as err:
        f.close()
        raise InputError(str(err)) from None
    try:
        _check_columns(path, header, column, id_column, keep)
    except InputError:
        f.close()
        raise

    def records() -> Iterator[InputRecord]:
        with f:
            try:
                for values in rows:
                    if not values:
                        continue  # a blank line is not a CSV record
                    if len(values) != len(header):
                        where = f"{path}:{rows.line_num}"
                        message = f"{where}: {len(values)} fields; the header has {len(header)}"
                        yield InputRecord(str(rows.line_num), "", where, error=message)
                        continue
                    yield _record(path, rows.line_num, dict(zip(header, values, strict=True)), column, id_column, keep)
            except csv.Error as err:
                raise ReaderError(path, rows.line_num, f"invalid CSV, cannot read on: {err}") from None

    return records()


def _jsonl_inputs(path: Path, column: str, id_column: str | None, keep: tuple[str, ...]) -> Iterator[InputRecord]:
    stream = open_binary(path)
    for lineno, raw in enumerate(stream, 1):
        line = raw.decode("utf-8-sig", errors="replace")
        if line.strip():
            try:
                first = json.loads(line)
            except json.JSONDecodeError:
                break
            if isinstance(first, dict):
                _check_columns_json(path, lineno, first, column, id_column, keep)
            break
    stream.close()

    def records() -> Iterator[InputRecord]:
        with open_binary(path) as binary:
            for lineno, raw in enumerate(binary, 1):
                where = f"{path}:{lineno}"
                line = _decode(raw, lineno, where)
                if isinstance(line, InputRecord):
                    yield line
                    continue
                if not line.strip():
                    continue  # a blank line is not a JSON Lines record
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    yield InputRecord(
                        str(lineno), "", where, error=f"{where}: invalid JSON: {err.msg} (column {err.colno})"
                    )
                    continue
                if not isinstance(record, dict):
                    message = f"{where}: expected a JSON object, found {type(record).__name__}"
                    yield InputRecord(str(lineno), "", where, error=message)
                    continue
                yield _record(path, lineno, record, column, id_column, keep)

    return records()


def _check_columns_json(
    path: Path, line: int, record: dict[str, Any], column: str, id_column: str | None, keep: tuple[str, ...]
) -> None:
    missing = [c for c in (column, id_column, *keep) if c is not None and c not in record]
    if missing:
        raise InputError(
            f"{path}:{line}: no field {', '.join(map(repr, missing))}; the first record has {sorted(record)}"
        )


# --- outputs -------------------------------------------------------------------------------------------------


def check_output(path: str | Path) -> Path:
    """Check an output path before any work: a known format, an existing folder, not a folder itself."""
    path = Path(path)
    output_format(path)
    if not path.parent.exists():
        raise OutputError(f"{path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name ending in .csv or .jsonl")
    return path


def output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".ndjson":
        return ".jsonl"
    if suffix not in OUTPUT_FORMATS:
        raise OutputError(f"{path}: unknown output format; expected .csv or .jsonl")
    return suffix


class PredictionWriter:
    """Writes predictions as they come: to a .csv or .jsonl file, or as JSON lines to a stream (stdout).

    Opening checks the path (format, folder, permission) before any scoring. CSV columns are fixed up front from
    the label set: id, text, kept columns, label, polarity, score, p_<label>..., aspects (JSON), language,
    truncated, chunks, error, warnings (columns a model never fills are left out).
    """

    def __init__(
        self,
        path: str | Path | None,
        labels: LabelSet | None = None,
        keep: Sequence[str] = (),
        aspects: bool = False,
        stream: IO[str] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.aspects, self.keep, self.count = aspects, tuple(keep), 0
        self.format = output_format(self.path) if self.path is not None else ".jsonl"
        if self.path is not None:
            check_output(self.path)
            try:
                self._file: IO[str] = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115
            except OSError as err:
                raise OutputError(f"{self.path}: cannot write: {err.strerror}") from None
        else:
            self._file = stream if stream is not None else sys.stdout
        self._csv = None
        if self.format == ".csv":
            self.columns = output_columns(labels, self.keep, aspects)
            self._csv = csv.writer(self._file)
            self._csv.writerow(self.columns)

    def write(self, prediction: Prediction) -> None:
        row = prediction.to_dict(aspects=self.aspects or None)
        if self._csv is None:
            self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            self._csv.writerow(output_values(row, self.columns))
        self.count += 1

    def write_all(self, predictions: Iterable[Prediction]) -> int:
        for prediction in predictions:
            self.write(prediction)
        return self.count

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self.path is not None:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def output_columns(labels: LabelSet | None, keep: Sequence[str], aspects: bool) -> list[str]:
    """The CLI's output columns, in order, for a label set (None: an aspect model), kept columns and aspects.
    The batch scorer writes the same ones."""
    columns = ["id", "text", *keep]
    if labels is not None:
        columns.append("label")
        if labels.polarity_map is not None:
            columns.append("polarity")
        if labels.scale is not None:
            columns.append("score")
        columns.extend(f"p_{name}" for name in labels.names)
    if aspects:
        columns.append("aspects")
    return [*columns, "language", "truncated", "chunks", "error", "warnings"]


def output_values(row: dict[str, Any], columns: list[str]) -> list[Any]:
    """A `Prediction.to_dict()` row as CSV cells for `columns` (aspects and warnings as JSON text)."""
    values = []
    probabilities = row.get("probabilities", {})
    for column in columns:
        if column.startswith("p_") and column[2:] in probabilities:
            values.append(probabilities[column[2:]])
        elif column in ("aspects", "warnings"):
            values.append(json.dumps(row.get(column, []), ensure_ascii=False))
        elif column == "truncated":
            values.append(str(bool(row.get("truncated", False))).lower())
        else:
            value = row.get(column)
            values.append("" if value is None else value)
    return values
