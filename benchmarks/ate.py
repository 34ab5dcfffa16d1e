"""Aspect term extraction: train an extraction config on the joint SemEval-2014 train set, score each test set.

    python benchmarks/ate.py --model ate --seeds 1               # configs/ate.yaml, full fine-tuning
    python benchmarks/ate.py --model absa-en-extractor --seeds 1  # the shipped extractor (LoRA)

Each seed trains `configs/<model>.yaml` into runs/<model>/seed<n> (resuming what exists; selection on span F1
of the validation split carved from the joint train set), then scores exact-match span precision, recall and F1
on the Restaurant14 and Laptop14 test sentences separately. Rows go to results/absa.json, one per test set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import command_line, summary, write_rows

from sentimentkit.training.experiment import environment, evaluate, load_experiment, train

CONFIGS = Path(__file__).parents[1] / "configs"
TESTS = ("restaurant14-ate", "laptop14-ate")
METRICS = ("f1_ate", "precision_ate", "recall_ate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ate", help="an aspect-extraction config name in configs/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    config_path = CONFIGS / f"{args.model}.yaml"
    scores: dict[str, list[dict]] = {name: [] for name in TESTS}
    for seed in args.seeds:
        out = Path(args.runs) / args.model / f"seed{seed}"
        extra = [f"train.seed={seed}", f"output={out}"] + ([f"data.data_dir={args.data_dir}"] if args.data_dir else [])
        config = load_experiment(config_path, extra)
        if config.model.get("type") != "ate":
            raise SystemExit(f"{config_path} trains a {config.model.get('type')!r} model, not an extractor (ate)")
        if not args.eval_only:
            train(config, progress=False)
        for name in TESTS:
            test = evaluate(out / "best", name, "test", data_dir=args.data_dir)
            (out / f"test-{name}.json").write_text(json.dumps(test, indent=2) + "\n")
            print(f"{args.model} seed {seed} {name}: span F1 {test['f1_ate']:.4f}", flush=True)
            scores[name].append(test)

    rows = [
        {
            "suite": "absa",
            "task": "aspect-extraction",
            "dataset": name,
            "split": "test",
            "model": args.model,
            "backbone": "all-MiniLM-L6-v2",
            "metrics": {m: summary([r[m] for r in scores[name]]) for m in METRICS},
            "settings": {
                "train": config.data.train,
                "max_length": config.data.max_length,
                "adapter": config.model.get("adapter", "full"),
                "epochs": config.train.epochs,
                "selection": f"validation {config.train.metric} (carved from the joint train set)",
                "matching": "exact character span",
                "seeds": args.seeds,
            },
            "command": command_line(),
            "env": environment(),
        }
        for name in TESTS
    ]
    print(write_rows("absa", rows))


if __name__ == "__main__":
    main()
