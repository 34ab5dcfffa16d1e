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
BackendOption = Annotated[
    str | None,
    typer.Option(
        help="auto (shipped models on a compiled ONNX copy), torch, or onnx [default: $SENTIMENTKIT_BACKEND or auto]."
    ),
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix (bad input, model, config): reported in one line, no traceback."""
    from .config import ConfigError
    from .data.readers import ReaderError
    from .hub import ManifestError, ModelNotFoundError
    from .inference.compiled import CompileError
    from .io import InputError, OutputError

    return (ConfigError, ReaderError, ManifestError, ModelNotFoundError, InputError, OutputError, FileNotFoundError,
            KeyError, ValueError, TypeError, CompileError)  # fmt: skip


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
    backend: BackendOption = None,
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

        return load(model, batch_size=batch_size, merge_adapters=bulk, aspects=chosen_aspects, backend=backend)

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
    backend: BackendOption = None,
) -> None:
    """Aspects of each text (extracted, or the --aspect terms) with character span, polarity and confidence."""

    def make(bulk: bool) -> Any:
        from . import load

        pipeline = load(model, batch_size=batch_size, merge_adapters=bulk, backend=backend)
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
    typer.echo(json.dumps(_run_summary(run_dir(cfg), result), indent=2))


@app.command()
def pretrain(
    config: Annotated[Path, typer.Argument(help="Pretraining YAML (configs/skesl-text.yaml, configs/mlm-text.yaml).")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Dotted override, e.g. train.seed=2.")] = None,
    resume: Annotated[bool, typer.Option(help="Resume from <run folder>/last when it exists.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Pretrain a text encoder on unlabelled text (SKESL sentiment words, or the masked-LM control). The best
    encoder on the held-out text lands in <run folder>/best/encoder; start any model from it with model.init_from."""
    from .models import MODELS
    from .training.experiment import load_experiment, run_dir
    from .training.experiment import train as run_training

    try:
        cfg = load_experiment(config, overrides or [])
        task = MODELS.get(cfg.model["type"]).task
        if "pretraining" not in task:
            raise ValueError(f"{config}: model.type {cfg.model['type']!r} is not a pretraining model; use `train`")
        result = run_training(cfg, progress=progress, resume=resume)
    except _user_errors() as err:
        _fail(_message(err))
    folder = run_dir(cfg)
    summary = _run_summary(folder, result)
    info = folder / "best" / "pretraining.json"
    if info.exists():
        summary["pretraining"] = json.loads(info.read_text(encoding="utf-8"))
    summary["seconds"] = round(result.seconds, 1)
    summary["encoder"] = str(folder / "best" / "encoder")
    typer.echo(json.dumps(summary, indent=2))


def _run_summary(folder: Path, result: Any) -> dict[str, Any]:
    return {
        "output": str(folder),
        "best_step": result.best_step,
        "steps": result.steps,
        "validation": result.best_metrics,
    }


@app.command()
def distill(
    teacher: Annotated[str, typer.Argument(help="The teacher: a document model name or folder.")],
    student: Annotated[Path, typer.Option("--student", help="The student's experiment YAML (see configs/distill-*).")],
    overrides: Annotated[list[str] | None, typer.Option("--set", help="Dotted override, e.g. train.seed=2.")] = None,
    unlabelled: Annotated[
        str | None,
        typer.Option(help="Extra texts for the teacher to label: a .txt/.csv/.jsonl file or a dataset name."),
    ] = None,
    unlabelled_column: Annotated[str, typer.Option(help="Column (CSV) or field (JSONL) of --unlabelled.")] = "text",
    unlabelled_limit: Annotated[int | None, typer.Option(help="Use at most this many --unlabelled texts.")] = None,
    alpha: Annotated[float, typer.Option(help="Weight of the gold label in a labelled text's target.")] = 0.5,
    temperature: Annotated[float, typer.Option(help="Softens the teacher's distribution (1: as it is).")] = 1.0,
    from_teacher: Annotated[
        bool, typer.Option(help="Start a student with keep_layers from the teacher's layers and head.")
    ] = True,
    resume: Annotated[bool, typer.Option(help="Resume from <run folder>/last when it exists.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a smaller student on a teacher's soft labels (and the gold labels); the best lands in <run folder>/best."""
    from .training.distill import distill as run_distill
    from .training.experiment import load_experiment, run_dir

    try:
        cfg = load_experiment(student, overrides or [])
        texts = _unlabelled_texts(unlabelled, unlabelled_column, unlabelled_limit) if unlabelled else []
        result = run_distill(
            teacher, cfg, unlabelled=texts, alpha=alpha, temperature=temperature, from_teacher=from_teacher,
            resume=resume, progress=progress,
        )  # fmt: skip
    except _user_errors() as err:
        _fail(_message(err))
    summary = {**_run_summary(run_dir(cfg), result), "unlabelled_texts": len(texts)}
    typer.echo(json.dumps(summary, indent=2))


def _unlabelled_texts(source: str, column: str, limit: int | None) -> list[str]:
    """Texts of a file (one output per readable record; unreadable records are skipped and counted) or the training
    split of a named dataset."""
    from .data.datasets import DATASETS, load_dataset
    from .io import read_inputs

    if limit is not None and limit < 1:
        raise ValueError(f"--unlabelled-limit must be at least 1, got {limit}")
    if source in DATASETS:
        texts = [x.text for x in load_dataset(source, "train")]
    else:
        records = list(read_inputs((), Path(source), column))
        texts = [r.text for r in records if r.error is None and r.text.strip()]
        skipped = len(records) - len(texts)
        if skipped:
            typer.echo(f"--unlabelled: skipped {skipped} blank or unreadable records of {source}", err=True)
    return texts[:limit] if limit is not None else texts


@app.command()
def efficiency(
    models: Annotated[list[str], typer.Argument(help="Model names or folders to measure.")],
    backend: Annotated[
        list[str] | None,
        typer.Option("--backend", "-b", help="torch-fp32, torch-bf16, onnx-fp32, onnx-int8 (repeat) [default: all]."),
    ] = None,
    file: FileOption = None,
    column: ColumnOption = "text",
    dataset: Annotated[str, typer.Option(help="Without --file: the test split of this named dataset.")] = "sst5",
    n: Annotated[int, typer.Option(help="Measure on the first N texts.")] = 512,
    batch_size: BatchOption = 32,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds (medians are reported).")] = 3,
    latency_texts: Annotated[int, typer.Option(help="Single-text calls per round for latency.")] = 50,
    threads: Annotated[int | None, typer.Option(help="torch and ONNX Runtime threads [default: theirs].")] = None,
    memory: Annotated[bool, typer.Option(help="Measure peak memory in a fresh process per row.")] = True,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the rows as JSON here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Parameters, GFLOPs per text, throughput, latency p50/p99 and peak memory per model and backend, in one run."""
    from .inference.efficiency import BACKENDS, measure

    chosen = backend or list(BACKENDS)
    try:
        if output is not None and not output.parent.is_dir():
            raise ValueError(f"{output}: the folder {output.parent} does not exist")
        texts = _measurement_texts(file, column, dataset, n)
        rows = measure(
            models, chosen, texts, batch_size=batch_size, rounds=rounds, latency_texts=latency_texts, threads=threads,
            memory=memory,
        )  # fmt: skip
    except _user_errors() as err:
        _fail(_message(err))
    data = [r.to_dict() for r in rows]
    if output is not None:
        output.write_text(json.dumps(data, indent=2) + "\n")
    if as_json:
        for row in data:
            typer.echo(json.dumps(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(texts)} texts, batch {batch_size}, {rounds} rounds")
    for name in ("model", "backend", "params", "trainable", "GFLOPs/text", "texts/s", "p50 ms", "p99 ms", "peak MB"):
        table.add_column(name, justify="left" if name in ("model", "backend") else "right")
    for r in rows:
        if r.note:
            table.add_row(r.model, r.backend, r.note, *[""] * 6)
            continue
        table.add_row(
            r.model, r.backend, _fmt(r.params_total, ","), _fmt(r.params_trainable, ","),
            _fmt(r.gflops_per_text, ".3f"), _fmt(r.texts_per_s, ".1f"), _fmt(r.latency_p50_ms, ".1f"),
            _fmt(r.latency_p99_ms, ".1f"), _fmt(r.peak_memory_mb, ".0f"),
        )  # fmt: skip
    Console().print(table)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _measurement_texts(file: Path | None, column: str, dataset: str, n: int) -> list[str]:
    from .io import read_inputs

    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    if file is not None:
        texts = [r.text for r in read_inputs((), file, column) if r.error is None and r.text.strip()]
    else:
        from .data.datasets import load_dataset

        texts = [x.text for x in load_dataset(dataset, "test")]
    if not texts:
        raise ValueError("no texts to measure on")
    return texts[:n]


@app.command()
def evaluate(
    model: Annotated[str, typer.Argument(help="Shipped model name or model directory.")],
    dataset: Annotated[str, typer.Argument(help="Named dataset (e.g. sst5) or a labelled .csv/.jsonl file.")],
    split: Annotated[str, typer.Option(help="train | validation | test")] = "test",
    data_dir: Annotated[Path | None, typer.Option(help="Benchmark data folder.")] = None,
    subset: Annotated[int | None, typer.Option(help="Score a stratified sample of this many examples.")] = None,
    trust_pickle: Annotated[
        bool, typer.Option(help="Read an MMSA feature pickle (unpickling runs code from the file: trust it first).")
    ] = False,
    robustness: Annotated[
        bool, typer.Option(help="Multimodal: also score corrupted copies (missing/noisy modalities): table + plots.")
    ] = False,
    protocol: Annotated[
        list[str] | None, typer.Option(help="Robustness protocol to run (repeat; default: all).")
    ] = None,
    mask_seed: Annotated[list[int] | None, typer.Option(help="Mask seed (repeat; default 1111 1112 1113).")] = None,
    compare: Annotated[
        list[str] | None, typer.Option(help="Another model in the robustness table and plots (repeat).")
    ] = None,
    report_dir: Annotated[Path, typer.Option(help="Where the robustness table and plots go.")] = Path("robustness"),
) -> None:
    """Score a model on a dataset split or a labelled file; prints the metrics as JSON."""
    from .training.experiment import evaluate as run_evaluation

    where = str(data_dir) if data_dir else None
    try:
        metrics = run_evaluation(model, dataset, split, data_dir=where, subset=subset, trust_pickle=trust_pickle)
        if robustness:
            from .training.robustness import robustness as sweep

            report = sweep(
                [model, *(compare or [])], dataset, split, out_dir=report_dir, protocols=protocol or None,
                mask_seeds=tuple(mask_seed or (1111, 1112, 1113)), data_dir=where, trust_pickle=trust_pickle,
            )  # fmt: skip
            metrics = {**metrics, "robustness": report["files"]}
    except _user_errors() as err:
        _fail(_message(err))
    typer.echo(json.dumps(metrics, indent=2))


@app.command()
def calibrate(
    model: Annotated[str, typer.Argument(help="Model directory (or a shipped name, with -o).")],
    data: Annotated[
        str | None, typer.Option(help="Named dataset or labelled file [default: what the model was validated on].")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write a calibrated copy here instead of in place.")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Benchmark data folder.")] = None,
) -> None:
    """Fit a softmax temperature on validation data and store it in the model folder; prints it as JSON."""
    from .training.calibrate import calibrate as fit

    try:
        section = fit(model, data, output, data_dir=str(data_dir) if data_dir else None)
    except (*_user_errors(), FileExistsError) as err:
        _fail(_message(err))
    typer.echo(json.dumps(section, indent=2))


@app.command()
def interpolate(
    start: Annotated[str, typer.Argument(help="The model at weight 0 (a folder or a shipped name).")],
    end: Annotated[str, typer.Argument(help="The model at weight 1, same architecture and labels.")],
    weight: Annotated[float, typer.Option(help="Where between them: 0 is START, 1 is END.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="A new folder for the interpolated model.")],
) -> None:
    """Interpolate two trained models in weight space (WiSE-FT; LoRA updates exactly); prints a JSON summary."""
    from .training.interpolate import interpolate as mix

    try:
        manifest = mix(start, end, weight, output)
    except (*_user_errors(), FileExistsError) as err:
        _fail(_message(err))
    typer.echo(json.dumps({"output": str(output), **manifest.extra["interpolated"]}, indent=2))


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


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Shipped model name (sentiment-en, absa-en) or model directory.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="New folder for the exported model.")],
    export_format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    int8: Annotated[bool, typer.Option("--int8", help="Quantize weights to int8 (dynamic, per channel).")] = False,
    optimize: Annotated[bool, typer.Option(help="Fuse transformer operators (onnxruntime's optimizer).")] = True,
) -> None:
    """Export a model to a self-contained folder that `sentimentkit.load(DIR)` runs with ONNX Runtime, no torch."""
    if export_format != "onnx":
        _fail(f"--format {export_format!r}: the only export format is onnx")
    try:
        from .inference.export import export_onnx
    except ImportError:
        _fail('export needs ONNX: pip install "sentimentkit[onnx]"')
    try:
        folder = export_onnx(model, output, int8=int8, optimize=optimize)
    except (*_user_errors(), FileExistsError) as err:
        _fail(_message(err))
    typer.echo(json.dumps({"output": str(folder), "int8": int8}, indent=2))


@app.command("explain")
def explain_command(
    text: Annotated[str, typer.Argument(help="The text to explain (for a multimodal model: a .npz clip file).")],
    aspect: Annotated[
        list[str] | None,
        typer.Option("--aspect", "-a", help="Explain this aspect's polarity (repeat for more); uses an aspect model."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help=f"Model name or directory [default: sentiment-en, or {DEFAULT_ASPECT_MODEL} with --aspect]."),
    ] = None,
    target: Annotated[str | None, typer.Option(help="The label to explain [default: the predicted one].")] = None,
    steps: Annotated[int, typer.Option(help="Integration steps (more: smaller completeness delta, slower).")] = 50,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write a .html page, a .png heatmap or .json.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Which words drove a prediction: integrated gradients per word, with the model's own attention beside them.

    With a multimodal model (--model DIR) TEXT is a clip file written by `sentimentkit features` (or any .npz of
    the clip format): the words, audio frames and vision frames of each clip in it are explained together."""
    try:
        from .explain import Explainer, save_attributions
        from .explain.attribution import SUFFIXES
    except ImportError:
        _fail('explain needs captum: pip install "sentimentkit[explain]"')
    if output is not None and output.suffix.lower() not in SUFFIXES:
        _fail(f"{output}: expected a .html, .png or .json file")
    if output is not None and not output.parent.is_dir():
        _fail(f"{output}: the folder {output.parent} does not exist")
    from . import load

    if model is None and text.lower().endswith(".npz") and Path(text).is_file():
        _fail(f"{text} is a clip file: name the multimodal model that should explain it with --model")
    try:
        pipeline = load(model or (DEFAULT_ASPECT_MODEL if aspect else "sentiment-en"))
        if aspect is None and pipeline.manifest.task.startswith("aspect") and not pipeline.can_extract:
            raise ValueError("this aspect model has no extractor: name the aspect with --aspect")
        if pipeline.manifest.task.startswith("multimodal"):
            attributions = _explain_clips(pipeline, text, steps, aspect, target)
        else:
            attributions = Explainer(pipeline, steps=steps).explain(text, aspect or None, target)
    except ImportError as err:
        _fail(f'explain needs captum: pip install "sentimentkit[explain]" ({err})')
    except _user_errors() as err:
        _fail(_message(err))
    if output is not None:
        save_attributions(attributions, output)
        typer.echo(f"wrote {output}", err=True)
    if as_json:
        for a in attributions:
            typer.echo(json.dumps(a.to_dict(), ensure_ascii=False))
    elif output is None:
        _show_attributions(attributions)


def _explain_clips(pipeline: Any, clip: str, steps: int, aspect: Any, target: str | None) -> list[Any]:
    from .explain import ClipExplainer

    if aspect or target:
        raise ValueError("a multimodal model explains its sentiment value: drop --aspect and --target")
    path = Path(clip)
    if path.suffix.lower() != ".npz":
        raise ValueError(
            f"{clip!r}: a multimodal model explains a clip file (.npz): extract one with "
            "`sentimentkit features CLIP --transcript TEXT -o clip.npz`"
        )
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such clip file")
    return ClipExplainer(pipeline, steps=steps).explain(path)


def _show_attributions(attributions: list[Any]) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    for a in attributions:
        if hasattr(a, "modality_totals"):
            _show_clip(console, a)
            continue
        head = f"{a.label} (p={a.probability:.3f})" + (f" for aspect {a.aspect!r}" if a.aspect else "")
        console.print(head, style="bold")
        scale = max((abs(w.score) for w in a.words if w.score is not None), default=0.0) or 1.0
        line, cursor = Text(), a.offset
        for w in a.words:
            line.append(a.text[cursor - a.offset : w.start - a.offset])
            strength = 0.0 if w.score is None else w.score / scale
            style = "on green" if strength > 0.33 else "on red" if strength < -0.33 else ""
            style += " underline" if w.aspect else ""
            line.append(w.word, style=style.strip() or None)
            cursor = w.end
        console.print(line)
        toward = ", ".join(f"{w.word} {w.score:+.3f}" for w in a.top(5)) or "none"
        against = ", ".join(f"{w.word} {w.score:+.3f}" for w in a.top(5, toward=False)) or "none"
        console.print(f"  toward: {toward}\n  against: {against}")
        console.print(f"  integrated gradients, {a.steps} steps, completeness delta {a.delta:+.4f}", style="dim")


def _show_clip(console: Any, a: Any) -> None:
    name = f"{a.id}: " if a.id else ""
    console.print(f"{name}value {a.value:+.3f} ({a.polarity}); baseline {a.baseline_value:+.3f}", style="bold")
    console.print("  " + ", ".join(f"{k} {v:+.3f}" for k, v in a.modality_totals.items()))
    words = sorted((w for w in a.words if w.score is not None), key=lambda w: -abs(w.score))[:5]
    console.print("  words: " + (", ".join(f"{w.word} {w.score:+.3f}" for w in words) or "none"))
    for modality in ("audio", "vision"):
        frames = ", ".join(f"#{i} {s:+.3f}" for i, s in a.top_frames(modality, 5)) or "no frames"
        console.print(f"  {modality} frames: {frames}")
    console.print(f"  integrated gradients, {a.steps} steps, completeness delta {a.delta:+.4f}", style="dim")


# `store` sub-commands: their module imports only typer at the top (SQLAlchemy loads inside the commands), so
# mounting them keeps `sentimentkit analyze` fast.
from .store.cli import app as store_app  # noqa: E402

app.add_typer(store_app, name="store", help="Store predictions in SQLite or PostgreSQL, query them, report.")

# `monitor`: its module imports only typer at the top (redis, SQLAlchemy and the models load inside the command).
from .monitor.cli import monitor  # noqa: E402

app.command()(monitor)

from .batch.cli import batch  # noqa: E402  (`batch`: pyspark loads inside the command)
from .multimodal.cli import features  # noqa: E402  (`features`: PyAV and librosa load inside the command)

app.command()(batch)
app.command()(features)

# `serve`: its module imports only typer at the top (FastAPI, uvicorn and the models load inside the command).
from .serve.cli import serve  # noqa: E402

app.command()(serve)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
