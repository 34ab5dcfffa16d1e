"""Typed data that users and readers see: frozen dataclasses, no tensors.

Readers yield these; the collate step turns them into tensors; pipelines return predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TextExample:
    """A document or sentence with an optional class label and/or a continuous score.

    `source` says where it came from ("file:line"), so errors downstream can point back to it.
    """

    text: str
    label: str | None = None
    score: float | None = None
    id: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class AspectTerm:
    """An aspect term with its character span [start, end) in the sentence text."""

    term: str
    start: int
    end: int
    polarity: str | None = None


@dataclass(frozen=True)
class DepParse:
    """A dependency parse over words. `heads` are 1-based with 0 for the root (CoNLL-U convention)."""

    words: tuple[str, ...]
    heads: tuple[int, ...]
    deprels: tuple[str, ...]
    pos: tuple[str, ...] = ()
    upos: tuple[str, ...] = ()
    text: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        n = len(self.words)
        for name in ("heads", "deprels"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"DepParse.{name} has {len(getattr(self, name))} entries for {n} words")
        for name in ("pos", "upos"):
            if getattr(self, name) and len(getattr(self, name)) != n:
                raise ValueError(f"DepParse.{name} has {len(getattr(self, name))} entries for {n} words")
        for i, h in enumerate(self.heads):
            if not 0 <= h <= n:
                raise ValueError(f"DepParse.heads[{i}] = {h} is outside 0..{n}")


@dataclass(frozen=True)
class AspectSentence:
    """A sentence with all its aspect terms (for extraction), optionally with a dependency parse."""

    text: str
    terms: tuple[AspectTerm, ...] = ()
    id: str | None = None
    parse: DepParse | None = None
    source: str | None = None


@dataclass(frozen=True)
class AspectExample:
    """One (sentence, aspect) pair for aspect polarity classification.

    `spans` lists every character span of the aspect in `text` (Twitter data marks some aspects twice).
    """

    text: str
    aspect: str
    spans: tuple[tuple[int, int], ...]
    polarity: str | None = None
    id: str | None = None
    parse: DepParse | None = None
    source: str | None = None


@dataclass(frozen=True)
class MultimodalExample:
    """A clip with its transcript, optional feature arrays (numpy) and a sentiment score in [-3, 3]."""

    id: str
    text: str
    score: float | None = None
    annotation: str | None = None
    split: str | None = None
    audio: object | None = None
    vision: object | None = None
    source: str | None = None


@dataclass(frozen=True)
class Prediction:
    """Document-level sentiment of one text.

    label: 5-point label; polarity: 3-way; score: continuous in [-1, 1] (expected value of the 5-point scale).
    """

    text: str
    label: str
    polarity: str
    score: float
    probabilities: dict[str, float] = field(default_factory=dict)
    aspects: tuple[AspectPrediction, ...] = ()


@dataclass(frozen=True)
class AspectPrediction:
    """Sentiment towards one aspect, with its character span in the text."""

    aspect: str
    start: int
    end: int
    polarity: str
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Attribution:
    """Per-token contributions to a prediction (for explanations)."""

    tokens: tuple[str, ...]
    scores: tuple[float, ...]
    target: str
