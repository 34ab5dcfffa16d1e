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
