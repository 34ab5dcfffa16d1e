"""Aspect sentiment throughput of a shipped aspect model on raw review sentences, parsing included.

    python benchmarks/aspects_speed.py                  # absa-en, Restaurant14 + Laptop14 test sentences
    python benchmarks/aspects_speed.py --threads 2 --rounds 3 --backends onnx

Each backend (`--backends`, default torch and onnx: the checkpoint on torch, and the compiled ONNX copy that
`load` runs by default) is loaded in the same process and measured round by round, alternating. Per round and
backend: the parse cache is cleared, then
  end-to-end   pipeline(texts): sentence cutting, extraction, parsing, polarity  -> aspects/s, sentences/s
  given terms  pipeline(texts, aspects=gold terms per text), parse cache cleared -> aspects/s
  parse only   the parser over the same sentences, cache cleared                  -> sentences/s
The median over rounds goes to results/absa.json (suite absa, task aspect-throughput), one row per backend; each
row also carries its end-to-end throughput relative to the torch backend's in the same run.
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
    parser.add_argument("--backends", nargs="+", choices=("torch", "onnx"), default=["torch", "onnx"])
    parser.add_argument("--note", default=None, help="how loaded the machine was, kept with the rows")
    args = parser.parse_args()

    import torch

    import sentimentkit
    from sentimentkit.encoders.pool import inference_runtime

    torch.set_num_threads(args.threads)
    sentences = [s for name in ("restaurant14-ate", "laptop14-ate") for s in load_dataset(name, "test", args.data_dir)]
    texts = [s.text for s in sentences]
    gold = [sorted({t.term for t in s.terms}) for s in sentences]
    pipelines = {
        b: sentimentkit.load(
            args.model, batch_size=args.batch_size, backend=b, runtime=inference_runtime(threads=args.threads)
        )
        for b in args.backends
    }
    dep_parser = graph_parser(next(iter(pipelines.values())))
    for absa in pipelines.values():
        absa(texts[:64])  # warm-up: first-call allocations, lazy imports

    runs = {b: {"end_to_end": [], "given_terms": [], "parse_only": []} for b in pipelines}
    counts: dict[str, dict[str, int]] = {b: {} for b in pipelines}
    for _ in range(args.rounds):
        for backend, absa in pipelines.items():
            dep_parser.clear_cache()
            start = time.perf_counter()
            found = absa(texts)
            runs[backend]["end_to_end"].append(time.perf_counter() - start)
            counts[backend]["end_to_end"] = sum(len(p.aspects) for p in found)

            dep_parser.clear_cache()
            start = time.perf_counter()
            scored = absa(texts, aspects=gold)
            runs[backend]["given_terms"].append(time.perf_counter() - start)
            counts[backend]["given_terms"] = sum(len(p.aspects) for p in scored)

            dep_parser.clear_cache()
            start = time.perf_counter()
            dep_parser.parse_many(texts)
            runs[backend]["parse_only"].append(time.perf_counter() - start)
    rows = [_row(args, b, runs, counts, len(texts)) for b in pipelines]
    print(write_rows("absa", rows, replace={"task": "aspect-throughput"}))


def _row(args, backend: str, runs: dict, counts: dict, n: int) -> dict:
    seconds = {k: statistics.median(v) for k, v in runs[backend].items()}
    metrics = {
        "end_to_end_aspects_per_s": counts[backend]["end_to_end"] / seconds["end_to_end"],
        "end_to_end_sentences_per_s": n / seconds["end_to_end"],
        "given_terms_aspects_per_s": counts[backend]["given_terms"] / seconds["given_terms"],
        "parse_only_sentences_per_s": n / seconds["parse_only"],
        "parse_share_of_end_to_end": seconds["parse_only"] / seconds["end_to_end"],
        "aspects_found": counts[backend]["end_to_end"],
        "aspects_given": counts[backend]["given_terms"],
    }
    if "torch" in runs:
        metrics["end_to_end_vs_torch"] = statistics.median(runs["torch"]["end_to_end"]) / seconds["end_to_end"]
    print(f"== {backend}")
    for k, v in metrics.items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    return {
        "suite": "absa",
        "task": "aspect-throughput",
        "dataset": "restaurant14-ate+laptop14-ate",
        "split": "test",
        "model": f"{args.model} ({backend})",
        "backbone": "all-MiniLM-L6-v2",
        "metrics": {
            k: {"mean": v, "std": 0.0, "n": args.rounds, "aggregate": "median"}
            if isinstance(v, float)
            else {"mean": v, "std": 0.0, "n": 1}
            for k, v in metrics.items()
        },
        "settings": {
            "sentences": n,
            "threads": args.threads,
            "batch_size": args.batch_size,
            "rounds": args.rounds,
            "backend": backend,
            "statistic": "median seconds over rounds",
            "note": args.note,
        },
        "command": command_line(),
        "env": environment(),
    }


if __name__ == "__main__":
    main()
