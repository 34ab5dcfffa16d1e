"""The driver side of a batch job: read the input with Spark, number its rows, score them with `mapInPandas`,
and write Parquet with the CLI's output columns (aspects as an array of structs) and the kept input columns.

Row ids: the id column when one is named, else the row's position in the input made into the CLI's line number
(the first CSV record is 2, after the header; the first JSON Lines line is 1, Parquet rows count from 1). The
position is Spark's read order numbered without gaps: the same on every rerun of the same input, and equal to the
CLI's id for a single file whose records each take one line (a JSON Lines file's blank lines are counted too).

pyspark is imported inside the functions: `import sentimentkit.batch` works without it.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..hub import read_manifest, resolve
from ..io import InputError, OutputError, output_columns
from .score import ID, ROW, TEXT, ScoreSpec, score_frames

FORMATS = ("csv", "jsonl", "parquet")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
}
_COMPRESSIONS = (".gz", ".bz2", ".xz", ".snappy", ".zst", ".lz4")


@dataclass(frozen=True)
class BatchJob:
    """A batch scoring job: what to read, how to score, where to write (the `sentimentkit batch` options)."""

    input: str
    output: str
    model: str = "sentiment-en"
    aspect_model: str | None = None
    column: str = "text"
    id_column: str | None = None
    keep: tuple[str, ...] = ()
    format: str | None = None
    batch_size: int = 32
    partitions: int | None = None
    long_texts: str = "truncate"
    overwrite: bool = False
    threads: int = 1


def spark_session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """A SparkSession for batch scoring: Python workers reused (one model load each), one torch thread each.

    master None: whatever spark-submit set, else local[*].
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("sentimentkit batch")
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):  # the workers run this interpreter (the one with torch), not `python3`
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {
        "spark.python.worker.reuse": "true",
        "spark.executorEnv.OMP_NUM_THREADS": "1",
        "spark.executorEnv.MKL_NUM_THREADS": "1",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "2048",
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def input_format(path: str, given: str | None = None) -> str:
    """csv, jsonl or parquet: `given`, else from the name (a folder's files, a glob's pattern)."""
    if given is not None:
        if given not in FORMATS:
            raise InputError(f"--format {given!r}: expected one of {', '.join(FORMATS)}")
        return given
    names = [path]
    local = Path(path)
    if local.is_dir():
        names = [p.name for p in sorted(local.iterdir()) if p.is_file() and not p.name.startswith(("_", "."))]
    for name in names:
        name = name.lower()
        name = next((name.removesuffix(c) for c in _COMPRESSIONS if name.endswith(c)), name)
        if Path(name).suffix in _SUFFIXES:
            return _SUFFIXES[Path(name).suffix]
    raise InputError(f"{path}: cannot tell the format from the name; give --format csv, jsonl or parquet")


def run(spark: Any, job: BatchJob) -> int:
    """Score `job.input` into `job.output` (a Parquet folder). Returns the number of rows written.

    Everything the user can get wrong (model, input, columns, output) is checked before any scoring.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    labels = _labels(job)
    _check_output(spark, job)
    kind = input_format(job.input, job.format)
    frame, spec = _read(spark, job, kind, labels)
    frame = frame.persist()  # read once: numbering, scoring and the kept columns all use these rows
    kept = None
    try:
        indexed = _number_rows(frame)
        if kind == "jsonl":  # numbered as lines, as the CLI does; a blank line is not a record
            indexed = indexed.filter(F.trim(F.col(TEXT)) != "")
        work = [F.col(ROW), F.col(TEXT)] + ([F.col(ID)] if job.id_column else [])
        partitions = job.partitions or spark.sparkContext.defaultParallelism * 2
        rows = indexed.select(*work).repartition(partitions)
        schema = _schema(spec.columns)
        # kept (memory, then disk): the global sort below samples its input in a job of its own, which would
        # otherwise score every row a second time
        kept = rows.mapInPandas(functools.partial(score_frames, spec), schema=schema).persist(
            StorageLevel.MEMORY_AND_DISK
        )
        scored = kept
        if job.keep:
            scored = scored.join(indexed.select(ROW, *(F.col(f"`{k}`") for k in job.keep)), ROW)
        columns = output_columns(labels, job.keep, job.aspect_model is not None)
        result = scored.orderBy(ROW).select(*(F.col(f"`{c}`") for c in columns))
        result.write.mode("overwrite" if job.overwrite else "errorifexists").parquet(job.output)
        return indexed.count()
    finally:
        if kept is not None:
            kept.unpersist()
        frame.unpersist()


def _labels(job: BatchJob) -> Any:
    """The model's label set (None for an aspect model), read from its manifest; a wrong name fails here."""
    manifest = read_manifest(resolve(job.model).path)
    if job.aspect_model is not None:
        aspect = read_manifest(resolve(job.aspect_model).path)
        if not aspect.task.startswith("aspect"):
            raise ValueError(f"--aspect-model {job.aspect_model!r} is not an aspect model (such as absa-en)")
        if manifest.task.startswith("aspect"):
            raise ValueError(f"{job.model!r} is an aspect model already; --aspects goes with a document model")
    return None if manifest.task.startswith("aspect") else manifest.labels


def _check_output(spark: Any, job: BatchJob) -> None:
    if not job.output.rstrip("/").lower().endswith(".parquet"):
        raise OutputError(f"{job.output}: the output is a Parquet folder; give a name ending in .parquet")
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(job.output)
    if path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path) and not job.overwrite:
        raise OutputError(f"{job.output} exists; remove it or give --overwrite")


def _read(spark: Any, job: BatchJob, kind: str, labels: Any) -> tuple[Any, ScoreSpec]:
    """The input as a DataFrame with TEXT (and ID) beside the kept columns, and the spec to score it."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    columns = output_columns(labels, (), job.aspect_model is not None)
    spec = ScoreSpec(
        model=job.model,
        aspect_model=job.aspect_model,
        columns=tuple(columns),
        column=job.column,
        id_column=job.id_column,
        input=job.input,
        format=kind,
        batch_size=job.batch_size,
        long_texts=job.long_texts,
        threads=job.threads,
    )
    wanted = [c for c in (job.column, job.id_column, *job.keep) if c is not None]
    taken = [k for k in job.keep if k in columns or k.startswith("_")]
    if taken:
        raise InputError(f"--keep {', '.join(map(repr, taken))}: the output has such a column already")
    try:
        if kind == "jsonl":
            lines = spark.read.text(job.input)
            fields = spark.read.json(job.input).schema
            _check_columns(job.input, fields.fieldNames(), wanted, "field")
            parsed = F.from_json(F.col("value"), fields)
            frame = lines.select(F.col("value").alias(TEXT), *(parsed[k].alias(k) for k in job.keep))
            return frame, replace(spec, offset=1)
        if kind == "csv":
            reader = spark.read.options(header=True, multiLine=True, escape='"', mode="PERMISSIVE")
            frame = reader.csv(job.input)
            offset = 2
        else:
            frame = spark.read.parquet(job.input)
            offset = 1
    except Exception as err:  # Spark's AnalysisException (no such path, unreadable): the user's to fix
        if type(err).__name__ in {"AnalysisException", "IllegalArgumentException"}:
            raise InputError(f"{job.input}: {str(err).splitlines()[0]}") from None
        raise
    _check_columns(job.input, frame.columns, wanted, "column")
    text = frame.schema[job.column].dataType
    text_type = None if isinstance(text, StringType) else text.simpleString()
    extra = [F.col(f"`{job.id_column}`").cast("string").alias(ID)] if job.id_column else []
    text_column = F.lit(None).cast("string") if text_type else F.col(f"`{job.column}`")
    frame = frame.select(text_column.alias(TEXT), *extra, *(F.col(f"`{k}`") for k in job.keep))
    return frame, replace(spec, offset=offset, text_type=text_type)


def _check_columns(path: str, have: list[str], wanted: list[str], what: str) -> None:
    missing = [c for c in wanted if c not in have]
    if missing:
        raise InputError(f"{path}: no {what} {', '.join(map(repr, missing))}; the input has {have}")


def _number_rows(frame: Any) -> Any:
    """`frame` (persisted, so that it reads the same rows every time) with ROW: each row's 0-based position in read
    order, without gaps, computed in the JVM.

    monotonically_increasing_id() is (partition index << 33) + position in the partition; counting the rows
    of each partition turns it into a dense position.
    """
    from pyspark.sql import functions as F

    marked = frame.withColumn("_mid", F.monotonically_increasing_id())
    part = F.shiftrightunsigned(F.col("_mid"), 33)
    counts = dict(marked.groupBy(part.alias("p")).count().collect())
    offsets, total = [], 0
    for p in range(max(counts, default=-1) + 1):
        offsets.append(total)
        total += counts.get(p, 0)
    if not offsets:
        return marked.withColumn(ROW, F.col("_mid")).drop("_mid")
    start = F.element_at(F.array(*(F.lit(o) for o in offsets)), (part + 1).cast("int"))
    position = F.col("_mid").bitwiseAND(F.lit((1 << 33) - 1))
    return marked.withColumn(ROW, (start + position).cast("long")).drop("_mid")


def _schema(columns: tuple[str, ...]) -> Any:
    """The Spark schema of the scored rows: ROW, then the CLI's columns with types (not CSV text)."""
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DoubleType,
        IntegerType,
        LongType,
        MapType,
        StringType,
        StructField,
        StructType,
    )

    aspect = StructType(
        [
            StructField("aspect", StringType()),
            StructField("start", IntegerType()),
            StructField("end", IntegerType()),
            StructField("polarity", StringType()),
            StructField("confidence", DoubleType()),
            StructField("probabilities", MapType(StringType(), DoubleType())),
        ]
    )
    types = {
        "aspects": ArrayType(aspect),
        "warnings": ArrayType(StringType()),
        "truncated": BooleanType(),
        "chunks": IntegerType(),
        "score": DoubleType(),
    }
    fields = [StructField(ROW, LongType(), False)]
    for column in columns:
        kind = DoubleType() if column.startswith("p_") else types.get(column, StringType())
        fields.append(StructField(column, kind))
    return StructType(fields)
