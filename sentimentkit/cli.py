"""The `sentimentkit` command: parse arguments, call the library, write with `io`. Heavy imports happen inside
commands, so `sentimentkit --help` and a single `analyze` start fast."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Offline sentiment analysis.")

CHUNK = 512  # inputs read, scored and written at a time: results stream out, memory stays flat
DEFAULT_ASPECT_MODEL = "absa-en"

# options that several commands share
FileOption = Annotated[Path | None, typer.Option("--file", "-f", help="Input .csv, .jsonl or .txt file.")]
ColumnOption = Annotated[str, typer.Option(help="Column (CSV) or field (JSONL) holding the text.")]
IdOption = Annotated[str | None, typer.Option("--id-column", help="Column (CSV) or field (JSONL) holding an id.")]
KeepOption = Annotated[
    list[str] | None, typer.Option("--keep", help="Another input column to copy to the output (repeat for more).")
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write .csv or .jsonl here (checked before any work).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object per input.")]
BatchOption = Annotated[int, typer.Option(help="Texts per forward pass.")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (bad input, model, config): reported in one line, no traceback."""
    from .config import ConfigError
    from .data.readers import ReaderError
    from .hub import ManifestError, ModelNotFoundError
    from .io import InputError, OutputError

    return (ConfigError, ReaderError, ManifestError, ModelNotFoundError, InputError, OutputError, FileNotFoundError,
            KeyError, ValueError, TypeError)  # fmt: skip


def _message(err: BaseException) -> str:
    return str(err).strip("'\"")


def _score(
    pipeline: Any,
    records: Iterator[Any],
    show: Callable[[dict], str] | None,
    writer: Any,
    with_aspects: bool | None,
    **options: Any,
) -> tuple[int, int]:
    """Score records chunk by chunk, writing each prediction in input order. Returns (rows, unreadable rows)."""
    rows = failed = 0
    progress = _progress_bar() if writer is not None else None
    with progress if progress is not None else _nothing() as bar:
        task = bar.add_task("scoring", total=None) if bar is not None else None
        while chunk := list(itertools.islice(records, CHUNK)):
            readable = [r for r in chunk if r.error is None]
            predictions = iter(pipeline([r.example() for r in readable], **options)) if readable else iter(())
            for record in chunk:
                prediction = next(predictions) if record.error is None else record.failed()
                failed += record.error is not None
                rows += 1
                if writer is not None:
                    writer.write(prediction)
                else:
                    row = prediction.to_dict(aspects=with_aspects)
                    typer.echo(json.dumps(row, ensure_ascii=False) if show is None else show(row))
            if writer is not None:
                writer.flush()  # rows reach the file as each chunk is scored, not at the end
            if bar is not None:
                bar.update(task, advance=len(chunk))
    return rows, failed


def _nothing() -> Any:
    import contextlib

    return contextlib.nullcontext(None)


def _progress_bar() -> Any:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description} {task.completed} inputs"), TimeElapsedColumn()]
    return Progress(*columns, transient=True, console=Console(stderr=True))


def _run(
    make_pipeline: Callable[[bool], Any],
    texts: list[str] | None,
    file: Path | None,
    column: str,
    id_column: str | None,
    keep: list[str] | None,
    output: Path | None,
    as_json: bool,
    show: Callable[[dict], str],
    aspects_column: bool,
    options: dict[str, Any],
) -> None:
    """The shared body of `analyze` and `aspects`: inputs, output and model are checked before any scoring."""
    from .io import PredictionWriter, check_output, read_inputs

    try:
        records = read_inputs(texts or [], file, column, id_column, keep or [])
        if output is not None:
            check_output(output)
        bulk = file is not None or texts == ["-"]
        pipeline = make_pipeline(bulk)
        writer = None
        if output is not None:
            labels = None if pipeline.manifest.task.startswith("aspect") else pipeline.labels
            writer = PredictionWriter(output, labels, keep or [], aspects=aspects_column)
        try:
            with_aspects = True if aspects_column and show is _show_aspects else None
            rows, failed = _score(pipeline, records, None if as_json else show, writer, with_aspects, **options)
        finally:
            if writer is not None:
                writer.close()
    except _user_errors() as err:
        _fail(_message(err))
    if output is not None:
        typer.echo(f"wrote {rows} rows to {output}", err=True)
    if failed:
        typer.echo(f"warning: {failed} of {rows} inputs could not be read; their rows say why (error)", err=True)


@app.command()
def analyze(
    texts: Annotated[
        list[str] | None, typer.Argument(help='Texts to analyze; "-" reads one per line from stdin.')
    ] = None,
    file: FileOption = None,
    column: ColumnOption = "text",
    id_column: IdOption = None,
    keep: KeepOption = None,
    output: OutputOption = None,
    as_json: JsonOption = False,
    model: Annotated[str, typer.Option(help="Shipped model name or model directory.")] = "sentiment-en",
    batch_size: BatchOption = 32,
    aspects: Annotated[
        bool | None,
        typer.Option(
            "--aspects/--no-aspects",
            help="Also list each text's aspects and their polarity [default: on when the aspect model is shipped].",
            show_default=False,
        ),
    ] = None,
    aspect_model: Annotated[
        str | None, typer.Option(help=f"Aspect model for --aspects [default: {DEFAULT_ASPECT_MODEL}].")
    ] = None,
    long_texts: Annotated[
        str,
        typer.Option("--long", help="Texts longer than the model's window: 'truncate' (and say so) or 'chunks'."),
    ] = "truncate",
) -> None:
    """Sentiment of each text: label, polarity, score in [-1, 1], probabilities, and its aspects."""
    from .hub import shipped_models

    if aspects is None:  # an aspect model named explicitly is wanted: a typo must fail, not turn aspects off
        aspects = aspect_model is not None or DEFAULT_ASPECT_MODEL in shipped_models()
    elif not aspects and aspect_model is not None:
        _fail("--aspect-model goes with --aspects, not --no-aspects")
    chosen_aspects = (aspect_model or DEFAULT_ASPECT_MODEL) if aspects else None

    def make(bulk: bool) -> Any:
        from . import load

        return load(model, batch_size=batch_size, merge_adapters=bulk, aspects=chosen_aspects)

    options = {"long_texts": long_texts}
    _run(make, texts, file, column, id_column, keep, output, as_json, _show_prediction, bool(aspects), options)


@app.command("aspects")
def aspects_command(
    texts: Annotated[list[str] | None, typer.Argument(help='Texts; "-" reads one per line from stdin.')] = None,
    aspect: Annotated[
        list[str] | None,
        typer.Option("--aspect", "-a", help="An aspect term to score (repeat for more); default: extract."),
    ] = None,
    file: FileOption = None,
    column: ColumnOption = "text",
    id_column: IdOption = None,
    keep: KeepOption = None,
    output: OutputOption = None,
    as_json: JsonOption = False,
    model: Annotated[str, typer.Option(help="Aspect model name or directory.")] = DEFAULT_ASPECT_MODEL,
    batch_size: Annotated[int, typer.Option(help="Aspects per forward pass.")] = 32,
) -> None:
    """Aspects of each text (extracted, or the --aspect terms) with character span, polarity and confidence."""

    def make(bulk: bool) -> Any:
        from . import load

        pipeline = load(model, batch_size=batch_size, merge_adapters=bulk)
        if not pipeline.manifest.task.startswith("aspect"):
            raise ValueError(f"{model!r} is a document model; aspects needs an aspect model such as absa-en")
        return pipeline

    options = {"aspects": aspect or None}
    _run(make, texts, file, column, id_column, keep, output, as_json, _show_aspects, True, options)


def _aspect_lines(aspects: list[dict]) -> str:
    return "\n".join(
        f"  aspect {a['aspect']!r} [{a['start']}:{a['end']}] {a['polarity']} ({a['confidence']:.2f})" for a in aspects
    )


def _notes(row: dict) -> str:
    lines = [f"  error: {row['error']}"] if row.get("error") else []
    if row.get("truncated"):
        lines.append("  note: longer than the model's window; only part was read (--long chunks scores all of it)")
    lines.extend(f"  warning: {w}" for w in row.get("warnings", []))
    return "".join("\n" + line for line in lines)


def _show_prediction(row: dict) -> str:
    if row.get("error"):
        return f"{row['text']}{_notes(row)}"
    probs = "  ".join(f"{k} {v:.2f}" for k, v in row["probabilities"].items())
    head = [row["label"]]
    if "polarity" in row:
        head.append(f"polarity {row['polarity']}")
    if "score" in row:
        head.append(f"score {row['score']:+.2f}")
    lines = f"{row['text']}\n  {' | '.join(head)}\n  {probs}"
    if row.get("chunks"):
        lines += f"\n  scored as {row['chunks']} chunks"
    return lines + ("\n" + _aspect_lines(row["aspects"]) if row.get("aspects") else "") + _notes(row)


def _show_aspects(row: dict) -> str:
    if row.get("error"):
        return f"{row['text']}{_notes(row)}"
    found = _aspect_lines(row["aspects"]) if row["aspects"] else "  no aspect found"
    return row["text"] + "\n" + found + _notes(row)


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the shipped models with their test metrics."""
    from .hub import PRETRAINED_DIR, read_manifest, shipped_models

    rows = []
    for name in shipped_models():
        manifest = read_manifest(PRETRAINED_DIR / name)
        rows.append(
            {
                "name": name,
                "task": manifest.task,
                "labels": list(manifest.labels.names),
                "metrics": dict(manifest.metrics),
                "description": manifest.description,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no shipped models")
    for row in rows:
        metrics = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row["metrics"].items())
        typer.echo(f"{row['name']}  [{row['task']}]  {row['description']}\n  {metrics}")


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Experiment YAML (see configs/).")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Dotted override, e.g. train.seed=2.")] = None,
    resume: Annotated[bool, typer.Option(help="Resume from <run folder>/last when it exists.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train any registered model from a config; the best checkpoint on validation lands in <run folder>/best."""
    from .training.experiment import load_experiment, run_dir
    from .training.experiment import train as run_training

    try:
        cfg = load_experiment(config, overrides or [])
        result = run_training(cfg, progress=progress, resume=resume)
    except _user_errors() as err:
        _fail(_message(err))
    summary = {
        "output": str(run_dir(cfg)),
        "best_step": result.best_step,
        "steps": result.steps,
        "validation": result.best_metrics,
    }
    typer.echo(json.dumps(summary, indent=2))


@app.command()
def evaluate(
    model: Annotated[str, typer.Argument(help="Shipped model name or model directory.")],
    dataset: Annotated[str, typer.Argument(help="Named dataset (e.g. sst5) or a labelled .csv/.jsonl file.")],
    split: Annotated[str, typer.Option(help="train | validation | test")] = "test",
    data_dir: Annotated[Path | None, typer.Option(help="Benchmark data folder.")] = None,
    subset: Annotated[int | None, typer.Option(help="Score a stratified sample of this many examples.")] = None,
) -> None:
    """Score a model on a dataset split or a labelled file; prints the metrics as JSON."""
    from .training.experiment import evaluate as run_evaluation

    try:
        metrics = run_evaluation(model, dataset, split, data_dir=str(data_dir) if data_dir else None, subset=subset)
    except _user_errors() as err:
        _fail(_message(err))
    typer.echo(json.dumps(metrics, indent=2))


@app.command()
def tune(
    config: Annotated[Path, typer.Argument(help="Experiment YAML with a `search` section.")],
    trials: Annotated[int, typer.Option(help="Total number of trials (a resumed search counts finished ones).")] = 20,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Dotted override, e.g. train.epochs=2.")] = None,
    output: Annotated[Path | None, typer.Option(help="Search folder; default: <config output>-search.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per trial.")] = False,
) -> None:
    """Search hyper-parameters with Optuna (validation metric, median pruning); writes trials.json and best.yaml."""
    import yaml

    from .config import apply_overrides
    from .training.hpo import tune as run_search

    try:
        raw = apply_overrides(yaml.safe_load(config.read_text(encoding="utf-8")) or {}, overrides or [])
        base = str(raw.get("output", "runs/experiment")).replace("/seed{seed}", "").replace("{seed}", "")
        folder = output or Path(f"{base}-search")
        result = run_search(raw, trials, folder, progress)
    except ImportError:
        _fail('tune needs Optuna: pip install "sentimentkit[hpo]"')
    except _user_errors() as err:
        _fail(_message(err))
    summary = {"best_value": result["best_value"], "best_params": result["best_params"], "folder": str(folder)}
    typer.echo(json.dumps(summary, indent=2))


# `store` sub-commands: their module imports only typer at the top (SQLAlchemy loads inside the commands), so
# mounting them keeps `sentimentkit analyze` fast.
from .store.cli import app as store_app  # noqa: E402

app.add_typer(store_app, name="store", help="Store predictions in SQLite or PostgreSQL, query them, report.")

# `serve`: its module imports only typer at the top (FastAPI, uvicorn and the models load inside the command).
from .serve.cli import serve  # noqa: E402

app.command()(serve)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
