"""One model config on one named dataset over seeds, scored on the test split (document and aspect models).

    python benchmarks/document.py --model moe --dataset sst5 --seeds 1 2 3
    python benchmarks/document.py --model full-ft --dataset imdb --seeds 1 --set data.max_length=256 \\
        --set data.truncation=head+tail --set data.train_subset=5000 --test-subset 5000

Trains `configs/<model>.yaml` with `data.train=<dataset>` (selection on the dataset's validation split,
carved from train where it has none), then writes a row to results/document.json: accuracy and weighted
precision/recall/F1 (and macro F1), mean and std over the seeds, with the settings that define the run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import command_line, run_seeds, summary, write_rows

from sentimentkit.config import load_config
from sentimentkit.data.datasets import DATASETS
from sentimentkit.training.experiment import environment

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
    args = parser.parse_args()

    config_path = CONFIGS / f"{args.model}.yaml"
    overrides = [f"data.train={args.dataset}", *args.overrides]
    runs = Path(args.runs) / args.dataset / args.model
    per_seed = run_seeds(
        config_path, args.dataset, args.seeds, runs, overrides, args.eval_only, args.data_dir, args.test_subset
    )

    config = load_config(config_path, overrides)
    task = DATASETS.get(args.dataset).task
    suite = {"aspect-polarity": "absa", "aspect-extraction": "absa"}.get(task, "document")
    row = {
        "suite": suite,
        "task": task,
        "dataset": args.dataset,
        "split": "test",
        "model": args.model,
        "backbone": "all-MiniLM-L6-v2" if config.model.get("type") != "bilstm-attn" else "none (trained from scratch)",
        "metrics": {m: summary([r[m] for r in per_seed]) for m in METRICS.get(task, METRICS["default"])},
        "settings": {
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
    print(write_rows(suite, [row]))


if __name__ == "__main__":
    main()
