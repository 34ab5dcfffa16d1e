"""Calibration of the shipped models: temperature scaling fit on validation, ECE and reliability diagrams per test set.

For each shipped model the temperature is fit on the data its folder says it was fit on (`calibration.fit_on`: the
validation data it was selected on: SST-5 validation, or for a mixture-trained sentiment-en the validation split of
each training source; the carved absa14 or absa-all validation for absa-en's polarity model) with the library's own
`training.calibrate`, and checked against the temperature stored in the model folder (written by `sentimentkit
calibrate`). sentiment-en is scored on SST-5 (5 classes) and on every cross-domain test set at that set's own
granularity (`training.calibrate.Grouped`: a polarity's probability is its classes' summed probability, renormalised
over the classes the set's labels cover): the test sets of benchmarks/cross_domain.py (IMDb: a seeded sample of
5000 test reviews). Each test set is then scored once; the expected calibration error (15 equal-width bins
of the max probability) and the NLL are reported before (T = 1) and after (the fitted T), with a reliability
diagram per test set. Labels do not change with T, so accuracy is one number (and so is the manifest's
sst5_test_acc3, which collapses the argmax label); sentiment-en's `Prediction.polarity` (the polarity whose 5-point
classes have the largest summed probability) can move, so its 3-way accuracy is reported before and after
(acc3_summed_*).

Writes benchmarks/results/calibration.json and benchmarks/results/calibration/<model>_<dataset>.png.

`--diagnose` asks why one temperature misses a test set (rows "temperature-diagnosis"): per test set, the ECE at the
fitted temperature, at a temperature fit on that set's own source alone (the validation texts of that source: what a
per-domain temperature could do if the domain were known), and at the best single temperature for that test set
(searched on the test set itself: not a calibration, a floor no temperature fit elsewhere can beat); and what the
set's size can resolve: a bootstrap CI of the fitted ECE and the ECE a perfectly calibrated model with the same
confidences would measure on that many texts (`ece_if_calibrated`: binned ECE is biased upward on small sets).

    python benchmarks/calibration.py [--models sentiment-en absa-en] [--cache runs/calibration]
    python benchmarks/calibration.py --models sentiment-en --model-dir runs/cross-domain/v2/seed1/best --label v2
    python benchmarks/calibration.py --diagnose

`--compare` asks whether a calibrator with more freedom than one temperature does better (rows
"calibrator-comparison", one per model and calibrator): each is fit on the same validation data by the same
likelihood (for a mixture, each text's label at its own set's granularity), either pooled over the texts or with
every validation source weighted equally, and scored once per test set (ECE, accuracy: a calibrator with per-class
terms can move labels). Calibrators: `temperature` (z / T), `temperature+bias` (z / T + b), `vector` (z * w + b,
per class), `matrix` (z W + b, L2-pulled towards the identity: the logit form of Dirichlet calibration). They are
written here rather than taken from a calibration library because the mixture's likelihood (a coarse label is the
summed probability of its classes) is not one any library fits. For absa-en the rows also give macro-F1 per test set,
and one more row, `class-bias searched on test`, bounds what any decision rule over this model's logits could reach
(per-class logit offsets searched on each test set itself: a ceiling, not a result).

    python benchmarks/calibration.py --compare
    python benchmarks/calibration.py --compare --models sentiment-en \
        --members runs/cross-domain/v3-sentences/seed2/best runs/cross-domain/v3-sentences/seed3/best
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

from sentimentkit.data.datasets import DATASETS
from sentimentkit.hub import PRETRAINED_DIR, Manifest
from sentimentkit.labels import SENTIMENT5
from sentimentkit.metrics import ECE_BINS, confidence_calibration_error
from sentimentkit.tasks.base import softmax
from sentimentkit.training.calibrate import (
    Grouped,
    calibrated_part,
    fit_temperature,
    label_nll,
    logits_and_labels,
    mixture_logits,
)
from sentimentkit.training.experiment import environment

ECE_TARGET = 0.05
SIMULATIONS, SIMULATION_SEED = 1000, 7  # --diagnose: bootstrap and calibrated-model draws per test set
CROSS_DOMAIN = (  # the cross-domain table's test sets (benchmarks/cross_domain.py), with its IMDb sample
    ("imdb", 5000),
    ("tweeteval-polarity", None),
    *((f"{s}-sentences", None) for s in ("laptop14", "restaurant14", "restaurant15", "restaurant16", "twitter")),
    ("mosi-text", None),
)
# model -> test sets (dataset, sample size or None)
MODELS = {
    "sentiment-en": (("sst5", None), *CROSS_DOMAIN),
    "sentiment-en-sst5": (("sst5", None), *CROSS_DOMAIN),
    "absa-en": tuple((s, None) for s in ("laptop14", "restaurant14", "restaurant15", "restaurant16", "twitter")),
}
FIGURES = RESULTS / "calibration"


def data_fingerprint(dataset: str, split: str) -> str:
    """What the logits were computed on: every named part's texts, aspects and labels on `split`."""
    from sentimentkit.data.datasets import load_dataset

    digest = hashlib.sha256()
    for name in (n.strip() for n in dataset.split("+")):
        for x in load_dataset(name, split):
            label = getattr(x, "label", getattr(x, "polarity", None))
            digest.update(json.dumps([x.text, getattr(x, "aspect", None), str(label)]).encode())
    return digest.hexdigest()


def cached_logits(
    manifest: Manifest, dataset: str, split: str, cache: Path | None, sample: int | None = None
) -> tuple[np.ndarray, np.ndarray | Grouped]:
    """The model's raw logits on a split and the true labels: class ids where the set has the model's labels, else
    `Grouped` (a mixture "a + b" always). Reused from `cache` when the same weights and preprocessing made them."""
    weights = manifest.path / "model.safetensors"
    key = hashlib.sha256(
        weights.read_bytes() + json.dumps([dict(manifest.preprocessing), sample], sort_keys=True).encode()
    )
    key.update(data_fingerprint(dataset, split).encode())  # a changed carve or file is new data
    name = dataset.replace(" ", "")
    path = None if cache is None else cache / f"{manifest.path.parent.name}_{manifest.path.name}_{name}_{split}.npz"
    if path is not None and path.exists():
        saved = np.load(path, allow_pickle=False)
        if str(saved["key"]) == key.hexdigest():
            if "source" not in saved:
                return saved["logits"], saved["labels"]
            groups = json.loads(str(saved["groups"]))
            grouped = Grouped(tuple(json.loads(str(saved["names"]))), tuple(tuple(map(tuple, g)) for g in groups),
                              saved["source"], saved["labels"])  # fmt: skip
            return saved["logits"], grouped
    names = [n.strip() for n in dataset.split("+")]
    labels: np.ndarray | Grouped
    if len(names) == 1 and DATASETS.get(names[0]).labels == manifest.labels:
        logits, labels = logits_and_labels(manifest, dataset, split)
        if sample is not None:
            raise ValueError(f"{dataset}: a sample of a set with the model's own labels is not implemented")
    else:
        logits, labels = mixture_logits(manifest, names, split, cap=sample)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        extra = {}
        if isinstance(labels, Grouped):
            extra = {"names": json.dumps(labels.names), "groups": json.dumps(labels.groups), "source": labels.source}
        plain = labels.labels if isinstance(labels, Grouped) else labels
        np.savez(path, logits=logits, labels=plain, key=key.hexdigest(), **extra)
    return logits, labels


def polarity_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """3-way accuracy of a 5-point model: the polarity with the largest summed probability against the true one."""
    grouped = [SENTIMENT5.polarity_probabilities(p) for p in probabilities]
    predicted = [max(g, key=g.get) for g in grouped]
    truth = [SENTIMENT5.polarity_map[SENTIMENT5.names[y]] for y in labels]
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def predictions(logits: np.ndarray, labels: np.ndarray | Grouped, t: float) -> tuple[np.ndarray, ...]:
    """Per text at temperature t: the probability of its true label, the confidence of the prediction, and whether
    the prediction is right (labels at the set's own granularity)."""
    if isinstance(labels, Grouped):
        return labels.scores(logits, t)
    p = softmax(logits.astype(np.float64) / t)
    return p[np.arange(len(labels)), labels], p.max(-1), p.argmax(-1) == labels


def scores(logits: np.ndarray, labels: np.ndarray | Grouped, temperature: float, five_point: bool) -> dict[str, dict]:
    values: dict[str, float] = {}
    for when, t in (("before", 1.0), ("after", temperature)):
        true, confidence, correct = predictions(logits, labels, t)
        # a class label does not move with T, but a coarser set's label (the largest summed probability) can
        values["accuracy" if when == "before" or not isinstance(labels, Grouped) else "accuracy_after"] = float(
            correct.mean()
        )
        values[f"ece_{when}"] = confidence_calibration_error(confidence, correct)
        values[f"nll_{when}"] = float(-np.log(np.clip(true, 1e-12, None)).mean())
        values[f"share_confident_{when}"] = float((confidence >= 0.99).mean())  # the measure
    if five_point and not isinstance(labels, Grouped):
        values["acc3_summed_before"] = polarity_accuracy(softmax(logits.astype(np.float64)), labels)
        values["acc3_summed_after"] = polarity_accuracy(softmax(logits.astype(np.float64) / temperature), labels)
    order = ["accuracy", "accuracy_after", "ece_before", "ece_after", "nll_before", "nll_after"]
    order += [k for k in values if k not in order]
    return {k: {"mean": values[k], "std": 0.0, "n": 1, "values": [values[k]]} for k in order if k in values}


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    return [
        {
            "lower": k / bins,
            "count": int((which == k).sum()),
            "accuracy": float(correct[which == k].mean()) if (which == k).any() else None,
            "confidence": float(confidence[which == k].mean()) if (which == k).any() else None,
        }
        for k in range(bins)
    ]


def diagram(logits: np.ndarray, labels: np.ndarray | Grouped, temperature: float, title: str, path: Path) -> None:
    """Reliability diagram before and after: accuracy per confidence bin against the diagonal, with counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), sharey=True)
    for ax, (name, t) in zip(
        axes, (("before (T = 1)", 1.0), (f"after (T = {temperature:.3f})", temperature)), strict=True
    ):
        _, confidence, correct = predictions(logits, labels, t)
        table = reliability(confidence, correct)
        width = 1.0 / ECE_BINS
        centers = [b["lower"] + width / 2 for b in table]
        filled = [b for b in table if b["count"]]  # empty bins get no bar
        at = [b["lower"] + width / 2 for b in filled]
        accuracy = np.array([b["accuracy"] for b in filled])
        mean_confidence = np.array([b["confidence"] for b in filled])
        ax.bar(at, accuracy, width=width * 0.95, color="#4c72b0", edgecolor="black", label="accuracy")
        ax.bar(
            at, mean_confidence - accuracy, bottom=accuracy, width=width * 0.95, color="#dd8452", alpha=0.45,
            edgecolor="#dd8452", label="gap to mean confidence",
        )  # fmt: skip
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ece = confidence_calibration_error(confidence, correct)
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


def ece_at(logits: np.ndarray, labels: np.ndarray | Grouped, t: float) -> float:
    _, confidence, correct = predictions(logits, labels, t)
    return confidence_calibration_error(confidence, correct)


def validation_sources(validation: str, labels: np.ndarray | Grouped, split: str) -> np.ndarray | None:
    """Each validation text's source dataset: a mixture's own sources, the per-set carves of `absa-all`, else None."""
    if isinstance(labels, Grouped):
        return np.array(labels.names)[labels.source]
    if validation != "absa-all":
        return None
    from sentimentkit.data.datasets import ABSA_ALL, _pair, load_dataset

    first: dict[tuple[str, str], str] = {}
    for name in ABSA_ALL:
        for x in load_dataset(name, split):
            first.setdefault(_pair(x), name)
    return np.array([first[_pair(x)] for x in load_dataset(validation, split)])


def source_part(labels: np.ndarray | Grouped, mask: np.ndarray) -> np.ndarray | Grouped:
    if not isinstance(labels, Grouped):
        return labels[mask]
    s = int(labels.source[mask][0])
    return Grouped((labels.names[s],), (labels.groups[s],), np.zeros(int(mask.sum()), dtype=int), labels.labels[mask])


def ece_noise(confidence: np.ndarray, correct: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """How much of a measured ECE a test set of this size can resolve. `ece_fitted_lo/hi`: a 95 % bootstrap CI of
    the measured ECE (texts resampled). `ece_if_calibrated` (and its 95th percentile): the ECE a perfectly calibrated
    model with these confidences would measure on a set of this size, each prediction right with probability equal
    to its confidence (SIMULATIONS draws): binned ECE is biased upward on a finite set, so this is the floor a
    measured value is read against."""
    n = len(confidence)
    boot = []
    for _ in range(SIMULATIONS):
        i = rng.integers(0, n, n)
        boot.append(confidence_calibration_error(confidence[i], correct[i]))
    ideal = [confidence_calibration_error(confidence, rng.random(n) < confidence) for _ in range(SIMULATIONS)]
    return {
        "ece_fitted_lo": float(np.quantile(boot, 0.025)),
        "ece_fitted_hi": float(np.quantile(boot, 0.975)),
        "ece_if_calibrated": float(np.mean(ideal)),
        "ece_if_calibrated_p95": float(np.quantile(ideal, 0.95)),
    }


def diagnose(name: str, label: str, cache: Path | None, model_dir: Path | None) -> list[dict]:
    manifest = calibrated_part(model_dir or PRETRAINED_DIR / name)
    fit_on = str(manifest.calibration.get("fit_on", "sst5:validation"))
    validation, _, fit_split = fit_on.rpartition(":") if ":" in fit_on else (fit_on, "", "validation")
    logits, labels = cached_logits(manifest, validation, fit_split, cache)
    temperature = fit_temperature(logits, labels)
    sources = validation_sources(validation, labels, fit_split)
    grid = np.exp(np.linspace(np.log(0.25), np.log(6.0), 161))
    rows = []
    for dataset, sample in MODELS[name]:
        z, y = cached_logits(manifest, dataset, "test", cache, sample)
        own_t = None
        if sources is not None and (sources == dataset).sum() >= 20:
            mask = sources == dataset
            own_t = fit_temperature(logits[mask], source_part(labels, mask))
        eces = [ece_at(z, y, t) for t in grid]
        best = int(np.argmin(eces))
        values = {"ece_fitted": ece_at(z, y, temperature), "ece_best_on_test": eces[best]}
        _, confidence, correct = predictions(z, y, temperature)
        values.update(ece_noise(confidence, correct, np.random.default_rng(SIMULATION_SEED)))
        if own_t is not None:
            values["ece_own_source"] = ece_at(z, y, own_t)
        print(
            f"{label:13s} {dataset[:24]:24s} ECE at T={temperature:.3f} (fitted) {values['ece_fitted']:.4f}; "
            + (f"at T={own_t:.3f} (own source) {values['ece_own_source']:.4f}; " if own_t is not None else "")
            + f"best on test T={grid[best]:.3f} {eces[best]:.4f}; "
            + f"95 % CI [{values['ece_fitted_lo']:.4f}, {values['ece_fitted_hi']:.4f}]; a calibrated model would "
            + f"measure {values['ece_if_calibrated']:.4f} (95th percentile {values['ece_if_calibrated_p95']:.4f})",
            flush=True,
        )
        rows.append(
            {
                "suite": "calibration",
                "task": "temperature-diagnosis",
                "dataset": dataset,
                "split": "test",
                "model": label if name.startswith("sentiment-en") else f"{label} (polarity)",
                "backbone": "all-MiniLM-L6-v2",
                "metrics": {k: {"mean": v, "std": 0.0, "n": 1, "values": [v]} for k, v in values.items()},
                "settings": {
                    "fitted_temperature": round(temperature, 6),
                    "fit_on": fit_on,
                    "own_source_temperature": None if own_t is None else round(own_t, 6),
                    "own_source_n": None if own_t is None else int((sources == dataset).sum()),
                    "best_on_test_temperature": round(float(grid[best]), 4),
                    "best_on_test": "searched on this test set: a floor for any single temperature, not a result",
                    "n": len(y),
                    "sample": sample,
                    "bins": ECE_BINS,
                },
                "command": command_line(),
                "env": environment(),
            }
        )
    return rows


CALIBRATORS = ("temperature", "temperature+bias", "vector", "matrix")
MATRIX_L2 = 0.01  # matrix calibration's pull towards the identity (per squared entry, against the mean NLL)


def fit_calibrator(kind: str, logits: np.ndarray, labels: np.ndarray | Grouped, weights: np.ndarray | None = None):
    """Fit one calibrator on validation logits; return the map it applies to (N, C) logits.

    The likelihood is each text's label's (at its own set's granularity for `Grouped`); `weights` (N,) weight the
    texts (None: equally). Every calibrator starts at the identity and L-BFGS runs to convergence (all are convex in
    their parameters except through the temperature's log, which is one-dimensional)."""
    import torch

    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    n, c = z.shape
    plain = labels.labels if isinstance(labels, Grouped) else labels
    y = torch.as_tensor(np.asarray(plain), dtype=torch.long)
    w = torch.as_tensor(np.ones(n) / n if weights is None else np.asarray(weights) / np.sum(weights))
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(c, dtype=torch.float64, requires_grad=True)
    log_scale = torch.zeros(c, dtype=torch.float64, requires_grad=True)
    matrix = torch.eye(c, dtype=torch.float64).requires_grad_(True)
    params = {
        "temperature": [log_t],
        "temperature+bias": [log_t, bias],
        "vector": [log_scale, bias],
        "matrix": [matrix, bias],
    }[kind]

    def apply(x: torch.Tensor) -> torch.Tensor:
        if kind == "temperature":
            return x / log_t.exp()
        if kind == "temperature+bias":
            return x / log_t.exp() + bias
        if kind == "vector":
            return x * log_scale.exp() + bias
        return x @ matrix + bias

    def per_text_nll(scaled: torch.Tensor) -> torch.Tensor:
        if isinstance(labels, Grouped):
            return label_nll(scaled, labels, y)
        return torch.nn.functional.cross_entropy(scaled, y, reduction="none")

    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (w * per_text_nll(apply(z))).sum()
        if kind == "matrix":
            loss = loss + MATRIX_L2 * ((matrix - torch.eye(c, dtype=torch.float64)) ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)

    def calibrate(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return apply(torch.as_tensor(np.asarray(x), dtype=torch.float64)).numpy()

    return calibrate


def macro_f1(logits: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(labels, logits.argmax(-1), average="macro"))


def bias_ceiling(logits: np.ndarray, labels: np.ndarray, span: float = 4.0, steps: int = 33) -> float:
    """The best macro-F1 any per-class logit offset reaches on this very set (offsets of all but the last class on a
    grid): an upper bound for decision rules over these logits, searched on the data it is scored on."""
    grid = np.linspace(-span, span, steps)
    c = logits.shape[1]
    best = 0.0
    for offsets in np.array(np.meshgrid(*[grid] * (c - 1))).reshape(c - 1, -1).T:
        best = max(best, macro_f1(logits + np.append(offsets, 0.0), labels))
    return best


def ensemble_logits(parts: list[np.ndarray]) -> np.ndarray:
    """The log of the members' mean probability per class (an ensemble's logits up to a constant per row)."""
    logp = np.stack([z - np.logaddexp.reduce(z, axis=-1, keepdims=True) for z in map(np.asarray, parts)])
    return np.logaddexp.reduce(logp, axis=0) - np.log(len(parts))


def compare(
    name: str, label: str, cache: Path | None, model_dir: Path | None, members: list[Path] | None = None
) -> list[dict]:
    """Rows "calibrator-comparison" (see the docstring). `members`: more model folders of the same kind (other
    seeds); the calibrators then see the ensemble's logits (its mean probabilities), and the rows say so."""
    manifest = calibrated_part(model_dir or PRETRAINED_DIR / name)
    fit_on = str(manifest.calibration.get("fit_on", "sst5:validation"))
    validation, _, fit_split = fit_on.rpartition(":") if ":" in fit_on else (fit_on, "", "validation")
    logits, labels = cached_logits(manifest, validation, fit_split, cache)
    sources = validation_sources(validation, labels, fit_split)
    tests = {dataset: cached_logits(manifest, dataset, "test", cache, sample) for dataset, sample in MODELS[name]}
    if members:
        others = [calibrated_part(folder) for folder in members]
        for other in others:
            if other.labels != manifest.labels:
                raise ValueError(f"{other.path}: labels {other.labels} differ from the model's {manifest.labels}")
        logits = ensemble_logits([logits, *(cached_logits(m, validation, fit_split, cache)[0] for m in others)])
        for dataset, sample in MODELS[name]:
            z, y = tests[dataset]
            parts = [z, *(cached_logits(m, dataset, "test", cache, sample)[0] for m in others)]
            tests[dataset] = (ensemble_logits(parts), y)
        label = f"{label} + {len(others)} more seed(s), ensembled"
    aspect = not name.startswith("sentiment-en")
    variants = [(kind, "pooled") for kind in CALIBRATORS]
    if sources is not None:
        variants += [(kind, "equal-source") for kind in CALIBRATORS]
    equal = None
    if sources is not None:  # each source's texts weigh 1 / its count
        _, index, counts = np.unique(sources, return_inverse=True, return_counts=True)
        equal = 1.0 / counts[index]
    rows = []
    for kind, weighting in variants:
        calibrate = fit_calibrator(kind, logits, labels, equal if weighting == "equal-source" else None)
        values: dict[str, float] = {}
        for dataset, (z, y) in tests.items():
            calibrated = calibrate(z)
            _, confidence, correct = predictions(calibrated, y, 1.0)
            values[f"ece_{dataset}"] = confidence_calibration_error(confidence, correct)
            values[f"acc_{dataset}"] = float(correct.mean())
            if aspect:
                values[f"macro_f1_{dataset}"] = macro_f1(calibrated, y)
        met = sum(values[f"ece_{d}"] <= ECE_TARGET for d in tests)
        values["sets_meeting_target"] = float(met)
        print(f"{label:13s} {kind:17s} {weighting:13s} ECE<= {ECE_TARGET} on {met}/{len(tests)}: "
              + " ".join(f"{d[:10]} {values[f'ece_{d}']:.3f}" for d in tests), flush=True)  # fmt: skip
        rows.append(comparison_row(name, label, f"{kind} ({weighting})", values, fit_on, len(tests)))
    if aspect:
        values = {f"macro_f1_{d}": bias_ceiling(z, y) for d, (z, y) in tests.items()}
        print(f"{label:13s} class-bias searched on test: macro-F1 "
              + " ".join(f"{d[:10]} {values[f'macro_f1_{d}']:.3f}" for d in tests), flush=True)  # fmt: skip
        rows.append(comparison_row(name, label, "class-bias searched on test", values, fit_on, len(tests)))
        rows[-1]["settings"]["searched_on"] = "each test set itself: a ceiling for decision rules, not a result"
    return rows


def comparison_row(name: str, label: str, calibrator: str, values: dict, fit_on: str, sets: int) -> dict:
    return {
        "suite": "calibration",
        "task": "calibrator-comparison",
        "dataset": f"{sets} test sets",
        "split": "test",
        "model": label if name.startswith("sentiment-en") else f"{label} (polarity)",
        "backbone": "all-MiniLM-L6-v2",
        "metrics": {k: {"mean": v, "std": 0.0, "n": 1, "values": [v]} for k, v in values.items()},
        "settings": {
            "calibrator": calibrator,
            "fit_on": fit_on,
            "bins": ECE_BINS,
            "ece_target": ECE_TARGET,
            "matrix_l2": MATRIX_L2 if calibrator.startswith("matrix") else None,
        },
        "command": command_line(),
        "env": environment(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--cache", type=Path, default=Path("runs/calibration"), help="logits cache ('' for none)")
    parser.add_argument("--model-dir", type=Path, help="score this folder as the (one) model instead of the shipped")
    parser.add_argument("--label", help="the model's name in the rows (default: the shipped name)")
    parser.add_argument("--diagnose", action="store_true", help="why one temperature misses: see the docstring")
    parser.add_argument("--compare", action="store_true", help="richer calibrators than one T: see the docstring")
    parser.add_argument(
        "--members", nargs="+", type=Path, help="--compare: ensemble the model with these folders (other seeds)"
    )
    args = parser.parse_args()
    if args.model_dir is not None and len(args.models) != 1:
        parser.error("--model-dir goes with one --models name (the kind of model it is)")
    if args.members and (not args.compare or len(args.models) != 1):
        parser.error("--members goes with --compare and one --models name")
    cache = args.cache if str(args.cache) else None
    if args.diagnose or args.compare:
        for name in args.models:
            if args.diagnose:
                rows = diagnose(name, args.label or name, cache, args.model_dir)
            else:
                rows = compare(name, args.label or name, cache, args.model_dir, args.members)
            print(write_rows("calibration", rows, replace={"model": rows[0]["model"], "task": rows[0]["task"]}))
        return
    for name in args.models:
        rows = []
        tests = MODELS[name]
        manifest = calibrated_part(args.model_dir or PRETRAINED_DIR / name)
        label = args.label or name
        fit_on = str(
            manifest.calibration.get("fit_on", "sst5:validation" if name.startswith("sentiment-en") else "absa14")
        )
        validation, _, fit_split = fit_on.rpartition(":") if ":" in fit_on else (fit_on, "", "validation")
        logits, labels = cached_logits(manifest, validation, fit_split, cache)
        temperature = fit_temperature(logits, labels)
        stored = manifest.temperature
        if abs(stored - temperature) > 1e-3 * temperature:
            print(f"warning: {label} stores T = {stored}, the fit on {fit_on} gives {temperature:.6f}")
        five_point = manifest.labels == SENTIMENT5
        for dataset, split, sample in [(validation, fit_split, None), *((t, "test", n) for t, n in tests)]:
            if split == fit_split and dataset == validation:
                z, y = logits, labels
            else:
                z, y = cached_logits(manifest, dataset, split, cache, sample)
            metrics = scores(z, y, temperature, five_point)
            met = metrics["ece_after"]["mean"] <= ECE_TARGET
            print(
                f"{label:13s} {dataset[:24]:24s} {split:10s} n={len(y):5d} T={temperature:.4f} "
                f"acc={metrics['accuracy']['mean']:.4f} "
                f"ECE {metrics['ece_before']['mean']:.4f} -> {metrics['ece_after']['mean']:.4f} "
                f"NLL {metrics['nll_before']['mean']:.4f} -> {metrics['nll_after']['mean']:.4f} "
                f"target<={ECE_TARGET}: {'met' if met else 'NOT met'}",
                flush=True,
            )
            if split == "test":
                figure = FIGURES / f"{label}_{dataset}.png"
                diagram(z, y, temperature, f"{label} on {dataset} {split} (n={len(y)})", figure)
            rows.append(
                {
                    "suite": "calibration",
                    "task": "temperature-scaling",
                    "dataset": dataset if split == "test" else f"{dataset} ({split})",
                    "split": split,
                    "model": label if name.startswith("sentiment-en") else f"{label} (polarity)",
                    "backbone": "all-MiniLM-L6-v2",
                    "metrics": metrics,
                    "settings": {
                        "temperature": round(temperature, 6),
                        "stored_temperature": round(stored, 6),
                        "fit_on": fit_on,
                        "n": len(y),
                        "sample": sample,
                        "granularity": "the set's own labels" if isinstance(y, Grouped) else "the model's labels",
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
        # this model's rows replace all of its older ones (a new temperature or fit set is a new measurement)
        print(write_rows("calibration", rows, replace={"model": rows[0]["model"], "task": rows[0]["task"]}))


if __name__ == "__main__":
    main()
