from __future__ import annotations

import pytest

from sentimentkit.labels import BINARY, EMOTION4, FIVE_TO_THREE, IGNORE_INDEX, POLARITY3, SENTIMENT5, LabelSet
from sentimentkit.registry import Registry


def test_labelset_round_trip_and_errors():
    assert SENTIMENT5.ids(["neutral", "very positive"]) == [2, 4]
    assert SENTIMENT5.decode([0, 3]) == ["very negative", "positive"]
    with pytest.raises(KeyError, match="expected one of"):
        SENTIMENT5.id("great")
    with pytest.raises(IndexError):
        SENTIMENT5.name(5)
    with pytest.raises(ValueError, match="duplicate"):
        LabelSet(("a", "a"))


def test_five_to_three_covers_every_label():
    assert set(FIVE_TO_THREE) == set(SENTIMENT5.names)
    assert set(FIVE_TO_THREE.values()) == set(POLARITY3.names)


def test_registry_rejects_duplicates_and_lists_known_names():
    registry: Registry[int] = Registry("thing")
    registry.add("a", 1)
    assert registry.get("a") == 1 and "a" in registry
    with pytest.raises(ValueError, match="twice"):
        registry.add("a", 2)
    with pytest.raises(KeyError, match="known: a"):
        registry.get("b")


def test_known_schemes_carry_polarity_and_scale():
    assert LabelSet.of(list(SENTIMENT5.names)) == SENTIMENT5 and SENTIMENT5.polarity_map == FIVE_TO_THREE
    assert LabelSet.of(("negative", "positive")) == BINARY and BINARY.scale == (-1.0, 1.0)
    plain = LabelSet.of(("neg", "pos"))
    assert plain.names == ("neg", "pos") and plain.polarity_map is None and plain.scale is None
    assert LabelSet.of(EMOTION4.names).polarities == ()  # emotions are not polarities
    assert SENTIMENT5.polarities == POLARITY3.names and BINARY.polarities == ("negative", "positive")
    probs = [0.1, 0.2, 0.3, 0.3, 0.1]
    grouped = SENTIMENT5.polarity_probabilities(probs)
    assert grouped == pytest.approx({"negative": 0.3, "neutral": 0.3, "positive": 0.4})
    assert SENTIMENT5.expected_score(probs) == pytest.approx(-0.1 - 0.1 + 0.15 + 0.1)
    assert EMOTION4.polarity_probabilities([0.25] * 4) is None and EMOTION4.expected_score([0.25] * 4) is None
    with pytest.raises(ValueError, match="polarity_map must name every label"):
        LabelSet(("a", "b"), polarity_map={"a": "negative"})
    with pytest.raises(ValueError, match="scale has 1 values"):
        LabelSet(("a", "b"), scale=(1.0,))
    assert IGNORE_INDEX == -100
