"""`sentimentkit batch INPUT -o OUTPUT.parquet`: score a CSV, JSON Lines or Parquet input on Spark.

Only typer is imported at module level: the main CLI mounts this command, and `sentimentkit analyze` must not pay
for pyspark (which is an extra: `pip install "sentimentkit[spark]"`). The same command runs under spark-submit
through `sentimentkit/batch/__main__.py`.
"""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

INSTALL = 'batch scoring needs Spark: pip install "sentimentkit[spark]" (and Java 17, e.g. default-jre-headless)'


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def batch(
    input: Annotated[str, typer.Argument(help="CSV, JSON Lines or Parquet: a file, a folder of part files, a glob.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Parquet folder to write (name ending in .parquet).")],
    spark: Annotated[
        str | None, typer.Option("--spark", help="Spark master: local[2], spark://host:7077 ... [default: as set]")
    ] = None,
    aspects: Annotated[
        bool, typer.Option("--aspects/--no-aspects", help="Also find each text's aspects (slower).")
    ] = False,
    model: Annotated[str, typer.Option(help="Shipped model name or model directory.")] = "sentiment-en",
    aspect_model: Annotated[str | None, typer.Option(help="Aspect model for --aspects [default: absa-en].")] = None,
    column: Annotated[str, typer.Option(help="Column or field holding the text.")] = "text",
    id_column: Annotated[str | None, typer.Option("--id-column", help="Column or field holding an id.")] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", "--keep-columns", help="Input columns to copy to the output: a,b (or repeat)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 32,
    partitions: Annotated[
        int | None, typer.Option(help="Scoring tasks [default: twice Spark's default parallelism].")
    ] = None,
    input_format: Annotated[
        str | None, typer.Option("--format", help="Input format: csv, jsonl or parquet [default: from the name].")
    ] = None,
    long_texts: Annotated[str, typer.Option("--long", help="Long texts: 'truncate' (and say so) or 'chunks'.")] = (
        "truncate"
    ),
    overwrite: Annotated[bool, typer.Option(help="Replace OUTPUT when it exists.")] = False,
    conf: Annotated[list[str] | None, typer.Option("--conf", help="A Spark setting KEY=VALUE (repeat).")] = None,
) -> None:
    """Score a large input on Spark: Parquet with the same columns as `analyze -o x.csv` (aspects as structs)."""
    if aspect_model is not None and not aspects:
        _fail("--aspect-model goes with --aspects")
    if long_texts not in ("truncate", "chunks"):
        _fail(f"--long {long_texts!r}: expected truncate or chunks")
    settings = {}
    for item in conf or []:
        key, sep, value = item.partition("=")
        if not sep:
            _fail(f"--conf {item!r}: expected KEY=VALUE")
        settings[key] = value
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _fail(INSTALL)
    import warnings

    # pyspark warns on every pandas 3 import although mapInPandas works with it: noise in a command's output
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    from ..hub import ManifestError, ModelNotFoundError
    from ..io import InputError, OutputError
    from .job import BatchJob, run, spark_session

    job = BatchJob(
        input=input,
        output=output,
        model=model,
        aspect_model=(aspect_model or "absa-en") if aspects else None,
        column=column,
        id_column=id_column,
        keep=tuple(k.strip() for item in keep or [] for k in item.split(",") if k.strip()),
        format=input_format,
        batch_size=batch_size,
        partitions=partitions,
        long_texts=long_texts,
        overwrite=overwrite,
    )
    from pyspark.sql import SparkSession

    ours = SparkSession.getActiveSession() is None  # a session of the caller's (a notebook, a test) is left running
    try:
        session = spark_session(spark, settings)
    except Exception as err:  # the JVM did not start: no Java, or a bad master URL
        _fail(f"cannot start Spark ({str(err).splitlines()[0]}); {INSTALL}")
    try:
        rows = run(session, job)
    except (InputError, OutputError, ManifestError, ModelNotFoundError, ValueError) as err:
        _fail(str(err).strip("'\""))
    finally:
        if ours:
            session.stop()
    typer.echo(f"wrote {rows} rows to {output}", err=True)


def main() -> None:
    """Entry point of `python -m sentimentkit.batch` and of spark-submit."""
    app = typer.Typer(add_completion=False)
    app.command()(batch)
    app()
