"""Uploaded files for POST /v1/analyze/file: read with `io.read_inputs` (the CLI's reader, so a file gives the
same records, ids and error rows as `sentimentkit analyze -f`) and written back as CSV with `PredictionWriter`.

The upload is copied to a private temporary folder under a name of our making (never the client's), and the
temporary path is replaced by the uploaded file's name in every message.
"""

from __future__ import annotations

import csv
import itertools
import lzma
import re
import shutil
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ..io import COMPRESSIONS, InputRecord, PredictionWriter, input_format, read_inputs
from ..types import Prediction

READ_ERRORS = (ValueError, OSError, EOFError, lzma.LZMAError, zlib.error, csv.Error)


class UploadError(ValueError):
    """The upload cannot be read (format, columns, encoding); `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def read_upload(
    stream: IO[bytes],
    filename: str | None,
    column: str,
    id_column: str | None,
    keep: Sequence[str],
    max_texts: int,
    max_chars: int,
) -> list[InputRecord]:
    """The records of an uploaded file, checked against the per-request limits (UploadError 413) and readable
    (UploadError 422 with the reader's message)."""
    name = Path(filename or "").name
    if not name:
        raise UploadError("file: the upload has no file name; name it *.csv, *.jsonl or *.txt")
    try:
        kind = input_format(Path(name))
    except ValueError as err:
        raise UploadError(f"file: {err}") from None
    compression = next((c for c in COMPRESSIONS if name.lower().endswith(c)), "")
    with tempfile.TemporaryDirectory(prefix="sentimentkit-upload-") as folder:
        path = Path(folder) / f"upload{kind}{compression}"
        with open(path, "wb") as out:
            shutil.copyfileobj(stream, out)
        try:
            records = list(
                itertools.islice(read_inputs(file=path, column=column, id_column=id_column, keep=keep), max_texts + 1)
            )
        except READ_ERRORS as err:
            message = str(err).replace(str(path), name)
            raise UploadError(message if name in message else f"{name}: cannot read it: {message}") from None
    if len(records) > max_texts:
        raise UploadError(
            f"file: {name} has more than {max_texts} records; the limit is {max_texts} per request "
            "(split the file, or use `sentimentkit analyze -f` or `sentimentkit store ingest` for large files)",
            413,
        )
    out = []
    for record in records:
        source = record.source.replace(str(path), name)
        if len(record.text) > max_chars:
            raise UploadError(f"{source}: the text has {len(record.text)} characters; the limit is {max_chars}", 413)
        error = record.error.replace(str(path), name) if record.error is not None else None
        out.append(InputRecord(record.id, record.text, source, record.fields, error))
    return out


def predictions_csv(predictions: Sequence[Prediction], labels: Any, keep: Sequence[str], aspects: bool) -> bytes:
    """The predictions as the CSV that `sentimentkit analyze -o FILE.csv` writes."""
    with tempfile.TemporaryDirectory(prefix="sentimentkit-csv-") as folder:
        path = Path(folder) / "predictions.csv"
        with PredictionWriter(path, labels, keep, aspects=aspects) as writer:
            writer.write_all(predictions)
        return path.read_bytes()


def download_name(filename: str | None) -> str:
    """A safe attachment name for the CSV of an upload: its stem with anything unusual replaced."""
    stem = Path(Path(filename or "predictions").name).name.split(".")[0]
    return (re.sub(r"[^A-Za-z0-9_-]+", "_", stem) or "predictions") + "-sentiment.csv"
