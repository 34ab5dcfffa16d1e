"""Calibration of the shipped models: temperature scaling fit on validation, ECE and reliability diagrams per test set.

For each shipped model the temperature is fit on its validation split (the data it was selected on: SST-5
validation for sentiment-en, the carved absa14 validation for absa-en's polarity model) with the library's own
`training.calibrate.fit_temperature`, and checked against the temperature stored in the model folder (written by
`sentimentkit calibrate`). Each test set is then scored once; the expected calibration error (15 equal-width bins
of the max probability) and the NLL are reported before (T = 1) and after (the fitted T), with a reliability
diagram per test set. Labels do not change with T, so accuracy is one number (and so is the manifest's
sst5_test_acc3, which collapses the argmax label); sentiment-en's `Prediction.polarity` (the polarity whose 5-point
classes have the largest summed probability) can move, so its 3-way accuracy is reported before and after
(acc3_summed_*).

Writes benchmarks/results/calibration.json and benchmarks/results/calibration/<model>_<dataset>.png.

    python benchmarks/calibration.py [--models sentiment-en absa-en] [--cache runs/calibration]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, command_line, write_rows

from sentimentkit.hub import PRETRAINED_DIR, Manifest
from sentimentkit.labels import SENTIMENT5
from sentimentkit.metrics import ECE_BINS, expected_calibration_error, negative_log_likelihood, reliability_bins
from sentimentkit.tasks.base import softmax
from sentimentkit.training.calibrate import calibrated_part, fit_temperature, logits_and_labels
from sentimentkit.training.experiment import environment

ECE_TARGET = 0.05
# model -> (validation data, test sets)
MODELS = {
    "sentiment-en": ("sst5", ("sst5",)),
    "absa-en": ("absa14", ("laptop14", "restaurant14", "restaurant15", "restaurant16", "twitter")),
}
FIGURES = RESULTS / "calibration"


def cached_logits(manifest: Manifest, dataset: str, split: str, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """The model's raw logits and true ids on a split; reused from `cache` when the same weights and preprocessing
    made them."""
    weights = manifest.path / "model.safetensors"
    key = hashlib.sha256(weights.read_bytes() + json.dumps(dict(manifest.preprocessing), sort_keys=True).encode())
    path = None if cache is None else cache / f"{manifest.path.parent.name}_{manifest.path.name}_{dataset}_{split}.npz"
    if path is not None and path.exists():
        saved = np.load(path)
        if str(saved["key"]) == key.hexdigest():
            return saved["logits"], saved["labels"]
    logits, labels = logits_and_labels(manifest, dataset, split)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, logits=logits, labels=labels, key=key.hexdigest())
    return logits, labels


def polarity_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """3-way accuracy of a 5-point model: the polarity with the largest summed probability against the true one."""
    grouped = [SENTIMENT5.polarity_probabilities(p) for p in probabilities]
    predicted = [max(g, key=g.get) for g in grouped]
    truth = [SENTIMENT5.polarity_map[SENTIMENT5.names[y]] for y in labels]
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def scores(logits: np.ndarray, labels: np.ndarray, temperature: float, five_point: bool) -> dict[str, dict]:
    before, after = softmax(logits.astype(np.float64)), softmax(logits.astype(np.float64) / temperature)
    confident = before.max(-1) >= 0.99
    values = {
        "accuracy": float((before.argmax(-1) == labels).mean()),
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "nll_before": negative_log_likelihood(before, labels),
        "nll_after": negative_log_likelihood(after, labels),
        "share_confident_before": float(confident.mean()),  # max probability >= 0.99 (the measure)
        "share_confident_after": float((after.max(-1) >= 0.99).mean()),
    }
    if five_point:
        values["acc3_summed_before"] = polarity_accuracy(before, labels)
        values["acc3_summed_after"] = polarity_accuracy(after, labels)
    return {k: {"mean": v, "std": 0.0, "n": 1, "values": [v]} for k, v in values.items()}


def diagram(logits: np.ndarray, labels: np.ndarray, temperature: float, title: str, path: Path) -> None:
    """Reliability diagram before and after: accuracy per confidence bin against the diagonal, with counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
    for ax, (name, t) in zip(
        axes, (("before (T = 1)", 1.0), (f"after (T = {temperature:.3f})", temperature)), strict=True
    ):
        probs = softmax(logits.astype(np.float64) / t)
        table = reliability_bins(probs, labels, ECE_BINS)
        width = 1.0 / ECE_BINS
        centers = [b["lower"] + width / 2 for b in table]
        filled = [b for b in table if b["count"]]  # empty bins get no bar
        at = [b["lower"] + width / 2 for b in filled]
        accuracy = np.array([b["accuracy"] for b in filled])
        confidence = np.array([b["confidence"] for b in filled])
        ax.bar(at, accuracy, width=width * 0.95, color="#4c72b0", edgecolor="black", label="accuracy")
        ax.bar(
            at, confidence - accuracy, bottom=accuracy, width=width * 0.95, color="#dd8452", alpha=0.45,
            edgecolor="#dd8452", label="gap to mean confidence",
        )  # fmt: skip
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ece = expected_calibration_error(probs, labels, ECE_BINS)
        ax.set_title(f"{name}\nECE {ece:.4f}")
        ax.set_xlabel("confidence (max probability)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        twin = ax.twinx()
        twin.plot(centers, [b["count"] / len(labels) for b in table], "o-", color="grey", markersize=3)
        twin.set_ylim(0, 1)
        twin.set_yticks([])
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"{title} (grey: share of predictions per bin)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--cache", type=Path, default=Path("runs/calibration"), help="logits cache ('' for none)")
    args = parser.parse_args()
    cache = args.cache if str(args.cache) else None
    rows = []
    for name in args.models:
        validation, tests = MODELS[name]
        manifest = calibrated_part(PRETRAINED_DIR / name)
        logits, labels = cached_logits(manifest, validation, "validation", cache)
        temperature = fit_temperature(logits, labels)
        stored = manifest.temperature
        if abs(stored - temperature) > 1e-3 * temperature:
            print(f"warning: {name} stores T = {stored}, the fit on {validation} validation gives {temperature:.6f}")
        five_point = manifest.labels == SENTIMENT5
        for dataset, split in [(validation, "validation"), *((t, "test") for t in tests)]:
            z, y = (logits, labels) if split == "validation" else cached_logits(manifest, dataset, split, cache)
            metrics = scores(z, y, temperature, five_point)
            met = metrics["ece_after"]["mean"] <= ECE_TARGET
            print(
                f"{name:13s} {dataset:13s} {split:10s} n={len(y):5d} T={temperature:.4f} "
                f"acc={metrics['accuracy']['mean']:.4f} "
                f"ECE {metrics['ece_before']['mean']:.4f} -> {metrics['ece_after']['mean']:.4f} "
                f"NLL {metrics['nll_before']['mean']:.4f} -> {metrics['nll_after']['mean']:.4f} "
                f"target<={ECE_TARGET}: {'met' if met else 'NOT met'}"
            )
            if split == "test":
                diagram(
                    z, y, temperature, f"{name} on {dataset} {split} (n={len(y)})", FIGURES / f"{name}_{dataset}.png"
                )
            rows.append(
                {
                    "suite": "calibration",
                    "task": "temperature-scaling",
                    "dataset": dataset,
                    "split": split,
                    "model": name if name == "sentiment-en" else f"{name} (polarity)",
                    "backbone": "all-MiniLM-L6-v2",
                    "metrics": metrics,
                    "settings": {
                        "temperature": round(temperature, 6),
                        "stored_temperature": round(stored, 6),
                        "fit_on": f"{validation}:validation",
                        "n": len(y),
                        "bins": ECE_BINS,
                        "ece_target": ECE_TARGET,
                        "ece_target_met": met,
                        "max_length": manifest.preprocessing.get("max_length"),
                        "emoji": manifest.preprocessing.get("emoji", "words"),
                    },
                    "command": command_line(),
                    "env": environment(),
                }
            )
    print(write_rows("calibration", rows))


if __name__ == "__main__":
    main()
