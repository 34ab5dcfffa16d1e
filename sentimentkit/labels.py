"""LabelSet: the only place where label names become ids and back, and where a label scheme says what its
classes mean for polarity (negative / neutral / positive) and for a score in [-1, 1]."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

IGNORE_INDEX = -100  # a target id that the loss skips (padding, non-first subwords, unlabelled examples)
POLARITIES = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class LabelSet:
    """An ordered set of label names. Ids are positions in `names`.

    polarity_map: the polarity of each label (a 5-point scale collapses to three), or None when the labels are
    not polarities (emotions); scale: each label's place on [-1, 1], for a score that is the expected value.
    """

    names: tuple[str, ...]
    polarity_map: Mapping[str, str] | None = None
    scale: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate label names in {self.names}")
        if not self.names:
            raise ValueError("a LabelSet needs at least one label")
        if self.polarity_map is not None:
            if set(self.polarity_map) != set(self.names):
                raise ValueError(f"polarity_map must name every label of {self.names}, got {sorted(self.polarity_map)}")
            bad = sorted(set(self.polarity_map.values()) - set(POLARITIES))
            if bad:
                raise ValueError(f"polarity_map values {bad}: expected {POLARITIES}")
            object.__setattr__(self, "polarity_map", dict(self.polarity_map))
        if self.scale is not None:
            object.__setattr__(self, "scale", tuple(float(x) for x in self.scale))
            if len(self.scale) != len(self.names):
                raise ValueError(f"scale has {len(self.scale)} values for {len(self.names)} labels")

    def __hash__(self) -> int:
        return hash((self.names, self.scale, tuple(sorted((self.polarity_map or {}).items()))))

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

    @property
    def polarities(self) -> tuple[str, ...]:
        """The polarities this label set can express, in POLARITIES order (empty without a polarity map)."""
        if self.polarity_map is None:
            return ()
        return tuple(p for p in POLARITIES if p in self.polarity_map.values())

    def polarity_probabilities(self, probabilities: Sequence[float]) -> dict[str, float] | None:
        """Summed probability of each polarity, or None when the labels are not polarities."""
        if self.polarity_map is None:
            return None
        out = dict.fromkeys(self.polarities, 0.0)
        for name, p in zip(self.names, probabilities, strict=True):
            out[self.polarity_map[name]] += float(p)
        return out

    def expected_score(self, probabilities: Sequence[float]) -> float | None:
        """The expected value of the scale under `probabilities`, in [-1, 1]; None without a scale."""
        if self.scale is None:
            return None
        return float(sum(s * float(p) for s, p in zip(self.scale, probabilities, strict=True)))

    @classmethod
    def of(cls, names: Sequence[str]) -> LabelSet:
        """The label set with these names: a known scheme (with its polarity map and scale) or a plain one."""
        names = tuple(names)
        return KNOWN.get(names, cls(names))


SENTIMENT5 = LabelSet(
    ("very negative", "negative", "neutral", "positive", "very positive"),
    # the usual SST collapse: 0-1 negative, 2 neutral, 3-4 positive
    polarity_map={
        "very negative": "negative",
        "negative": "negative",
        "neutral": "neutral",
        "positive": "positive",
        "very positive": "positive",
    },
    scale=(-1.0, -0.5, 0.0, 0.5, 1.0),
)
POLARITY3 = LabelSet(POLARITIES, polarity_map={p: p for p in POLARITIES}, scale=(-1.0, 0.0, 1.0))
BINARY = LabelSet(
    ("negative", "positive"), polarity_map={"negative": "negative", "positive": "positive"}, scale=(-1, 1)
)
EMOTION4 = LabelSet(("anger", "joy", "optimism", "sadness"))
KNOWN = {labels.names: labels for labels in (SENTIMENT5, POLARITY3, BINARY, EMOTION4)}

# 5-point -> 3-way (kept for callers of the old constant; SENTIMENT5.polarity_map is the source)
FIVE_TO_THREE = dict(SENTIMENT5.polarity_map or {})
