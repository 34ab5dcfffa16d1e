"""Temperature scaling (Guo et al. 2017): one temperature T > 0 divides a classifier's logits before the softmax.

T is fit on a validation split by minimising the negative log-likelihood of softmax(logits / T) (L-BFGS on log T,
so T stays positive). Dividing every logit by the same T keeps their order, so labels never change; only the
confidence moves (T > 1 softens an overconfident model). `calibrate` writes T into the model folder's manifest
(`calibration`: the temperature, what it was fit on, NLL and expected calibration error before and after), and
every task that makes probabilities applies it: text classification, aspect polarity, torch and ONNX alike.
A bundle (`absa-en`) is calibrated through its polarity component (the extractor's tags carry no confidence).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import DATASETS
from ..hub import Manifest, read_manifest, resolve, set_manifest_key
from ..metrics import ECE_BINS, expected_calibration_error, negative_log_likelihood
from ..tasks.base import TASKS, forward_batches, gather_logits, softmax

# Tasks whose models give one class distribution per item (what a temperature calibrates).
CALIBRATED_TASKS = ("text-classification.v1", "aspect-polarity.v1")
TEMPERATURE_RANGE = (0.05, 20.0)  # a fit outside this says the data or the model is broken, not overconfident


def fit_temperature(logits: np.ndarray, labels: Sequence[int], max_iter: int = 100) -> float:
    """The T > 0 that minimises the mean NLL of softmax(logits / T) against `labels` (class ids).

    logits: (N, C). The NLL is convex in 1 / T, so the optimum is unique; L-BFGS on log T finds it in a few steps.
    """
    import torch

    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if z.ndim != 2 or len(z) != len(y) or len(y) == 0:
        raise ValueError(f"expected (N, C) logits and N labels (N > 0), got {tuple(z.shape)} and {tuple(y.shape)}")
    if int(y.min()) < 0 or int(y.max()) >= z.shape[1]:
        raise ValueError(f"labels must be class ids in [0, {z.shape[1]}); got {int(y.min())}..{int(y.max())}")
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    lo, hi = TEMPERATURE_RANGE
    return float(min(max(log_t.exp().item(), lo), hi))


def calibration_summary(logits: np.ndarray, labels: Sequence[int], temperature: float, fit_on: str) -> dict[str, Any]:
    """The manifest's `calibration` section: T, what it was fit on, and NLL / ECE before and after on that data."""
    before, after = softmax(np.asarray(logits, dtype=np.float64)), softmax(np.asarray(logits) / temperature)
    return {
        "temperature": round(float(temperature), 6),
        "fit_on": fit_on,
        "n": len(labels),
        "nll_before": round(negative_log_likelihood(before, labels), 6),
        "nll_after": round(negative_log_likelihood(after, labels), 6),
        "ece_before": round(expected_calibration_error(before, labels), 6),
        "ece_after": round(expected_calibration_error(after, labels), 6),
        "ece_bins": ECE_BINS,
    }


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
