"""SST-5 benchmark of the shipped `sentiment-en` config: train per seed, select on dev, score on test.

    python benchmarks/sst5.py --seeds 1 2 3            # trains what is missing (resumable), then evaluates
    python benchmarks/sst5.py --seeds 1 2 3 --eval-only

Each seed trains `configs/sentiment-en.yaml` with `train.seed` and `output` overridden; rows named
`sentiment-en` go to results/document.json with 5-class accuracy/F1 and 3-class accuracy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import command_line, run_seeds, summary, write_rows

from sentimentkit.labels import FIVE_TO_THREE, SENTIMENT5
from sentimentkit.training.experiment import environment, load_experiment

CONFIG = Path(__file__).parents[1] / "configs" / "sentiment-en.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--runs", default="runs/sentiment-en", help="where each seed's run folder goes")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    per_seed = run_seeds(CONFIG, "sst5", args.seeds, Path(args.runs), [], args.eval_only, args.data_dir)
    three = [FIVE_TO_THREE[n] for n in SENTIMENT5.names]
    for seed, test in zip(args.seeds, per_seed, strict=True):
        confusion = test["confusion"]
        test["acc3"] = sum(confusion[t][p] for t in range(5) for p in range(5) if three[t] == three[p]) / test["n"]
        (Path(args.runs) / f"seed{seed}" / "test_metrics.json").write_text(json.dumps(test, indent=2) + "\n")
        print(f"seed {seed}: acc5 {test['accuracy']:.4f} f1w {test['f1_weighted']:.4f} acc3 {test['acc3']:.4f}")

    config = load_experiment(CONFIG)
    metrics = {
        name: summary([m[source] for m in per_seed])
        for name, source in [
            ("accuracy", "accuracy"),
            ("f1_macro", "f1_macro"),
            ("f1_weighted", "f1_weighted"),
            ("precision_weighted", "precision_weighted"),
            ("recall_weighted", "recall_weighted"),
            ("acc3", "acc3"),
        ]
    }
    row = {
        "suite": "document",
        "task": "sentiment-5",
        "dataset": "sst5",
        "split": "test",
        "model": "sentiment-en",
        "backbone": "all-MiniLM-L6-v2",
        "metrics": metrics,
        "settings": {
            "max_length": config.data.max_length,
            "epochs": config.train.epochs,
            "train_subset": None,
            "train_data": "sst5 train phrases (all nodes, deduplicated)",
            "selection": "sst5 dev sentence accuracy",
            "adapter": f"lora r={config.model['lora_r']}",
            "seeds": args.seeds,
        },
        "command": command_line(),
        "env": environment(),
    }
    print(write_rows("document", [row]))


if __name__ == "__main__":
    main()
