from __future__ import annotations

import pytest

from sentimentkit.labels import POLARITY3
from sentimentkit.metrics import classification_metrics, higher_is_better


def test_metrics_match_hand_computation():
    m = classification_metrics([0, 0, 1, 2], [0, 1, 1, 2], POLARITY3)
    assert m["accuracy"] == 0.75
    # per class F1: neg 2/3 (p=1, r=.5), neu 2/3 (p=.5, r=1), pos 1
    assert m["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m["f1_weighted"] == pytest.approx((2 * 2 / 3 + 2 / 3 + 1) / 4)
    assert m["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_metrics_reject_mismatched_or_empty():
    with pytest.raises(ValueError, match="3 true labels but 2"):
        classification_metrics([0, 1, 2], [0, 1], POLARITY3)
    with pytest.raises(ValueError, match="no examples"):
        classification_metrics([], [], POLARITY3)


def test_selection_direction_of_each_metric():
    assert higher_is_better("accuracy") and higher_is_better("f1_macro") and higher_is_better("f1_ate")
    assert not higher_is_better("loss") and not higher_is_better("mae")
