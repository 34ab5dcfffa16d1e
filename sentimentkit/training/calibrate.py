"""Temperature scaling (Guo et al. 2017): one temperature T > 0 divides a classifier's logits before the softmax.

T is fit on a validation split by minimising the negative log-likelihood of softmax(logits / T) (L-BFGS on log T,
so T stays positive). Dividing every logit by the same T keeps their order, so labels never change; only the
confidence moves (T > 1 softens an overconfident model). `calibrate` writes T into the model folder's manifest
(`calibration`: the temperature, what it was fit on, NLL and expected calibration error before and after), and
every task that makes probabilities applies it: text classification, aspect polarity, torch and ONNX alike.
A bundle (`absa-en`) is calibrated through its polarity component (the extractor's tags carry no confidence).

A model trained on a mixture (`sentiment-en` v2: a 5-point head trained by SST-5 and by coarser polarity sets) is
fit on a mixture too: `--data "sst5 + imdb + ..."` reads each named dataset's validation split (at most 1000 texts
each, the sample training selects on, texts of any named test split dropped) and scores every text at its own
dataset's granularity (`Grouped`): the probability of a coarse label is the summed probability of its classes,
renormalised over the classes that set's labels cover (IMDb's negative vs positive leaves the neutral class out).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import DATASETS
from ..hub import Manifest, read_manifest, resolve, set_manifest_key
from ..metrics import ECE_BINS, confidence_calibration_error, expected_calibration_error, negative_log_likelihood
from ..tasks.base import TASKS, forward_batches, gather_logits, softmax

# Tasks whose models give one class distribution per item (what a temperature calibrates).
CALIBRATED_TASKS = ("text-classification.v1", "aspect-polarity.v1")
TEMPERATURE_RANGE = (0.05, 20.0)  # a fit outside this says the data or the model is broken, not overconfident


@dataclass(frozen=True)
class Grouped:
    """True labels of texts from several datasets, each at its own granularity. `groups[s]` lists, for each label of
    dataset `names[s]`, the model classes that make it up (5-point SST-5: one class each; IMDb: the two negative and
    the two positive classes); `source` (N,) is each text's dataset index and `labels` (N,) its label's index in
    `groups[source]`."""

    names: tuple[str, ...]
    groups: tuple[tuple[tuple[int, ...], ...], ...]
    source: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def probabilities(self, logits: np.ndarray, temperature: float, s: int) -> np.ndarray:
        """(N_s, K_s): the texts of dataset s, the probability of each of its labels (summed over the label's
        classes, renormalised over the classes its labels cover)."""
        p = softmax(np.asarray(logits, dtype=np.float64)[self.source == s] / temperature)
        grouped = np.stack([p[:, list(g)].sum(-1) for g in self.groups[s]], axis=-1)
        return grouped / grouped.sum(-1, keepdims=True)

    def scores(self, logits: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per text, in the order of `source == 0, 1, ...`: the probability of its true label, the confidence of the
        predicted label and whether that prediction is right."""
        true, confidence, correct = [], [], []
        for s in range(len(self.names)):
            p, y = self.probabilities(logits, temperature, s), self.labels[self.source == s]
            true.append(p[np.arange(len(y)), y])
            confidence.append(p.max(-1))
            correct.append(p.argmax(-1) == y)
        return np.concatenate(true), np.concatenate(confidence), np.concatenate(correct)


def label_nll(scaled: Any, grouped: Grouped, labels: Any) -> Any:
    """(N,) torch tensor: each text's NLL of its label at its own dataset's granularity, given (N, C) logits
    `scaled` (a coarse label's probability is its classes' summed probability, renormalised over the classes its
    dataset's labels cover). `labels`: the label indices as a long tensor."""
    import torch

    out = scaled.new_zeros(len(labels))
    for s, groups in enumerate(grouped.groups):
        rows = torch.as_tensor(grouped.source == s)
        if not bool(rows.any()):
            continue
        zs = scaled[rows]
        covered = [c for g in groups for c in g]
        members = torch.stack([torch.logsumexp(zs[:, list(g)], -1) for g in groups], -1)  # (N_s, K_s)
        out[rows] = torch.logsumexp(zs[:, covered], -1) - members.gather(1, labels[rows][:, None])[:, 0]
    return out


def fit_temperature(logits: np.ndarray, labels: Sequence[int] | Grouped, max_iter: int = 100) -> float:
    """The T > 0 that minimises the mean NLL of softmax(logits / T) against `labels` (class ids, or `Grouped`
    labels: the NLL of each text's label at its own dataset's granularity).

    logits: (N, C). The NLL is convex in 1 / T, so the optimum is unique; L-BFGS on log T finds it in a few steps.
    """
    import torch

    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    grouped = labels if isinstance(labels, Grouped) else None
    y = torch.as_tensor(np.asarray(labels.labels if grouped else labels), dtype=torch.long)
    if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
        raise ValueError(f"expected (N, C) logits and N labels (N > 0), got {tuple(z.shape)} and {tuple(y.shape)}")
    if grouped is None and (int(y.min()) < 0 or int(y.max()) >= z.shape[1]):
        raise ValueError(f"labels must be class ids in [0, {z.shape[1]}); got {int(y.min())}..{int(y.max())}")
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        scaled = z / log_t.exp()
        loss = label_nll(scaled, grouped, y).mean() if grouped else torch.nn.functional.cross_entropy(scaled, y)
        loss.backward()
        return loss

    optimizer.step(closure)
    lo, hi = TEMPERATURE_RANGE
    return float(min(max(log_t.exp().item(), lo), hi))


def calibration_summary(
    logits: np.ndarray, labels: Sequence[int] | Grouped, temperature: float, fit_on: str
) -> dict[str, Any]:
    """The manifest's `calibration` section: T, what it was fit on, and NLL / ECE before and after on that data
    (for `Grouped` labels, of each text's label at its own dataset's granularity, pooled)."""
    values = {}
    for when, t in (("before", 1.0), ("after", float(temperature))):
        if isinstance(labels, Grouped):
            true, confidence, correct = labels.scores(logits, t)
            values[f"nll_{when}"] = float(-np.log(np.clip(true, 1e-12, None)).mean())
            values[f"ece_{when}"] = confidence_calibration_error(confidence, correct)
        else:
            p = softmax(np.asarray(logits, dtype=np.float64) / t)
            values[f"nll_{when}"] = negative_log_likelihood(p, labels)
            values[f"ece_{when}"] = expected_calibration_error(p, labels)
    return {
        "temperature": round(float(temperature), 6),
        "fit_on": fit_on,
        "n": len(labels),
        **{k: round(values[k], 6) for k in ("nll_before", "nll_after", "ece_before", "ece_after")},
        "ece_bins": ECE_BINS,
    }


def mixture_logits(
    manifest: Manifest,
    names: Sequence[str],
    split: str,
    *,
    data_dir: str | None = None,
    batch_size: int = 64,
    cap: int | None = None,
) -> tuple[np.ndarray, Grouped]:
    """A 5-point (or any) text model's raw logits on `split` of several named datasets, with their `Grouped`
    labels. Off the test split, each dataset's texts are at most MIX_VALIDATION (the seeded sample a mixture
    selects on) and no text of any named dataset's test split is used (the sets overlap: restaurant16's training
    file holds restaurant15's test sentences). `cap` overrides the per-dataset sample size (the same seeded sample)."""
    from ..data.datasets import load_dataset
    from ..encoders.pool import Runtime
    from ..tasks.base import subset
    from ..tasks.document import MIX_VALIDATION, MIX_VALIDATION_SEED, _plain, source_labels

    if manifest.task != "text-classification.v1":
        raise ValueError(f"a mixture calibrates a text-classification model; {manifest.path} is {manifest.task}")
    unknown = [n for n in names if n not in DATASETS or DATASETS.get(n).task != manifest.task]
    if unknown:
        raise ValueError(f"mixture {' + '.join(names)}: {unknown} are not named text datasets")
    if len(set(names)) != len(names):
        raise ValueError(f"mixture {' + '.join(names)} names a dataset twice")
    tests = {_plain(x.text) for n in names for x in load_dataset(n, "test", data_dir)} if split != "test" else set()
    task, model = TASKS.get(manifest.task).from_manifest(manifest, Runtime("native"))
    texts, source, labels, groups = [], [], [], []
    for s, name in enumerate(names):
        spec = DATASETS.get(name)
        mapping = source_labels(name, spec.labels, manifest.labels).groups  # ValueError where the labels do not map
        held = [x for x in load_dataset(name, split, data_dir) if x.label is not None and _plain(x.text) not in tests]
        limit = cap if cap is not None else (None if split == "test" else MIX_VALIDATION)
        held = subset(held, limit, MIX_VALIDATION_SEED) if limit is not None and len(held) > limit else held
        if not held:
            raise ValueError(f"mixture {' + '.join(names)}: {name} has no labelled {split} text left to fit on")
        order = list(mapping)
        groups.append(tuple(mapping[n] for n in order))
        texts += [x.text for x in held]
        source += [s] * len(held)
        labels += [order.index(x.label) for x in held]
    from ..types import TextExample

    items = task.encode([TextExample(t) for t in texts])
    logits = gather_logits(list(forward_batches(model, task, items, batch_size)), len(items))
    return logits, Grouped(tuple(names), tuple(groups), np.array(source), np.array(labels))


def logits_and_labels(
    manifest: Manifest, source: str, split: str, *, data_dir: str | None = None, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """A model's raw logits (N, C) and the true class ids on a split of a named dataset or a labelled file,
    encoded by the model's own task (its preprocessing, emoji included)."""
    from ..encoders.pool import Runtime

    task, model = TASKS.get(manifest.task).from_manifest(manifest, Runtime("native"))
    examples = task.examples(source, split, data_dir)
    items = task.encode(examples)  # labels the model does not know raise KeyError naming the example
    logits = gather_logits(list(forward_batches(model, task, items, batch_size)), len(items))
    return logits, np.array([x.label for x in items])


def calibrated_part(folder: Path) -> Manifest:
    """The manifest that takes the temperature: the model's own, or a bundle's polarity component's."""
    manifest = read_manifest(folder)
    if manifest.kind == "bundle":
        part = manifest.component("polarity")
        if part is None:
            raise ValueError(f"{folder}: a bundle without a polarity component has nothing to calibrate")
        manifest = read_manifest(part)
    if manifest.task not in CALIBRATED_TASKS:
        raise ValueError(f"{manifest.path}: a {manifest.task} model has no class probabilities to calibrate")
    return manifest


def calibrate(
    model: str | Path,
    data: str | None = None,
    output: str | Path | None = None,
    *,
    split: str = "validation",
    data_dir: str | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Fit the temperature of `model` (a folder or a shipped name) on `split` of `data` (default: the dataset the
    model was selected on) and write it into the manifest: in place, or into a copy of the folder at `output`.

    Returns the calibration section with "folder" (the manifest written). Shipped models live in the installed
    package, so they are written to a copy (`output` is required for them). Validation data only: fitting on a
    test split would leak it into every later test score.
    """
    if split == "test":
        raise ValueError("fit the temperature on validation data (split 'validation'), never on the test split")
    resolved = resolve(str(model))
    if resolved.kind != "local" and output is None:
        raise ValueError(f"{model!r} is a shipped model inside the installed package: write a calibrated copy with -o")
    folder = Path(resolved.path)
    if output is not None:
        target = Path(output)
        if target.exists():
            raise FileExistsError(f"{target} exists; give a new folder for the calibrated copy")
        shutil.copytree(folder, target)
        folder = target
    manifest = calibrated_part(folder)
    source = data or _selected_on(manifest)
    if source in DATASETS and DATASETS.get(source).task != manifest.task:
        raise ValueError(f"dataset {source!r} is not a {manifest.task} dataset; pass one with --data")
    names = [n.strip() for n in source.split("+")] if "+" in source and not Path(source).exists() else None
    labels: Sequence[int] | Grouped
    if names is not None:
        logits, labels = mixture_logits(manifest, names, split, data_dir=data_dir, batch_size=batch_size)
    else:
        logits, labels = logits_and_labels(manifest, source, split, data_dir=data_dir, batch_size=batch_size)
    temperature = fit_temperature(logits, labels)
    section = calibration_summary(logits, labels, temperature, f"{source}:{split}")
    set_manifest_key(manifest.path, "calibration", section)
    return {**section, "folder": str(manifest.path)}


def _selected_on(manifest: Manifest) -> str:
    trained_on = manifest.extra.get("trained_on")
    if isinstance(trained_on, dict) and trained_on.get("validation"):
        return str(trained_on["validation"])
    raise ValueError(f"{manifest.path}: the folder does not say what it was validated on; pass --data")
