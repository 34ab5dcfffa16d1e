from __future__ import annotations

import pytest

from sentimentkit.labels import FIVE_TO_THREE, POLARITY3, SENTIMENT5, LabelSet
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
