"""SST test sentences, 3 classes: the shipped model side by side with VADER and TextBlob, with throughput.

    python benchmarks/sst5_baselines.py [--model sentiment-en] [--repeats 3]

Gold 3-class labels collapse SST-5 (0-1 negative, 2 neutral, 3-4 positive). Lexicon baselines use their usual
thresholds: VADER compound >= 0.05 positive, <= -0.05 negative, else neutral; TextBlob polarity > 0 positive,
< 0 negative, 0 neutral. Throughput: every system scores all test sentences `--repeats` times in this one
process (single-threaded lexicons, our model on the same machine's default torch threads); the median run
gives sentences/s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from common import command_line, summary, write_rows

import sentimentkit
from sentimentkit.data.datasets import load_dataset
from sentimentkit.labels import FIVE_TO_THREE, POLARITY3
from sentimentkit.metrics import classification_metrics
from sentimentkit.training.experiment import environment


def vader() -> Callable[[list[str]], list[str]]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def predict(texts: list[str]) -> list[str]:
        scores = [analyzer.polarity_scores(t)["compound"] for t in texts]
        return ["positive" if s >= 0.05 else "negative" if s <= -0.05 else "neutral" for s in scores]

    return predict


def textblob() -> Callable[[list[str]], list[str]]:
    from textblob import TextBlob

    def predict(texts: list[str]) -> list[str]:
        scores = [TextBlob(t).sentiment.polarity for t in texts]
        return ["positive" if s > 0 else "negative" if s < 0 else "neutral" for s in scores]

    return predict


def ours(model: str) -> Callable[[list[str]], list[str]]:
    pipeline = sentimentkit.load(model)

    def predict(texts: list[str]) -> list[str]:
        return [p.polarity for p in pipeline(texts)]

    return predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sentiment-en")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    test = load_dataset("sst5", "test", args.data_dir)
    texts = [x.text for x in test]
    gold = POLARITY3.ids(FIVE_TO_THREE[x.label] for x in test)
    systems = {"vader": vader(), "textblob": textblob(), args.model: ours(args.model)}
    rows = []
    for name, predict in systems.items():
        predict(texts[:64])  # warm-up
        rates, predictions = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            predictions = predict(texts)
            rates.append(len(texts) / (time.perf_counter() - start))
        m = classification_metrics(gold, POLARITY3.ids(predictions), POLARITY3)
        print(
            f"{name:14s} acc3 {m['accuracy']:.4f}  f1_macro {m['f1_macro']:.4f}  {statistics.median(rates):.0f} sent/s"
        )
        rows.append(
            {
                "suite": "document",
                "task": "sentiment-3",
                "dataset": "sst5",
                "split": "test",
                "model": name,
                "backbone": "all-MiniLM-L6-v2" if name == args.model else "lexicon",
                "metrics": {
                    "acc3": summary([m["accuracy"]]),
                    "f1_macro": summary([m["f1_macro"]]),
                    "samples_per_s": {**summary(rates), "mean": statistics.median(rates), "aggregate": "median"},
                },
                "settings": {
                    "max_length": 96 if name == args.model else None,
                    "epochs": None,
                    "train_subset": None,
                    "mapping": "SST-5 0-1 negative, 2 neutral, 3-4 positive",
                    "threshold": {"vader": "compound +-0.05", "textblob": "polarity sign"}.get(
                        name, "argmax of summed probs"
                    ),
                    "throughput": f"{len(texts)} sentences x {args.repeats} runs, same process",
                },
                "command": command_line(),
                "env": environment(),
            }
        )
    print(write_rows("document", rows))


if __name__ == "__main__":
    main()
