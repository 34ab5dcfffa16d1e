"""Faithfulness of explanations: integrated gradients against random and attention rankings, by deletion.

    python benchmarks/faithfulness.py                       # 500 SST-5 test sentences + 500 Restaurant14 aspects
    python benchmarks/faithfulness.py --n 100 --what sst5   # a quicker look

For each example (a seeded sample of the test split): the shipped model's prediction is explained with integrated
gradients (`--steps`), and three word rankings are scored by deleting words (sentimentkit.explain.faithfulness:
comprehensiveness, higher is better; sufficiency, lower is better; both averaged over deleting 10/20/30/50 % of the
words): integrated gradients, the model's own attention (sentiment-en: the encoder's last-layer attention received;
absa-en: IAGCN's context attention) and a random order. The aspect is never deleted. Mean and std over examples,
the paired difference IG - random with its standard error, and the share of examples where IG beats random, go to
results/explain.json (suite explain, task faithfulness). One thread.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from common import command_line, write_rows

from sentimentkit.data.datasets import load_dataset
from sentimentkit.training.experiment import environment

RANKINGS = ("integrated-gradients", "attention", "random")
SETS = {"sst5": ("sst5", "sentiment-en"), "restaurant14": ("restaurant14", "absa-en")}


def _stats(values: list[float]) -> dict:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def run(dataset: str, model: str, n: int, steps: int, seed: int, data_dir: str | None) -> dict:
    import sentimentkit
    from sentimentkit.explain import Explainer
    from sentimentkit.explain.faithfulness import deletion

    examples = load_dataset(dataset, "test", data_dir)
    sample = random.Random(seed).sample(examples, min(n, len(examples)))
    explainer = Explainer(sentimentkit.load(model), steps=steps)
    scores: dict[str, dict[str, list[float]]] = {h: {"comp": [], "suff": []} for h in RANKINGS}
    deltas, seconds, skipped = [], [], 0
    for k, x in enumerate(sample):
        encoded = explainer.encode_aspect(x) if hasattr(x, "aspect") else explainer.encode(x.text)[0]
        start = time.perf_counter()
        a = explainer.attribute(encoded)
        seconds.append(time.perf_counter() - start)
        deltas.append(abs(a.delta))
        results = {h: deletion(explainer, encoded, a, h, seed=seed + k) for h in RANKINGS}
        if any(r is None for r in results.values()):
            skipped += 1  # nothing to rank (a one-word aspect sentence)
            continue
        for h, r in results.items():
            scores[h]["comp"].append(r.comprehensiveness)
            scores[h]["suff"].append(r.sufficiency)
        if (k + 1) % 50 == 0:
            ig, rnd = scores["integrated-gradients"], scores["random"]
            print(f"{dataset} {k + 1}/{len(sample)}: comp IG {statistics.fmean(ig['comp']):.3f} "
                  f"random {statistics.fmean(rnd['comp']):.3f}", flush=True)  # fmt: skip
    metrics = {}
    for h in RANKINGS:
        metrics[f"comprehensiveness_{h}"] = _stats(scores[h]["comp"])
        metrics[f"sufficiency_{h}"] = _stats(scores[h]["suff"])
    for other in ("random", "attention"):
        diff = [a - b for a, b in zip(scores["integrated-gradients"]["comp"], scores[other]["comp"], strict=True)]
        m = len(diff)
        metrics[f"comprehensiveness_ig_minus_{other}"] = {
            **_stats(diff),
            "stderr": statistics.stdev(diff) / m**0.5 if m > 1 else 0.0,
            "share_ig_better": sum(d > 0 for d in diff) / m,
        }
    metrics["abs_completeness_delta"] = _stats(deltas)
    metrics["seconds_per_explanation"] = _stats(seconds)
    for key, value in metrics.items():
        print(f"{dataset} {key}: {value['mean']:.4f} (std {value['std']:.4f}, n {value['n']})")
    return {
        "suite": "explain",
        "task": "faithfulness",
        "dataset": dataset,
        "split": "test",
        "model": model,
        "backbone": "all-MiniLM-L6-v2",
        "metrics": metrics,
        "settings": {
            "examples": len(sample),
            "skipped_nothing_to_rank": skipped,
            "steps": steps,
            "seed": seed,
            "fractions_deleted": [0.1, 0.2, 0.3, 0.5],
            "baseline": "[PAD] for content subwords, [CLS]/[SEP] and the aspect kept",
            "threads": 1,
        },
        "command": command_line(),
        "env": environment(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--what", default="sst5,restaurant14", help="comma-separated: sst5, restaurant14")
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    rows = []
    for name in args.what.split(","):
        if name not in SETS:
            raise SystemExit(f"--what {name!r}: expected one of {sorted(SETS)}")
        dataset, model = SETS[name]
        rows.append(run(dataset, model, args.n, args.steps, args.seed, args.data_dir))
    print(write_rows("explain", rows))


if __name__ == "__main__":
    main()
