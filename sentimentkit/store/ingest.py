"""Ingest a file into the store: read it as a stream (`io.read_inputs`), score it in batches, and write each batch
in one transaction.

Idempotent by document id: before scoring a batch it asks the store which records are stored already with the
same text and model versions, and scores only the others; so re-ingesting a file adds nothing, a changed text
updates its row, and after a crash a rerun scores only what was not committed.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..io import InputRecord, read_inputs
from ..types import Prediction
from .core import ModelInfo, Store

BATCH_SIZE = 256  # records scored and committed together


@dataclass
class IngestResult:
    """Counts of one ingest: rows read, written (inserted or updated), skipped as unchanged, and how many of the
    written rows could not be scored (blank or unreadable input: stored with their error, no label)."""

    run_id: int
    read: int = 0
    written: int = 0
    unchanged: int = 0
    errors: int = 0
    duplicates: int = 0  # rows whose id came again later in the same batch (the later one is written)

    def summary(self) -> str:
        repeated = f", {self.duplicates} repeated ids" if self.duplicates else ""
        return (
            f"read {self.read} rows: wrote {self.written} ({self.errors} with errors), "
            f"skipped {self.unchanged} unchanged{repeated} (ingest run {self.run_id})"
        )


def ingest(
    file: str | Path,
    store: Store,
    pipeline: Callable[..., list[Prediction]],
    *,
    column: str = "text",
    id_column: str | None = None,
    product_column: str | None = None,
    keep_columns: Sequence[str] = (),
    batch_size: int = BATCH_SIZE,
    model: str | ModelInfo | None = None,
    aspect_model: str | ModelInfo | None = None,
    on_batch: Callable[[IngestResult], None] | None = None,
) -> IngestResult:
    """Score `file` (.csv, .jsonl or .txt) with `pipeline` and write it to `store`, `batch_size` records per
    transaction. Returns the counts; the run is recorded in `ingest_runs` (running, then done or failed).

    Ids come from `id_column` (else the record's line number); the product from `product_column`; `keep_columns`
    go into the documents' metadata. `model` / `aspect_model` name what is recorded as having scored the rows
    (default: read from the pipeline's manifests). An error mid-file marks the run failed and re-raises: every
    batch committed before it stays, and a rerun completes the file.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    keep = list(dict.fromkeys(c for c in (product_column, *keep_columns) if c))
    records = read_inputs(file=file, column=column, id_column=id_column, keep=keep)
    info = ModelInfo.of(model if model is not None else pipeline)
    aspects = aspect_model if aspect_model is not None else getattr(pipeline, "aspect_pipeline", None)
    aspect_info = ModelInfo.of(aspects) if aspects is not None else None
    models = {"model": info, "aspect_model": aspect_info}
    name = info.name if aspect_info is None else f"{info.name}+{aspect_info.name}"
    result = IngestResult(store.start_run(str(file), name))
    try:
        while batch := list(itertools.islice(records, batch_size)):
            skip = store.unchanged(((r.id, r.text) for r in batch), **models)
            todo = [r for r in batch if r.id not in skip]
            written = store.write(
                _score(pipeline, todo), source=str(file), product_field=product_column or "product_id", **models
            )
            result.read += len(batch)
            result.written += written.written
            result.unchanged += len(batch) - len(todo) + written.unchanged
            result.errors += written.errors
            result.duplicates += written.duplicates
            _progress(store, result)
            if on_batch is not None:
                on_batch(result)
    except BaseException as err:  # KeyboardInterrupt too: the run says it failed; committed batches stay
        with contextlib.suppress(Exception):  # the database may be what failed: the original error matters more
            _progress(store, result, status="failed", message=f"{type(err).__name__}: {err}")
        raise
    _progress(store, result, status="done")
    return result


def _score(pipeline: Callable[..., list[Prediction]], records: list[InputRecord]) -> list[Prediction]:
    """One prediction per record, in order: readable records scored together, unreadable ones as error rows."""
    readable = [r for r in records if r.error is None]
    scored = iter(pipeline([r.example() for r in readable]) if readable else ())
    return [next(scored) if r.error is None else r.failed() for r in records]


def _progress(store: Store, result: IngestResult, status: str | None = None, message: str | None = None) -> None:
    store.update_run(
        result.run_id,
        read=result.read,
        written=result.written,
        unchanged=result.unchanged,
        failed=result.errors,
        status=status,
        message=message,
    )
