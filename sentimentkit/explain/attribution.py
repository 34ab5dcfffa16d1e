"""What an explanation is: one score per word of the text (how much it moved the explained label's probability),
with what the model itself shows about the same words (attention, the MDW weight, MoE experts) beside it; for a
multimodal clip, the words and each audio and vision frame (`ClipAttribution`, made by `explain/multimodal.py`)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# the words a reader sees: runs of letters/digits (with inner apostrophes and hyphens), or one other character
WORD = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class WordScore:
    """One word of the text: its characters [start, end) and its attribution.

    score: summed integrated-gradients attribution of the word's subwords toward the explained label (in
    probability units; None for words the model did not read because the text was cut to its window).
    aspect: the word is part of the aspect being explained (kept in the baseline, so its score is 0).
    attention: the model's own attention on the word (IAGCN's context attention, or the encoder's last-layer
    attention received, averaged over heads and tokens), summed over its subwords.
    mdw: the MDW weight the word's states were scaled by (IAGCN). experts: per MoE layer, the expert of the
    word's first subword.
    """

    word: str
    start: int
    end: int
    score: float | None
    aspect: bool = False
    attention: float | None = None
    mdw: float | None = None
    experts: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Attribution:
    """Integrated gradients of one prediction, folded from subwords back to words.

    label: the explained label (by default the predicted one); probability: its probability on the text;
    baseline_probability: on the baseline (every content subword replaced by [PAD], aspect subwords kept);
    delta: completeness error, sum of the subword attributions - (probability - baseline_probability): near 0
    when `steps` sufficed. text: the text explained (for an aspect, its sentence); offset: where that text starts
    in the input.
    """

    text: str
    words: tuple[WordScore, ...]
    label: str
    predicted: str
    probability: float
    baseline_probability: float
    probabilities: dict[str, float]
    delta: float
    steps: int
    method: str = "integrated-gradients"
    aspect: str | None = None
    offset: int = 0
    truncated: bool = False

    @property
    def attribution_sum(self) -> float:
        return float(sum(w.score for w in self.words if w.score is not None))

    def top(self, k: int = 5, toward: bool = True) -> list[WordScore]:
        """The k words that pushed hardest toward the label (`toward=False`: against it)."""
        scored = [w for w in self.words if w.score is not None and not w.aspect]
        scored.sort(key=lambda w: w.score, reverse=toward)  # type: ignore[arg-type, return-value]
        return [w for w in scored[:k] if (w.score > 0 if toward else w.score < 0)]  # type: ignore[operator]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["words"] = [{k: v for k, v in w.items() if v is not None} for w in out["words"]]
        return out

    def to_html(self) -> str:
        from .render import html_page

        return html_page([self])

    def save(self, path: str | Path) -> Path:
        """Write .html (a page), .png (a heatmap) or .json, by the file's suffix."""
        return save_attributions([self], path)


@dataclass(frozen=True)
class FrameScores:
    """One modality of a clip, frame by frame (the clip's real frames only).

    scores: integrated-gradients attribution per frame (summed over features). attention: ALMT's AHL attention
    carried to the frames (sums to 1 over frames; None for other models or a modality without frames).
    read: frames the model read (a model with fixed input lengths cuts longer clips; frames past it score 0).
    """

    modality: str
    scores: tuple[float, ...]
    attention: tuple[float, ...] | None = None
    read: int = 0

    @property
    def total(self) -> float:
        return float(sum(self.scores))


@dataclass(frozen=True)
class ClipAttribution:
    """Integrated gradients of one multimodal prediction over words, audio frames and vision frames.

    value: the model's raw sentiment value for the clip (the pipeline clips it to [-3, 3]); baseline_value: for the
    clip with zero token states and zero frames. text_total: attribution of every text position, special tokens
    and padding included (the words' scores are the content part). delta: completeness error, text_total +
    audio.total + vision.total - (value - baseline_value). ahl_audio_share: per AHL layer (ALMT only).
    """

    text: str
    words: tuple[WordScore, ...]
    audio: FrameScores
    vision: FrameScores
    value: float
    baseline_value: float
    text_total: float
    delta: float
    steps: int
    id: str | None = None
    model: str = ""
    truncated: bool = False
    ahl_audio_share: tuple[float, ...] | None = None
    method: str = "integrated-gradients"

    @property
    def polarity(self) -> str:
        from ..tasks.multimodal import value_prediction
        from ..types import MultimodalExample

        empty = np.zeros((0, 1), dtype=np.float32)
        return str(value_prediction(MultimodalExample(self.text, empty, empty), self.value).polarity)

    @property
    def modality_totals(self) -> dict[str, float]:
        """How much of value - baseline_value each modality accounts for."""
        return {"text": self.text_total, "audio": self.audio.total, "vision": self.vision.total}

    def top_frames(self, modality: str, k: int = 5) -> list[tuple[int, float]]:
        """The k frames of `modality` with the largest absolute attribution, as (frame index, score)."""
        frames = self.audio if modality == "audio" else self.vision
        ranked = sorted(enumerate(frames.scores), key=lambda f: -abs(f[1]))
        return [(i, float(s)) for i, s in ranked[:k]]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["words"] = [{k: v for k, v in w.items() if v is not None} for w in out["words"]]
        out["polarity"] = self.polarity
        out["modality_totals"] = self.modality_totals
        return out

    def to_html(self) -> str:
        from .render import clip_page

        return clip_page([self])

    def save(self, path: str | Path) -> Path:
        """Write .html (a page), .png (a figure) or .json, by the file's suffix."""
        return save_attributions([self], path)


def save_attributions(attributions: list[Any], path: str | Path) -> Path:
    """Write explanations to `path`: .html, .png or .json (ValueError for anything else, before any work).
    Text explanations (`Attribution`) or multimodal ones (`ClipAttribution`), not both in one file."""
    from . import render

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: expected a .html, .png or .json file")
    clips = [isinstance(a, ClipAttribution) for a in attributions]
    if any(clips) and not all(clips):
        raise ValueError("text and clip explanations go to separate files")
    if suffix == ".json":
        path.write_text(json.dumps([a.to_dict() for a in attributions], indent=2, ensure_ascii=False) + "\n")
    elif suffix == ".html":
        page = render.clip_page if any(clips) else render.html_page
        path.write_text(page(attributions), encoding="utf-8")
    else:
        (render.save_clip_png if any(clips) else render.save_png)(attributions, path)
    return path


SUFFIXES = (".html", ".png", ".json")
