"""`sentimentkit store ...`: ingest a file into the store, query it read-only, and report on a product.

Only typer is imported here at module level: the main CLI mounts this sub-app, and `sentimentkit analyze` must not
pay for SQLAlchemy, Alembic or matplotlib. Each command imports what it needs.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(
    no_args_is_help=True,
    help="Store predictions in SQLite or PostgreSQL, query them, and report on a product.",
)

DEFAULT_DB = "sqlite:///sentimentkit.db"
DEFAULT_ASPECT_MODEL = "absa-en"
DbOption = Annotated[
    str,
    typer.Option(
        "--db", help="Database URL (sqlite:///FILE.db, postgresql+psycopg://USER@HOST:PORT/DB) or a SQLite file path."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: reported in one line, exit status 2, no traceback."""
    from ..data.readers import ReaderError
    from ..hub import ManifestError, ModelNotFoundError
    from ..io import InputError
    from . import StoreError

    return (StoreError, InputError, ReaderError, ManifestError, ModelNotFoundError, FileNotFoundError, ValueError)


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="Input .csv, .jsonl or .txt file (optionally .gz/.xz/.bz2).")],
    db: DbOption = DEFAULT_DB,
    model: Annotated[str, typer.Option(help="Document model: shipped name or model directory.")] = "sentiment-en",
    aspects: Annotated[
        bool, typer.Option("--aspects/--no-aspects", help="Also find and store each text's aspects.")
    ] = True,
    aspect_model: Annotated[
        str | None, typer.Option(help=f"Aspect model for --aspects (default: {DEFAULT_ASPECT_MODEL}).")
    ] = None,
    column: Annotated[str, typer.Option(help="Column (CSV) or field (JSONL) holding the text.")] = "text",
    id_column: Annotated[
        str | None, typer.Option(help="Column holding the document id (default: the record's line number).")
    ] = None,
    product_column: Annotated[str | None, typer.Option(help="Column holding the product id.")] = None,
    keep_columns: Annotated[
        list[str] | None,
        typer.Option(help="Other columns to store as the documents' metadata (repeat, or comma-separate)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Records scored and committed together (one transaction).")] = 256,
) -> None:
    """Score a file and write it to the store in batches (idempotent by document id).

    A rerun adds nothing new, updates changed texts, and completes a run that crashed.
    """
    if not aspects and aspect_model is not None:
        _fail("--aspect-model goes with --aspects, not --no-aspects")
    if batch_size < 1:
        _fail(f"--batch-size must be at least 1, got {batch_size}")
    keep = [c.strip() for value in keep_columns or [] for c in value.split(",") if c.strip()]
    try:
        from ..inference.pipeline import Pipeline
        from ..io import input_format
        from . import open_store
        from .ingest import ingest as run_ingest

        if not file.is_file():
            _fail(f"{file}: no such file")
        input_format(file)
        store = open_store(db)
        try:
            chosen = (aspect_model or DEFAULT_ASPECT_MODEL) if aspects else None
            pipeline = Pipeline.load(model, aspects=chosen, merge_adapters=True)
        except BaseException:
            store.close()
            raise
    except _user_errors() as err:
        _fail(str(err))
    with store, _progress() as bar:
        task = bar.add_task("ingesting", total=None)
        try:
            result = run_ingest(
                file,
                store,
                pipeline,
                column=column,
                id_column=id_column,
                product_column=product_column,
                keep_columns=keep,
                batch_size=batch_size,
                on_batch=lambda r: bar.update(task, completed=r.read),
            )
        except _user_errors() as err:
            _fail(f"{err} (the batches before it are stored: a rerun skips them)")
    typer.echo(result.summary())


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One SQL statement, e.g. SELECT * FROM reviews LIMIT 5.")],
    db: DbOption = DEFAULT_DB,
    as_json: JsonOption = False,
) -> None:
    """Run one SQL statement on a read-only connection (a statement that writes is refused).

    The `reviews` view has one row per aspect occurrence: review_id, product_id, text, aspect_term, polarity,
    sentiment_score, confidence, start_char, end_char, document_label, document_polarity, document_score, model,
    language (the text's detected language).
    """
    try:
        from . import open_store

        with open_store(db, migrate=False) as store:
            columns, rows = store.query(sql)
    except _user_errors() as err:
        _fail(str(err))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False, default=_json_value))
        return
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    _console().print(table)
    typer.echo(f"{len(rows)} rows", err=True)


@app.command()
def report(
    product: Annotated[str, typer.Option("--product", help="The product id (documents.product_id).")],
    db: DbOption = DEFAULT_DB,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also draw a bar chart into this .png file.")
    ] = None,
    as_json: JsonOption = False,
    model: Annotated[str | None, typer.Option(help="Only this document model's predictions (default: all).")] = None,
    top: Annotated[int, typer.Option(help="How many of the most negative aspects to show.")] = 5,
) -> None:
    """A product's aspects by polarity, mean score, and most negative aspects with example sentences; its
    documents by detected language.

    Tables (or JSON with --json) and, with -o, a PNG bar chart.
    """
    try:
        from . import StoreError, open_store
        from .report import build_report, check_chart_path, write_chart

        if output is not None:
            check_chart_path(output)
        with open_store(db, migrate=False) as store:
            result = build_report(store, product, model=model, top=top)
            if result.documents == 0:
                _, rows = store.query("SELECT DISTINCT product_id FROM documents ORDER BY product_id LIMIT 10")
                known = ", ".join(repr(r[0]) for r in rows if r[0] is not None) or "none"
                raise StoreError(f"no documents of product {product!r} in {store.name}; products: {known}")
        if output is not None:
            write_chart(result, output)
    except _user_errors() as err:
        _fail(str(err))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_report(result)
    if output is not None:
        typer.echo(f"wrote the chart to {output}", err=True)


def _print_report(result: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    mean_doc = "n/a" if result.mean_document_score is None else f"{result.mean_document_score:+.3f}"
    mean_aspect = "n/a" if result.mean_aspect_score is None else f"{result.mean_aspect_score:+.3f}"
    console.print(
        f"[bold]{escape(result.product)}[/bold]: {result.documents} documents, mean document score {mean_doc}; "
        f"{result.mentions} aspect mentions, mean aspect score {mean_aspect}"
    )
    if result.languages:
        by_language = ", ".join(f"{code} {n}" for code, n in result.languages.items())
        console.print(f"documents by language: {escape(by_language)}")
    table = Table("aspect", "mentions", "negative", "neutral", "positive", "mean score", title="Aspects by polarity")
    for a in result.aspects:
        counts = [str(a.polarity.get(p, 0)) for p in ("negative", "neutral", "positive")]
        table.add_row(escape(a.term), str(a.mentions), *counts, f"{a.mean_score:+.3f}")
    console.print(table)
    worst = Table("aspect", "mean score", "mentions", "example sentences", title="Most negative aspects")
    for a in result.most_negative:
        examples = "\n".join(escape(f"[{e.review_id}] {e.sentence} ({e.score:+.2f})") for e in a.examples)
        worst.add_row(escape(a.term), f"{a.mean_score:+.3f}", str(a.mentions), examples)
    console.print(worst if result.most_negative else "no aspect with a negative mean score")


def _progress() -> Any:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description} {task.completed} rows"), TimeElapsedColumn()]
    return Progress(*columns, transient=True, console=Console(stderr=True))


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=False)


def _cell(value: Any) -> str:
    from rich.markup import escape

    if value is None:
        return "[dim]NULL[/dim]"
    if isinstance(value, dict | list):
        return escape(json.dumps(value, ensure_ascii=False))
    return escape(str(value))


def _json_value(value: Any) -> Any:
    """JSON for what databases return besides JSON types: decimals, timestamps, bytes."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)
