"""The `sentimentkit` command: thin wrappers over the library. Heavy imports happen inside commands."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Offline sentiment analysis.")

PROGRESS_THRESHOLD = 200  # inputs at or above this count get a progress bar

# options that several commands share
FileOption = Annotated[Path | None, typer.Option("--file", "-f", help="Input .csv, .jsonl or .txt file.")]
ColumnOption = Annotated[str, typer.Option(help="Column (CSV) or field (JSONL) holding the text.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object per input.")]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _read_inputs(texts: list[str], file: Path | None, column: str) -> list[str]:
    from .data.readers import ReaderError, read_text_lines, read_texts_csv, read_texts_jsonl

    if file is not None and texts:
        _fail("give texts as arguments or --file, not both")
    if file is None:
        if texts == ["-"]:
            return [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if not texts:
            _fail('nothing to analyze: give a text, "-" for stdin, or --file')
        return texts
    name = file.name.lower().removesuffix(".xz").removesuffix(".gz")
    try:
        if name.endswith(".csv"):
            examples = read_texts_csv(file, column)
        elif name.endswith((".jsonl", ".ndjson")):
            examples = read_texts_jsonl(file, column)
        elif name.endswith(".txt"):
            examples = read_text_lines(file)
        else:
            _fail(f"{file}: unknown input format; expected .csv, .jsonl or .txt (optionally .xz/.gz)")
        return [x.text for x in examples]
    except (ReaderError, FileNotFoundError) as err:
        _fail(str(err))
    return []


def _prediction_row(p) -> dict:
    row = {"text": p.text, "label": p.label, "polarity": p.polarity, "score": round(p.score, 4)}
    row["probabilities"] = {k: round(v, 4) for k, v in p.probabilities.items()}
    if p.aspects:
        row["aspects"] = [_aspect_row(a) for a in p.aspects]
    return row


def _aspect_row(a) -> dict:
    return {
        "aspect": a.aspect,
        "start": a.start,
        "end": a.end,
        "polarity": a.polarity,
        "confidence": round(a.confidence, 4),
        "probabilities": {k: round(v, 4) for k, v in a.probabilities.items()},
    }


def _aspect_lines(aspects: list[dict]) -> str:
    return "\n".join(
        f"  aspect {a['aspect']!r} [{a['start']}:{a['end']}] {a['polarity']} ({a['confidence']:.2f})" for a in aspects
    )


def _write_output(rows: list[dict], output: Path) -> None:
    name = output.name.lower()
    if name.endswith(".jsonl"):
        with open(output, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif name.endswith(".csv"):
        labels = list(rows[0]["probabilities"]) if rows else []
        with open(output, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            with_aspects = any("aspects" in row for row in rows)
            header = ["text", "label", "polarity", "score", *[f"p_{n}" for n in labels]]
            writer.writerow(header + (["aspects"] if with_aspects else []))
            for row in rows:
                probs = [row["probabilities"][n] for n in labels]
                aspects = [json.dumps(row.get("aspects", []), ensure_ascii=False)] if with_aspects else []
                writer.writerow([row["text"], row["label"], row["polarity"], row["score"], *probs, *aspects])
    else:
        _fail(f"{output}: unknown output format; expected .csv or .jsonl")


@app.command()
def analyze(
    texts: Annotated[
        list[str] | None, typer.Argument(help='Texts to analyze; "-" reads one per line from stdin.')
    ] = None,
    file: FileOption = None,
    column: ColumnOption = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write .csv or .jsonl here.")] = None,
    as_json: JsonOption = False,
    model: Annotated[str, typer.Option(help="Shipped model name or model directory.")] = "sentiment-en",
    batch_size: Annotated[int, typer.Option(help="Texts per forward pass.")] = 32,
    aspects: Annotated[
        bool | None,
        typer.Option(
            "--aspects/--no-aspects",
            help="Also list each text's aspects and their polarity [default: on when the aspect model is shipped].",
            show_default=False,
        ),
    ] = None,
    aspect_model: Annotated[str, typer.Option(help="Aspect model for --aspects.")] = "absa-en",
) -> None:
    """Sentiment of each text: 5-point label, 3-way polarity, score in [-1, 1], probabilities, and its aspects."""
    inputs = _read_inputs(texts or [], file, column)
    from . import load
    from .hub import ModelNotFoundError, shipped_models

    if aspects is None:
        aspects = aspect_model in shipped_models()
    try:
        pipeline = load(
            model,
            batch_size=batch_size,
            merge_adapters=len(inputs) >= PROGRESS_THRESHOLD,
            aspects=aspect_model if aspects else None,
        )
    except (ModelNotFoundError, FileNotFoundError, ValueError) as err:
        _fail(str(err))
    if len(inputs) >= PROGRESS_THRESHOLD:
        from rich.progress import Progress

        with Progress(transient=True, console=_stderr()) as bar:
            task = bar.add_task("analyzing", total=len(inputs))
            predictions = pipeline(inputs, on_batch=lambda n: bar.update(task, advance=n))
    else:
        predictions = pipeline(inputs)
    _emit([_prediction_row(p) for p in predictions], output, as_json, _show_prediction, "predictions")


def _show_prediction(row: dict) -> str:
    probs = "  ".join(f"{k} {v:.2f}" for k, v in row["probabilities"].items())
    lines = f"{row['text']}\n  {row['label']} | polarity {row['polarity']} | score {row['score']:+.2f}\n  {probs}"
    return lines + ("\n" + _aspect_lines(row["aspects"]) if row.get("aspects") else "")


def _show_aspects(row: dict) -> str:
    return row["text"] + "\n" + (_aspect_lines(row["aspects"]) if row["aspects"] else "  no aspect found")


def _emit(rows: list[dict], output: Path | None, as_json: bool, show, what: str) -> None:
    """Rows to a file (-o), or to stdout as JSON lines or as `show` renders them."""
    if output is not None:
        _write_output(rows, output)
        typer.echo(f"wrote {len(rows)} {what} to {output}", err=True)
        return
    for row in rows:
        typer.echo(json.dumps(row, ensure_ascii=False) if as_json else show(row))


@app.command("aspects")
def aspects_command(
    texts: Annotated[list[str] | None, typer.Argument(help='Texts; "-" reads one per line from stdin.')] = None,
    aspect: Annotated[
        list[str] | None,
        typer.Option("--aspect", "-a", help="An aspect term to score (repeat for more); default: extract."),
    ] = None,
    file: FileOption = None,
    column: ColumnOption = "text",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write .jsonl here.")] = None,
    as_json: JsonOption = False,
    model: Annotated[str, typer.Option(help="Aspect model name or directory.")] = "absa-en",
    batch_size: Annotated[int, typer.Option(help="Aspects per forward pass.")] = 32,
) -> None:
    """Aspects of each text (extracted, or the --aspect terms) with character span, polarity and confidence."""
    inputs = _read_inputs(texts or [], file, column)
    if output is not None and not output.name.lower().endswith(".jsonl"):
        _fail(f"{output}: aspects are written as .jsonl (one object per input with its list of aspects)")
    from . import load
    from .hub import ModelNotFoundError
    from .inference.aspects import AspectPipeline

    try:
        pipeline = load(model, batch_size=batch_size, merge_adapters=len(inputs) >= PROGRESS_THRESHOLD)
        if not isinstance(pipeline, AspectPipeline):
            _fail(f"{model!r} is a document model; aspects needs an aspect model such as absa-en")
        found = pipeline(inputs, aspects=aspect or None)
    except (ModelNotFoundError, FileNotFoundError, ValueError) as err:
        _fail(str(err))
    rows = [{"text": t, "aspects": [_aspect_row(a) for a in f]} for t, f in zip(inputs, found, strict=True)]
    _emit(rows, output, as_json, _show_aspects, "texts with their aspects")


def _stderr():
    from rich.console import Console

    return Console(stderr=True)


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the shipped models with their test metrics."""
    from .hub import PRETRAINED_DIR, shipped_models

    rows = []
    for name in shipped_models():
        meta = json.loads((PRETRAINED_DIR / name / "config.json").read_text(encoding="utf-8"))
        rows.append(
            {
                "name": name,
                "task": meta.get("task"),
                "labels": meta["labels"],
                "metrics": meta.get("metrics", {}),
                "description": meta.get("description", ""),
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
    resume: Annotated[bool, typer.Option(help="Resume from <output>/last when it exists.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train any registered model from a config; the best checkpoint on validation lands in <output>/best."""
    from .config import load_config
    from .training.experiment import train_experiment

    try:
        cfg = load_config(config, overrides or [])
        result = train_experiment(cfg, progress=progress, resume=resume)
    except (ValueError, FileNotFoundError, KeyError) as err:  # ConfigError, ReaderError, DataNotFoundError
        _fail(str(err).strip("'\""))
    typer.echo(
        json.dumps(
            {
                "output": cfg.output,
                "best_step": result.best_step,
                "steps": result.steps,
                "validation": result.best_metrics,
            },
            indent=2,
        )
    )


@app.command()
def evaluate(
    model: Annotated[str, typer.Argument(help="Shipped model name or model directory.")],
    dataset: Annotated[str, typer.Argument(help="Named dataset, e.g. sst5.")],
    split: Annotated[str, typer.Option(help="train | validation | test")] = "test",
    data_dir: Annotated[Path | None, typer.Option(help="Benchmark data folder.")] = None,
) -> None:
    """Score a model on a named dataset split; prints the metrics as JSON."""
    from .hub import ModelNotFoundError, resolve
    from .training.experiment import evaluate_model

    try:
        metrics = evaluate_model(resolve(model).path, dataset, split, str(data_dir) if data_dir else None)
    except (ModelNotFoundError, FileNotFoundError, KeyError, ValueError) as err:
        _fail(str(err).strip("'\""))
    typer.echo(json.dumps(metrics, indent=2))


@app.command()
def tune(
    config: Annotated[Path, typer.Argument(help="Experiment YAML with a `search` section.")],
    trials: Annotated[int, typer.Option(help="Total number of trials (a resumed search counts finished ones).")] = 20,
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Dotted override, e.g. train.epochs=2.")] = None,
    output: Annotated[Path | None, typer.Option(help="Search folder; default: <config output>-search.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per trial.")] = False,
) -> None:
    """Search hyper-parameters with Optuna (validation metric, pruning); writes trials.json and best.yaml."""
    import yaml

    from .config import ConfigError, apply_overrides
    from .training.hpo import tune as run_search

    try:
        raw = apply_overrides(yaml.safe_load(config.read_text(encoding="utf-8")) or {}, overrides or [])
        folder = output or Path(f"{raw.get('output', 'runs/experiment')}-search")
        result = run_search(raw, trials, folder, progress)
    except (ConfigError, ValueError, FileNotFoundError, KeyError) as err:
        _fail(str(err).strip("'\""))
    except ImportError:
        _fail('tune needs Optuna: pip install "sentimentkit[hpo]"')
    typer.echo(
        json.dumps(
            {"best_value": result["best_value"], "best_params": result["best_params"], "folder": str(folder)}, indent=2
        )
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
