"""LabelSet: the only place where label names become ids and back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of label names. Ids are positions in `names`."""

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate label names in {self.names}")
        if not self.names:
            raise ValueError("a LabelSet needs at least one label")

    def __len__(self) -> int:
        return len(self.names)

    def id(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown label {name!r}; expected one of {list(self.names)}") from None

    def name(self, index: int) -> str:
        if not 0 <= index < len(self.names):
            raise IndexError(f"label id {index} is outside 0..{len(self.names) - 1}")
        return self.names[index]

    def ids(self, names: Iterable[str]) -> list[int]:
        return [self.id(n) for n in names]

    def decode(self, ids: Sequence[int]) -> list[str]:
        return [self.name(int(i)) for i in ids]


SENTIMENT5 = LabelSet(("very negative", "negative", "neutral", "positive", "very positive"))
POLARITY3 = LabelSet(("negative", "neutral", "positive"))
BINARY = LabelSet(("negative", "positive"))
EMOTION4 = LabelSet(("anger", "joy", "optimism", "sadness"))

# 5-point -> 3-way, the usual SST collapse: 0-1 negative, 2 neutral, 3-4 positive.
FIVE_TO_THREE = {
    "very negative": "negative",
    "negative": "negative",
    "neutral": "neutral",
    "positive": "positive",
    "very positive": "positive",
}
