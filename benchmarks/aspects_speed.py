"""Aspect sentiment throughput of a shipped aspect model on raw review sentences, parsing included.

    python benchmarks/aspects_speed.py                  # absa-en, Restaurant14 + Laptop14 test sentences
    python benchmarks/aspects_speed.py --threads 2 --rounds 3

Per round, in one process: the parse cache is cleared, then
  end-to-end   pipeline(texts): sentence cutting, extraction, parsing, polarity  -> aspects/s, sentences/s
  given terms  pipeline(texts, aspects=gold terms per text), parse cache cleared -> aspects/s
  parse only   the parser over the same sentences, cache cleared                  -> sentences/s
The median over rounds goes to results/absa.json (suite absa, task aspect-throughput).
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import command_line, write_rows

from sentimentkit.data.datasets import load_dataset
from sentimentkit.training.experiment import environment


def graph_parser(pipeline):
    """The dependency parser the pipeline's polarity model reads raw text with (shared per process)."""
    from sentimentkit.data.syntax import DEFAULT_PARSER, shared_parser

    polarity = getattr(pipeline.task, "polarity", pipeline.task)  # a bundle's polarity part, or the model itself
    if not getattr(polarity, "uses_graph", False):
        raise SystemExit(f"{pipeline.manifest.path}: not an aspect model that reads dependency parses")
    return shared_parser(DEFAULT_PARSER if polarity.parser == "dataset" else polarity.parser)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="absa-en")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    import torch

    import sentimentkit

    torch.set_num_threads(args.threads)
    sentences = [s for name in ("restaurant14-ate", "laptop14-ate") for s in load_dataset(name, "test", args.data_dir)]
    texts = [s.text for s in sentences]
    gold = [sorted({t.term for t in s.terms}) for s in sentences]
    absa = sentimentkit.load(args.model, batch_size=args.batch_size)
    dep_parser = graph_parser(absa)
    absa(texts[:64])  # warm-up: first-call allocations, lazy imports

    runs: dict[str, list[float]] = {"end_to_end": [], "given_terms": [], "parse_only": []}
    counts: dict[str, int] = {}
    for _ in range(args.rounds):
        dep_parser.clear_cache()
        start = time.perf_counter()
        found = absa(texts)
        runs["end_to_end"].append(time.perf_counter() - start)
        counts["end_to_end"] = sum(len(p.aspects) for p in found)

        dep_parser.clear_cache()
        start = time.perf_counter()
        scored = absa(texts, aspects=gold)
        runs["given_terms"].append(time.perf_counter() - start)
        counts["given_terms"] = sum(len(p.aspects) for p in scored)

        dep_parser.clear_cache()
        start = time.perf_counter()
        dep_parser.parse_many(texts)
        runs["parse_only"].append(time.perf_counter() - start)
    seconds = {k: statistics.median(v) for k, v in runs.items()}
    metrics = {
        "end_to_end_aspects_per_s": counts["end_to_end"] / seconds["end_to_end"],
        "end_to_end_sentences_per_s": len(texts) / seconds["end_to_end"],
        "given_terms_aspects_per_s": counts["given_terms"] / seconds["given_terms"],
        "parse_only_sentences_per_s": len(texts) / seconds["parse_only"],
        "parse_share_of_end_to_end": seconds["parse_only"] / seconds["end_to_end"],
        "aspects_found": counts["end_to_end"],
        "aspects_given": counts["given_terms"],
    }
    for k, v in metrics.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    row = {
        "suite": "absa",
        "task": "aspect-throughput",
        "dataset": "restaurant14-ate+laptop14-ate",
        "split": "test",
        "model": args.model,
        "backbone": "all-MiniLM-L6-v2",
        "metrics": {
            k: {"mean": v, "std": 0.0, "n": args.rounds, "aggregate": "median"}
            if isinstance(v, float)
            else {"mean": v, "std": 0.0, "n": 1}
            for k, v in metrics.items()
        },
        "settings": {
            "sentences": len(texts),
            "threads": args.threads,
            "batch_size": args.batch_size,
            "rounds": args.rounds,
            "statistic": "median seconds over rounds",
        },
        "command": command_line(),
        "env": environment(),
    }
    print(write_rows("absa", [row]))


if __name__ == "__main__":
    main()
