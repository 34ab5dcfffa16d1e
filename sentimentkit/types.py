"""Typed data that users and readers see: frozen dataclasses, no tensors.

Readers yield examples; tasks encode them and decode model outputs into predictions; `Prediction.to_dict()` is
the one row format that the CLI, files and (later) the service write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


class Span(NamedTuple):
    """A character span [start, end) into a text. A tuple, so `a, b = span` and `span == (a, b)` work."""

    start: int
    end: int


@dataclass(frozen=True)
class TextExample:
    """A document or sentence with an optional class label and/or a continuous value.

    `source` says where it came from ("file:line"), so errors downstream can point back to it; `fields` carries
    any other columns of the input record that the user asked to keep (they travel to the output row).
    """

    text: str
    label: str | None = None
    score: float | None = None  # a continuous label (MOSI's sentiment in [-3, 3]); regression tasks train on it
    id: str | None = None
    source: str | None = None
    fields: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class AspectTerm:
    """An aspect term with its character span [start, end) in the sentence text."""

    term: str
    start: int
    end: int
    polarity: str | None = None

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)


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
    spans: tuple[Span, ...]
    polarity: str | None = None
    id: str | None = None
    parse: DepParse | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "spans", tuple(Span(int(a), int(b)) for a, b in self.spans))


@dataclass(frozen=True)
class ClipLabel:
    """One row of an MMSA `label.csv`: a clip's id, transcript, sentiment score in [-3, 3], annotation and split."""

    id: str
    text: str
    score: float | None = None
    annotation: str | None = None
    split: str | None = None
    source: str | None = None


@dataclass(frozen=True, eq=False)
class MultimodalExample:
    """One clip of multimodal data. Sequences hold the clip's real frames only (padding is removed when data
    is read and added per batch by collate); a missing modality is a (0, D) array; `parts` is for generated data
    (SynMOSI): the signal and nuisance components whose sum is the audio or vision array.

    audio: (T_a, D_a) float32 and vision: (T_v, D_v) float32; label: the sentiment value (MOSI: [-3, 3]) or None;
    meta: JSON-ready facts (speaker, annotation, conflict); fields: input columns kept for the output row."""

    text: str
    audio: np.ndarray
    vision: np.ndarray
    label: float | None = None
    id: str | None = None
    source: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    parts: Mapping[str, np.ndarray] = field(default_factory=dict)
    fields: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        where = self.source or self.id or "example"
        for name in ("audio", "vision"):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.ndim != 2:
                shape = getattr(value, "shape", type(value).__name__)
                raise ValueError(f"{where}: {name} must be a 2-D array (frames, features), got {shape}")
            if not np.issubdtype(value.dtype, np.floating):
                raise ValueError(f"{where}: {name} must hold floats, got {value.dtype}")
            if not np.isfinite(value).all():
                bad = int(np.argwhere(~np.isfinite(value))[0][0])
                raise ValueError(f"{where}: {name} has NaN or infinite values (first at frame {bad})")
        if self.label is not None and not np.isfinite(self.label):
            raise ValueError(f"{where}: label must be a finite number, got {self.label!r}")

    @property
    def dims(self) -> tuple[int, int]:
        """(D_a, D_v): the feature sizes a model is built for."""
        return int(self.audio.shape[1]), int(self.vision.shape[1])


@dataclass(frozen=True)
class AspectPrediction:
    """Sentiment towards one occurrence of an aspect, with its character span in the text."""

    aspect: str
    start: int
    end: int
    polarity: str
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)

    def to_dict(self, digits: int | None = 4) -> dict[str, Any]:
        return {
            "aspect": self.aspect,
            "start": self.start,
            "end": self.end,
            "polarity": self.polarity,
            "confidence": _round(self.confidence, digits),
            "probabilities": {k: _round(v, digits) for k, v in self.probabilities.items()},
        }


@dataclass(frozen=True)
class Prediction:
    """What a pipeline says about one input, for every task.

    label: the argmax class (None for an aspect-only model, a regression model, or an input that could not be
    scored); probabilities: per class; value: a regression output; polarity and score: derived from the label
    set (a 5-point or 3-way model has them, an emotion model does not): polarity by summed probability over
    each polarity's classes, score the expected value of the label scale in [-1, 1]. aspects: each aspect
    occurrence with its polarity. id: the input's id (a given id, else its line or record number).
    truncated: the text was longer than the model's window and only its start (or head and tail) was read;
    chunks: with sentence-chunked scoring, how many chunks were scored and averaged. error: why the input got
    no label (blank, undecodable); warnings: things the user should know (an aspect term that does not occur,
    text that looks like another language than the model reads). language: the detected language of the text
    (ISO 639-1 code; None for a blank text or one without letters). fields: other columns of the input record that
    the user asked to keep.
    """

    text: str
    label: str | None = None
    polarity: str | None = None
    score: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    aspects: tuple[AspectPrediction, ...] = ()
    id: str | None = None
    value: float | None = None
    truncated: bool = False
    chunks: int | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    fields: tuple[tuple[str, Any], ...] = ()
    language: str | None = None

    def to_dict(self, digits: int | None = 4, aspects: bool | None = None) -> dict[str, Any]:
        """A JSON-ready row: id and text first, then whatever this prediction has (None fields left out).

        `digits` rounds the floats (None: full precision); `aspects`: always (True) or never (False) write the
        aspect list; None writes it when there are aspects.
        """
        row: dict[str, Any] = {"id": self.id, "text": self.text}
        row.update(dict(self.fields))
        for name in ("label", "polarity"):
            if getattr(self, name) is not None:
                row[name] = getattr(self, name)
        for name in ("score", "value"):
            if getattr(self, name) is not None:
                row[name] = _round(getattr(self, name), digits)
        if self.probabilities:
            row["probabilities"] = {k: _round(v, digits) for k, v in self.probabilities.items()}
        if aspects or (aspects is None and self.aspects):
            row["aspects"] = [a.to_dict(digits) for a in self.aspects]
        if self.language is not None:
            row["language"] = self.language
        if self.truncated:
            row["truncated"] = True
        if self.chunks is not None:
            row["chunks"] = self.chunks
        if self.error is not None:
            row["error"] = self.error
        if self.warnings:
            row["warnings"] = list(self.warnings)
        return row


@dataclass(frozen=True)
class Attribution:
    """Per-word contributions to a prediction (for explanations): word spans, scores and the explained label."""

    text: str
    spans: tuple[Span, ...]
    scores: tuple[float, ...]
    target: str


def _round(value: float, digits: int | None) -> float:
    return float(value) if digits is None else round(float(value), digits)
