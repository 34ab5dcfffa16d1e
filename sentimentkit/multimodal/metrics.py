"""MMSA's regression metrics for multimodal sentiment, exactly as MMSA computes them, and the ways we report them.

Definitions follow MMSA `utils/metricsTop.py:71-175` (spec section 2):
- rounding is numpy's round-half-to-even (2.5 -> 2, -0.5 -> -0), so Acc-5/Acc-7 classes match MMSA's tables;
- Acc-7 clips both sides to [-3, 3] and Acc-5 to [-2, 2] before rounding; MAE and Corr use the raw values;
- Has0 Acc-2/F1: negative {< 0} against non-negative {>= 0} over every clip;
- Non0 Acc-2/F1: clips whose truth is 0 are dropped; a prediction of exactly 0 counts as negative;
- F1 is scikit-learn's `f1_score(y_true, y_pred, average="weighted")` (per-class F1 weighted by TRUE-class support;
  the argument order matters, see the ALMT bug in spec 1.4); we compute the binary case in numpy (the tests check
  it against scikit-learn) because the bootstrap calls it thousands of times.
- Corr is Pearson's r. When either side is constant it is undefined: we return NaN (as numpy does) and keep it.
- SIMS (`sims_regression`) clips both sides to [-1, 1] before everything, and its Acc-2 splits {<= 0} vs {> 0}:
  the opposite tie rule to Has0.

Values are fractions in [0, 1] and are never rounded here (MMSA rounds to 4 digits in its return value); round when
printing with `rounded`. `mmsa_report` reproduces MMSA's run.py summary over seeds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

MMSA_KEYS = ("has0_acc2", "has0_f1", "non0_acc2", "non0_f1", "acc5", "acc7", "mae", "corr")
SIMS_KEYS = ("acc2", "acc3", "acc5", "f1", "mae", "corr")
LOWER_IS_BETTER = frozenset({"mae"})

# SIMS class edges (MMSA metricsTop.py:138-146): class i when edges[i] < x <= edges[i + 1].
_SIMS_EDGES = {
    2: np.array([-1.01, 0.0, 1.01]),
    3: np.array([-1.01, -0.1, 0.1, 1.01]),
    5: np.array([-1.01, -0.7, -0.1, 0.1, 0.7, 1.01]),
}

Metric = str | Callable[[np.ndarray, np.ndarray], float]


def _flat(pred: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    t = np.asarray(truth, dtype=np.float64).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"predictions and truths differ in size: {p.size} predictions, {t.size} truths")
    if p.size == 0:
        raise ValueError("no predictions to score")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("predictions and truths must be finite numbers (found NaN or inf)")
    return p, t


def multiclass_acc(pred: np.ndarray, truth: np.ndarray) -> float:
    """Share of clips whose rounded prediction equals the rounded truth (np.round: halves go to even)."""
    return float(np.mean(np.round(pred) == np.round(truth)))


def weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """scikit-learn's `f1_score(y_true, y_pred, average="weighted")` for label arrays: per-class F1 over the classes
    seen in either array (0 where precision + recall is 0), weighted by each class's support in `y_true`."""
    y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    if y_true.size == 0:
        return math.nan
    total = 0.0
    for label in np.union1d(y_true, y_pred):
        is_true, is_pred = y_true == label, y_pred == label
        support = int(is_true.sum())
        if support == 0:
            continue  # weight 0
        hits = int((is_true & is_pred).sum())
        denominator = support + int(is_pred.sum())  # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (|true| + |pred|)
        total += support * (2.0 * hits / denominator)
    return total / y_true.size


def pearson(pred: np.ndarray, truth: np.ndarray) -> float:
    """Pearson's r, as `np.corrcoef(pred, truth)[0][1]`; NaN when either side is constant or has < 2 values."""
    if pred.size < 2 or np.ptp(pred) == 0 or np.ptp(truth) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.corrcoef(pred, truth)[0][1])


def _binary_weighted_f1(y_true: np.ndarray, y_pred: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """`weighted_f1` per row of (B, N) boolean arrays, counting only the positions where `keep` is True."""
    total = np.zeros(y_true.shape[0])
    for t, p in ((y_true, y_pred), (~y_true, ~y_pred)):
        support = (t & keep).sum(axis=1)
        denominator = support + (p & keep).sum(axis=1)
        hits = (t & p & keep).sum(axis=1)
        total += support * np.divide(2.0 * hits, denominator, out=np.zeros(len(total)), where=denominator > 0)
    return np.divide(total, keep.sum(axis=1), out=np.full(len(total), np.nan), where=keep.any(axis=1))


def _pearson_rows(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    dp, dt = p - p.mean(axis=1, keepdims=True), t - t.mean(axis=1, keepdims=True)
    denominator = np.sqrt((dp**2).sum(axis=1) * (dt**2).sum(axis=1))
    constant = (np.ptp(p, axis=1) == 0) | (np.ptp(t, axis=1) == 0)
    r = np.divide((dp * dt).sum(axis=1), denominator, out=np.full(len(p), np.nan), where=~constant)
    return np.clip(r, -1.0, 1.0)  # as np.corrcoef does


def mmsa_regression_rows(pred: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """`mmsa_regression` for each row of (B, N) predictions and truths at once (bootstrap resamples): every
    value is a (B,) array. One implementation serves both, so the bootstrap scores exactly what is reported."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    nonzero = t != 0
    everything = np.ones_like(nonzero)
    n_non0 = nonzero.sum(axis=1)
    non0_hits = (((p > 0) == (t > 0)) & nonzero).sum(axis=1)
    return {
        "has0_acc2": np.mean((p >= 0) == (t >= 0), axis=1),
        "has0_f1": _binary_weighted_f1(t >= 0, p >= 0, everything),
        "non0_acc2": np.divide(non0_hits, n_non0, out=np.full(len(p), np.nan), where=n_non0 > 0),
        "non0_f1": _binary_weighted_f1(t > 0, p > 0, nonzero),
        "acc5": np.mean(np.round(np.clip(p, -2, 2)) == np.round(np.clip(t, -2, 2)), axis=1),
        "acc7": np.mean(np.round(np.clip(p, -3, 3)) == np.round(np.clip(t, -3, 3)), axis=1),
        "mae": np.mean(np.abs(p - t), axis=1),
        "corr": _pearson_rows(p, t),
        "n": np.full(len(p), p.shape[1]),
        "n_non0": n_non0,
    }


def mmsa_regression(pred: Any, truth: Any) -> dict[str, float]:
    """MMSA's MOSI/MOSEI regression metrics (`mosi_mosei_regression`) on predictions and truths in [-3, 3].

    Keys: has0_acc2, has0_f1, non0_acc2, non0_f1, acc5, acc7, mae, corr (floats, unrounded), n (clips) and
    n_non0 (clips with a non-zero truth). The non0 metrics are NaN when every truth is 0; corr is NaN when the
    predictions (or truths) are constant."""
    p, t = _flat(pred, truth)
    rows = mmsa_regression_rows(p[None], t[None])
    return {k: int(v[0]) if k in ("n", "n_non0") else float(v[0]) for k, v in rows.items()}


def sims_classes(values: np.ndarray, classes: int) -> np.ndarray:
    """SIMS class of each value in [-1, 1] for 2, 3 or 5 classes: i when edges[i] < x <= edges[i + 1]."""
    return np.searchsorted(_SIMS_EDGES[classes], values, side="left") - 1


def sims_regression(pred: Any, truth: Any) -> dict[str, float]:
    """MMSA's SIMS regression metrics (`sims_regression`): both sides clipped to [-1, 1] before everything.

    Keys: acc2 ({<= 0} vs {> 0}), acc3 (edges -0.1, 0.1), acc5 (edges -0.7, -0.1, 0.1, 0.7), f1 (weighted, on the
    2 classes, true classes first), mae, corr (of the clipped values; NaN when constant), n."""
    p, t = _flat(pred, truth)
    p, t = np.clip(p, -1, 1), np.clip(t, -1, 1)
    out = {f"acc{k}": float(np.mean(sims_classes(p, k) == sims_classes(t, k))) for k in (2, 3, 5)}
    out["f1"] = weighted_f1(sims_classes(t, 2), sims_classes(p, 2))
    out["mae"] = float(np.mean(np.abs(p - t)))
    out["corr"] = pearson(p, t)
    out["n"] = int(p.size)
    return out


def rounded(metrics: Mapping[str, Any], digits: int = 4) -> dict[str, Any]:
    """A copy for printing: floats rounded to `digits` (as MMSA returns them), ints and NaN as they are."""
    return {k: round(float(v), digits) if isinstance(v, float) and not math.isnan(v) else v for k, v in metrics.items()}


def mmsa_report(per_seed: Sequence[Mapping[str, Any]], mmsa_rounding: bool = True) -> dict[str, Any]:
    """Mean and population std over seeds of each float metric, x100 and rounded to 2 decimals, as MMSA's
    `run.py:216-237` reports them (mae and corr are x100 too, as there). With `mmsa_rounding` each seed's value is
    first rounded to 4 digits, as MMSA's metric functions return them, so the numbers match MMSA's tables.

    Returns {metric: {"mean": .., "std": ..}, ..., "seeds": k}; a metric that is NaN on any seed reports NaN."""
    if not per_seed:
        raise ValueError("mmsa_report needs the metrics of at least one seed")
    keys = [k for k, v in per_seed[0].items() if isinstance(v, float)]
    report: dict[str, Any] = {}
    for key in keys:
        missing = [i for i, m in enumerate(per_seed) if key not in m]
        if missing:
            raise ValueError(f"seed {missing[0]} has no metric {key!r}; every seed must report the same metrics")
        values = np.array([float(m[key]) for m in per_seed])
        if mmsa_rounding:
            values = np.round(values, 4)
        report[key] = {"mean": round(float(np.mean(values)) * 100, 2), "std": round(float(np.std(values)) * 100, 2)}
    report["seeds"] = len(per_seed)
    return report


def _scorer(metric: Metric) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function scoring each row of (B, N) predictions against (B, N) truths, giving (B,) values."""
    if callable(metric):
        return lambda p, t: np.array([metric(p_row, t_row) for p_row, t_row in zip(p, t, strict=True)])
    if metric in MMSA_KEYS:
        return lambda p, t: mmsa_regression_rows(p, t)[metric]
    if metric.startswith("sims_") and metric[5:] in SIMS_KEYS:
        key = metric[5:]
        return lambda p, t: np.array([sims_regression(p_row, t_row)[key] for p_row, t_row in zip(p, t, strict=True)])
    raise ValueError(f"unknown metric {metric!r}; expected one of {MMSA_KEYS}, sims_<{'|'.join(SIMS_KEYS)}>")


def paired_bootstrap(
    pred_a: Any, pred_b: Any, truth: Any, metric: Metric, n: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Paired bootstrap of metric(a) - metric(b) over clips, with a 95% percentile interval.

    pred_a, pred_b: (clips,) or (seeds, clips) predictions on the same clips (2-D: one row per training seed; each
    resample draws clips with replacement, scores every seed on them and averages over seeds). metric: a key of
    `mmsa_regression` ("mae", "non0_acc2", ...), "sims_<key>", or a function (pred, truth) -> float.
    Returns mean_diff (the difference on the full data, averaged over seeds), lo and hi (2.5 and 97.5
    percentiles of the resampled differences) and n (resamples whose difference is defined, e.g. not NaN corr)."""
    a, b = np.asarray(pred_a, dtype=np.float64), np.asarray(pred_b, dtype=np.float64)
    a, b = (a[None], b[None]) if a.ndim == 1 else (a, b)
    t = np.asarray(truth, dtype=np.float64).reshape(-1)
    if a.ndim != 2 or a.shape != b.shape or a.shape[1] != t.size:
        raise ValueError(
            f"predictions must be (clips,) or (seeds, clips) of the same shape with one truth per clip; "
            f"got {np.shape(pred_a)}, {np.shape(pred_b)} and {t.size} truths"
        )
    score = _scorer(metric)

    def diff(index: np.ndarray) -> np.ndarray:  # index (B, N) -> (B,) seed-mean differences
        return np.mean([score(a[s][index], t[index]) - score(b[s][index], t[index]) for s in range(len(a))], axis=0)

    rng = np.random.default_rng(seed)
    chunks = [diff(rng.integers(0, t.size, (min(250, n - start), t.size))) for start in range(0, n, 250)]
    draws = np.concatenate(chunks) if chunks else np.zeros(0)
    draws = draws[np.isfinite(draws)]
    lo, hi = np.percentile(draws, [2.5, 97.5]) if draws.size else (math.nan, math.nan)
    full = float(diff(np.arange(t.size)[None])[0])
    return {"mean_diff": full, "lo": float(lo), "hi": float(hi), "n": int(draws.size)}
