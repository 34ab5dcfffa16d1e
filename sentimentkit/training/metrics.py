"""Classification metrics (scikit-learn): accuracy, macro/weighted P/R/F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

from ..labels import LabelSet


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], labels: LabelSet) -> dict:
    """All metrics for one set of predictions; fractions in [0, 1]; confusion rows are true labels."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("no examples to score")
    ids = list(range(len(labels)))
    result: dict = {"accuracy": float(accuracy_score(y_true, y_pred)), "n": len(y_true)}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=ids, average=average, zero_division=0)
        result[f"precision_{average}"] = float(p)
        result[f"recall_{average}"] = float(r)
        result[f"f1_{average}"] = float(f)
    result["confusion"] = confusion_matrix(y_true, y_pred, labels=ids).tolist()
    result["labels"] = list(labels.names)
    return result
