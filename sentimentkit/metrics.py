"""Metrics of every task: classification (scikit-learn: accuracy, macro/weighted P/R/F1, confusion matrix), aspect
term spans (exact-match P/R/F1), and whether a metric is better higher or lower (model selection must know)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .labels import LabelSet
from .types import Span

# Metrics that are better lower; every other metric this project reports is better higher.
LOWER_IS_BETTER = frozenset({"loss", "mae", "mse", "rmse", "ece"})


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is better (model selection and pruning read this)."""
    return metric not in LOWER_IS_BETTER


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: LabelSet) -> dict[str, Any]:
    """All metrics for one set of predictions; fractions in [0, 1]; confusion rows are true labels."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("no examples to score")
    ids = list(range(len(labels)))
    result: dict[str, Any] = {"accuracy": float(accuracy_score(y_true, y_pred)), "n": len(y_true)}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=ids, average=average, zero_division=0)
        result[f"precision_{average}"] = float(p)
        result[f"recall_{average}"] = float(r)
        result[f"f1_{average}"] = float(f)
    result["confusion"] = confusion_matrix(y_true, y_pred, labels=ids).tolist()
    result["labels"] = list(labels.names)
    return result


def span_metrics(predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> dict[str, float]:
    """Exact-match span precision, recall and F1 over all sentences (micro-averaged), with the counts."""
    correct = sum(len(set(p) & set(g)) for p, g in zip(predicted, gold, strict=True))
    n_predicted, n_gold = sum(len(set(p)) for p in predicted), sum(len(set(g)) for g in gold)
    precision = correct / n_predicted if n_predicted else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "f1_ate": f1,
        "precision_ate": precision,
        "recall_ate": recall,
        "correct": correct,
        "predicted": n_predicted,
        "gold": n_gold,
    }


ECE_BINS = 15  # equal-width bins of the max probability (Guo et al. 2017)


def reliability_bins(probabilities: Any, labels: Sequence[int], bins: int = ECE_BINS) -> list[dict[str, float]]:
    """The reliability diagram's data: for each of `bins` equal-width bins ((k-1)/bins, k/bins] of the max
    probability, its lower and upper edge, count, mean confidence and accuracy (None where the bin is empty).

    probabilities: (N, C) rows that sum to 1; labels: the true class ids (N,)."""
    import numpy as np

    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"expected (N, C) probabilities and N labels, got {p.shape} and {y.shape}")
    if len(y) == 0:
        raise ValueError("no examples to score")
    confidence = p.max(-1)
    correct = p.argmax(-1) == y
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    out = []
    for k in range(bins):
        inside = which == k
        n = int(inside.sum())
        out.append(
            {
                "lower": k / bins,
                "upper": (k + 1) / bins,
                "count": n,
                "confidence": float(confidence[inside].mean()) if n else None,
                "accuracy": float(correct[inside].mean()) if n else None,
            }
        )
    return out


def expected_calibration_error(probabilities: Any, labels: Sequence[int], bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean gap |accuracy - mean confidence| over equal-width bins of the max probability."""
    table = reliability_bins(probabilities, labels, bins)
    total = sum(b["count"] for b in table)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in table if b["count"]) / total)


def confidence_calibration_error(confidence: Any, correct: Any, bins: int = ECE_BINS) -> float:
    """ECE from each prediction's confidence (N,) in [0, 1] and whether it was right (N,) bool: the same bins as
    `expected_calibration_error`, for predictions pooled from label sets of different sizes."""
    import numpy as np

    c, ok = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    if c.ndim != 1 or c.shape != ok.shape or len(c) == 0:
        raise ValueError(f"expected N > 0 confidences and N correct flags, got {c.shape} and {ok.shape}")
    which = np.clip(np.ceil(c * bins).astype(int) - 1, 0, bins - 1)
    bins_used = [which == k for k in range(bins) if (which == k).any()]
    return float(sum(abs(ok[b].mean() - c[b].mean()) * b.sum() for b in bins_used) / len(c))


def negative_log_likelihood(probabilities: Any, labels: Sequence[int]) -> float:
    """The mean -log p(true class) (probabilities floored at 1e-12)."""
    import numpy as np

    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels)
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())
