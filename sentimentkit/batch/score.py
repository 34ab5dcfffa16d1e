"""The worker side of a batch job: pandas frames of input rows in, pandas frames of CLI-shaped output rows out.

Spark calls `score_frames` through `DataFrame.mapInPandas` in its Python worker processes. The model is loaded
once per process (a module-level cache, kept while Spark reuses the worker) and runs on `threads` torch threads,
so `local[N]` keeps N cores busy with N single-threaded workers. Rows are scored `CHUNK` at a time, as the CLI
does, and every input row gives exactly one output row: one that cannot be scored gets `error` set.

Nothing here imports pyspark; pandas and the model load inside the functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..io import InputRecord

CHUNK = 512  # rows per pipeline call, as in `sentimentkit analyze`: sorting by length inside a chunk still pays
ROW = "_row"  # the 0-based position of a row in the input, carried through the job to order and join on
TEXT = "_text"  # the text column (CSV, Parquet) or the raw line (JSON Lines)
ID = "_id"  # the id column, as a string

_PIPELINES: dict[tuple, Any] = {}


@dataclass(frozen=True)
class ScoreSpec:
    """What a worker needs to score rows; pickled to the workers with the function.

    input: the input's name for error messages; format: "csv", "jsonl" or "parquet" (JSON Lines rows hold the
    raw line, parsed here so that a non-string text is an error row, as in the CLI); text_type: the Spark type
    of a text column that is not a string (every row is then an error row); offset: added to the row position
    to make the default id (the CLI's line number: 2 for a CSV's first record, 1 for a JSON Lines file's).
    """

    model: str
    aspect_model: str | None
    columns: tuple[str, ...]  # the output columns the worker fills (the CLI's, less the kept ones), after ROW
    column: str = "text"
    id_column: str | None = None
    input: str = "input"
    format: str = "csv"
    text_type: str | None = None
    offset: int = 1
    batch_size: int = 32
    long_texts: str = "truncate"
    threads: int = 1


def pipeline(spec: ScoreSpec) -> Any:
    """The spec's pipeline, loaded on first use in this process (as `analyze` loads it for a file)."""
    key = (spec.model, spec.aspect_model, spec.batch_size, spec.threads)
    if key not in _PIPELINES:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(spec.threads)
        import torch

        torch.set_num_threads(spec.threads)
        from ..inference.pipeline import Pipeline

        _PIPELINES[key] = Pipeline.load(
            spec.model, batch_size=spec.batch_size, merge_adapters=True, aspects=spec.aspect_model
        )
    return _PIPELINES[key]


def score_frames(spec: ScoreSpec, frames: Iterator[Any]) -> Iterator[Any]:
    """mapInPandas body: frames with ROW, TEXT (and ID) in; frames with ROW and `spec.columns` out. The model
    loads at the first readable row (an empty partition, or one of blank rows, loads nothing)."""
    import pandas as pd

    aspects = "aspects" in spec.columns
    for frame in frames:
        for start in range(0, len(frame), CHUNK):
            part = frame.iloc[start : start + CHUNK]
            ids = part[ID].tolist() if ID in part else [None] * len(part)
            records = [_record(spec, int(r), t, i) for r, t, i in zip(part[ROW], part[TEXT], ids, strict=True)]
            readable = [r for r in records if r.error is None]
            scored = iter(
                pipeline(spec)([r.example() for r in readable], long_texts=spec.long_texts) if readable else ()
            )
            rows = []
            for position, record in zip(part[ROW], records, strict=True):
                prediction = next(scored) if record.error is None else record.failed()
                rows.append([int(position), *_values(prediction.to_dict(aspects=aspects), spec.columns)])
            yield pd.DataFrame(rows, columns=[ROW, *spec.columns])


def _record(spec: ScoreSpec, row: int, text: Any, record_id: Any) -> InputRecord:
    """One input row as the CLI's reader would give it: its id, text, and why it cannot be scored."""
    line = row + spec.offset
    where = f"{spec.input}:{line}"
    if spec.format == "jsonl":
        try:
            parsed = json.loads(text.removeprefix("\ufeff") if row == 0 else text)
        except json.JSONDecodeError as err:
            return InputRecord(str(line), "", where, error=f"{where}: invalid JSON: {err.msg} (column {err.colno})")
        if not isinstance(parsed, dict):
            return InputRecord(str(line), "", where, error=f"{where}: expected a JSON object, found {_kind(parsed)}")
        text, record_id = parsed.get(spec.column, _MISSING), parsed.get(spec.id_column) if spec.id_column else None
    elif spec.format == "csv" and _is_null(text):
        text = ""  # a CSV cell is never null: an empty one is a blank text, as in the CLI
    given = str(line)
    if spec.id_column is not None:
        if _is_null(record_id) or not str(record_id).strip():
            return InputRecord(given, "", where, error=f"{where}: empty id in {spec.id_column!r}")
        given = str(record_id)
    if spec.text_type is not None or not isinstance(text, str):
        kind = spec.text_type or ("missing" if text is _MISSING else _kind(text))
        return InputRecord(given, "", where, error=f"{where}: field {spec.column!r} is {kind}; expected a string")
    return InputRecord(given, text, where)


_MISSING = object()


def _kind(value: Any) -> str:
    return "null" if _is_null(value) else type(value).__name__


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # pandas gives NaN for a null number


def _values(row: dict[str, Any], columns: tuple[str, ...]) -> list[Any]:
    """A `Prediction.to_dict()` row as typed cells for `columns` (the CLI's CSV has the same, as text)."""
    probabilities = row.get("probabilities", {})
    values: list[Any] = []
    for column in columns:
        if column.startswith("p_") and column[2:] in probabilities:
            values.append(probabilities[column[2:]])
        elif column == "aspects":
            values.append(row.get("aspects", []))
        elif column == "warnings":
            values.append(row.get("warnings", []))
        elif column == "truncated":
            values.append(bool(row.get("truncated", False)))
        else:
            values.append(row.get(column))
    return values
