"""One model config on one named dataset over seeds, scored on the test split (document and aspect models).

    python benchmarks/document.py --model moe --dataset sst5 --seeds 1 2 3

IMDb reviews are long: the study's IMDb rows train on a 4000-review sample (drawn with the seed), read 256
tokens head+tail, select every half epoch and score a fixed stratified 5000-review sample of the test split:

    python benchmarks/document.py --model full-ft --dataset imdb --seeds 1 --set data.max_length=256 \\
        --set data.truncation=head+tail --set data.train_subset=4000 --set train.epochs=1 \\
        --set train.eval_every=63 --set train.checkpoint_every=63 --test-subset 5000

Trains `configs/<model>.yaml` with `data.train=<dataset>` (selection on the dataset's validation split,
carved from train where it has none), then writes a row to results/document.json: accuracy and weighted
precision/recall/F1 (and macro F1), mean and std over the seeds, with the settings that define the run.

Each seed's run folder is `<runs>/<dataset>/<model>/seed<n>`; runs with `--set` overrides are a variant of the
config and get their own folder, `<runs>/<dataset>/<model>~<hash of the sorted overrides>/seed<n>` (the overrides
are written beside it in `overrides.json`), so that no two configs share a run folder.

`--test-on D ...` also scores the same runs on other datasets' test splits, one row each (the row's
`settings.train_data` names what the model was trained on), e.g. a model trained on laptop + restaurant:

    python benchmarks/document.py --model iagcn --dataset absa14 --seeds 1 2 3 --test-on laptop14 restaurant14
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from common import command_line, run_seeds, score_runs, summary, write_rows

from sentimentkit.data.datasets import DATASETS
from sentimentkit.training.experiment import environment, load_experiment

CONFIGS = Path(__file__).parents[1] / "configs"
METRICS = {
    "default": ("accuracy", "f1_weighted", "precision_weighted", "recall_weighted", "f1_macro"),
    "aspect-extraction": ("f1_ate", "precision_ate", "recall_ate"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a config name in configs/, e.g. moe")
    parser.add_argument("--dataset", required=True, choices=[n for n in DATASETS.names() if n != "ud-ewt"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="dotted config override")
    parser.add_argument("--runs", default="runs/document")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--test-subset", type=int, default=None, help="score a stratified sample of the test split")
    parser.add_argument("--test-on", nargs="+", default=[], metavar="DATASET", help="also score on these test splits")
    args = parser.parse_args()
    for other in args.test_on:  # before any training
        if other not in DATASETS:
            parser.error(f"--test-on {other!r}: not a dataset name (known: {', '.join(DATASETS.names())})")

    config_path = CONFIGS / f"{args.model}.yaml"
    overrides = [f"data.train={args.dataset}", *args.overrides]
    runs = run_folder(Path(args.runs), args.dataset, args.model, args.overrides)
    per_seed = run_seeds(
        config_path, args.dataset, args.seeds, runs, overrides, args.eval_only, args.data_dir, args.test_subset
    )

    config = load_experiment(config_path, overrides)
    scored = [(args.dataset, per_seed)]
    for other in args.test_on:
        scored.append((other, score_runs(runs, args.seeds, other, args.data_dir, args.test_subset)))
    rows = [_row(args, config, dataset, results) for dataset, results in scored]
    print(write_rows(rows[0]["suite"], rows))


def run_folder(root: Path, dataset: str, model: str, overrides: list[str]) -> Path:
    """Where the seeds of (model, dataset, variant) live: a config with `--set` overrides is its own variant."""
    if not overrides:
        return root / dataset / model
    canonical = sorted(overrides)
    tag = hashlib.sha1("\n".join(canonical).encode()).hexdigest()[:8]
    folder = root / dataset / f"{model}~{tag}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "overrides.json").write_text(json.dumps(canonical, indent=2) + "\n")
    return folder


def _row(args: argparse.Namespace, config, dataset: str, per_seed: list[dict]) -> dict:
    task = DATASETS.get(dataset).scheme
    suite = {"aspect-polarity": "absa", "aspect-extraction": "absa"}.get(task, "document")
    return {
        "suite": suite,
        "task": task,
        "dataset": dataset,
        "split": "test",
        "model": args.model,
        "backbone": "all-MiniLM-L6-v2" if config.model.get("type") != "bilstm-attn" else "none (trained from scratch)",
        "metrics": _metrics(per_seed, METRICS.get(task, METRICS["default"]), config.train.metric),
        "settings": {
            "train_data": args.dataset if dataset != args.dataset else None,
            "max_length": config.data.max_length,
            "truncation": config.data.truncation,
            "epochs": config.train.epochs,
            "train_subset": config.data.train_subset,
            "test_subset": args.test_subset,
            "selection": f"validation {config.train.metric}, every {config.train.eval_every or 'epoch'} steps",
            "overrides": args.overrides or None,
            "seeds": args.seeds,
        },
        "command": command_line(),
        "env": environment(),
    }


def _metrics(per_seed: list[dict], names: tuple[str, ...], selected_on: str) -> dict:
    """Test metrics over the seeds, and the validation score each seed's model was selected on."""
    metrics = {m: summary([r[m] for r in per_seed]) for m in names}
    validation = [(r.get("validation") or {}).get(selected_on) for r in per_seed]
    if all(v is not None for v in validation):
        metrics[f"validation_{selected_on}"] = summary(validation)
    return metrics


if __name__ == "__main__":
    main()
