"""Explanations of a multimodal prediction: which words, audio frames and video frames moved the sentiment value.

Integrated gradients run jointly over the three inputs the fusion model reads: the text encoder's token states
(every multimodal model reads its transcript through `TextFeatures`), the audio frames and the vision frames. The
path starts from a clip with zero token states and zero frames (masks as in the clip) and ends at the clip, so the
word, audio-frame and vision-frame attributions together add up, up to `delta`, to value(clip) - value(baseline),
in units of the sentiment value ([-3, 3] on MOSI). A word's score is the sum over its subwords and the hidden
size; a frame's the sum over its features. Attributing to the token states rather than the word embeddings keeps
one method for frozen and fine-tuned text encoders (a frozen encoder runs without gradients).

ALMT also shows its own routing, as the model computes it in one plain forward pass:
- words: the attention the 8 language tokens of its modality embedding pay to each word (last embedding layer,
  averaged over heads and tokens);
- frames: the Adaptive Hyper-modality Learning (AHL) attention, carried to frames. AHL attends from the language
  scales to the 8 compressed audio (and vision) tokens; each compressed token is itself an attention over frames
  in the modality embedding. The frame weight is the AHL attention a compressed token receives (averaged over the
  AHL layers, heads and language queries) times that token's attention over the frames (last embedding layer,
  averaged over heads), summed over tokens and normalised over the clip's frames. This is a one-step attention
  rollout: it ignores residual paths and feed-forward layers, so it says where the model looked, not what
  decided; the integrated gradients say that.
- per AHL layer, the audio share of what the hyper-modality took in: |audio output| / (|audio| + |vision|), the
  norms of the two attention outputs before they are summed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from ..types import MultimodalExample
from .attribution import WORD, ClipAttribution, FrameScores, WordScore
from .core import _torch_pipeline, expanded


class ClipExplainer:
    """Explanations for a loaded multimodal pipeline (`sentimentkit.load(MODEL)` of a multimodal model).

    steps: integration steps; internal_batch_size: interpolated clips per forward pass.
    """

    def __init__(self, pipeline: Any, steps: int = 50, internal_batch_size: int = 32) -> None:
        from ..tasks.multimodal import MultimodalRegression

        if steps < 2:
            raise ValueError(f"steps must be at least 2, got {steps}")
        if not isinstance(pipeline.task, MultimodalRegression):
            raise ValueError(f"{pipeline.manifest.path}: not a multimodal model ({pipeline.task.name})")
        if getattr(pipeline, "backend", "torch") == "onnx":
            pipeline = _torch_pipeline(pipeline)
        self.pipeline, self.task, self.model = pipeline, pipeline.task, pipeline.model
        self.steps, self.internal_batch_size = steps, internal_batch_size
        text = getattr(self.model, "text", None)
        if not isinstance(text, nn.Module):
            raise ValueError(f"{type(self.model).__name__}: no text encoder module (`text`) to attribute to")
        self.text_module = text

    def explain(self, clips: Any) -> list[ClipAttribution]:
        """One ClipAttribution per clip: a MultimodalExample, a .npz clip file (every clip in it), or a list.

        ValueError for a blank transcript or feature sizes the model was not trained on (naming the clip)."""
        examples = self.task.as_inputs(clips)
        if not examples:
            raise ValueError("nothing to explain: no clips given")
        for x in examples:
            if not x.text.strip():
                raise ValueError(f"{x.source or x.id or 'clip'}: blank transcript: there is nothing to explain")
        self.task.check_clip_dims(examples)
        return [self.attribute(x) for x in examples]

    def attribute(self, example: MultimodalExample) -> ClipAttribution:
        from captum.attr import IntegratedGradients

        item = self.task.encode([replace(example, label=None)])[0]
        batch = self.task.collate([item])
        self.model.eval()
        states, views = self._plain_forward(batch, example)
        forward = self._forward(batch)
        inputs = (states, batch.audio, batch.vision)
        baselines = tuple(torch.zeros_like(x) for x in inputs)
        with torch.enable_grad():
            scores, delta = IntegratedGradients(forward).attribute(
                inputs,
                baselines=baselines,
                n_steps=self.steps,
                method="gausslegendre",
                internal_batch_size=self.internal_batch_size,
                return_convergence_delta=True,
            )
        with torch.no_grad():
            value = float(forward(*inputs)[0])
            base = float(forward(*baselines)[0])
        token_scores = scores[0].sum(-1)[0].detach().float().tolist()  # (L,)
        audio_scores = scores[1].sum(-1)[0].detach().float().tolist()  # (T_a,)
        vision_scores = scores[2].sum(-1)[0].detach().float().tolist()  # (T_v,)
        spans = self._token_spans(example.text, len(item.input_ids))
        words = _fold_words(example.text, spans, token_scores, views.get("words"))
        t_a, t_v = example.audio.shape[0], example.vision.shape[0]
        read_a, read_v = self._read(t_a, t_v)
        return ClipAttribution(
            text=example.text,
            words=tuple(words),
            audio=FrameScores("audio", tuple(audio_scores[:t_a]), _frames(views.get("audio"), t_a), read_a),
            vision=FrameScores("vision", tuple(vision_scores[:t_v]), _frames(views.get("vision"), t_v), read_v),
            value=value,
            baseline_value=base,
            text_total=float(sum(token_scores)),
            delta=float(delta.reshape(-1)[0]),
            steps=self.steps,
            id=example.id,
            model=str((self.pipeline.manifest.model or {}).get("type", "")),
            truncated=item.truncated,
            ahl_audio_share=views.get("ahl_audio_share"),
        )

    # --- pieces ------------------------------------------------------------------------------------------------
    def _read(self, t_a: int, t_v: int) -> tuple[int, int]:
        lengths = getattr(self.model, "lengths", None)
        if lengths is None:
            return t_a, t_v
        return min(t_a, int(lengths[1])), min(t_v, int(lengths[2]))

    def _plain_forward(self, batch: Any, example: MultimodalExample) -> tuple[torch.Tensor, dict[str, Any]]:
        """The text encoder's output for the clip (the IG input) and the model's own views (ALMT's attention)."""
        captured: dict[str, Any] = {}

        def keep_states(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            captured["states"] = output.detach().clone()

        hooks = [self.text_module.register_forward_hook(keep_states)]
        hooks.extend(_almt_hooks(self.model, captured))
        try:
            with torch.no_grad():
                self.model(batch)
        finally:
            for h in hooks:
                h.remove()
        return captured["states"], _almt_views(captured)

    def _forward(self, template: Any) -> Callable[..., torch.Tensor]:
        """f(states, audio, vision) -> the raw value of each clip in the (interpolated) batch."""
        model, text = self.model, self.text_module

        def forward(states: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> torch.Tensor:
            n = states.shape[0]
            values = {**expanded(template, n), "audio": audio, "vision": vision, "labels": None}
            hook = text.register_forward_hook(lambda module, inputs, output: states)
            try:
                out = model(replace(template, **values))
            finally:
                hook.remove()
            return out.logits.float().reshape(n, -1)[:, 0]

        return forward

    def _token_spans(self, text: str, n_ids: int) -> list[tuple[int, int] | None]:
        """The character span of each position of the clip's token ids ([CLS] and [SEP]: None)."""
        pieces = self.task.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = [tuple(o) for o in pieces["offset_mapping"]][: n_ids - 2]
        return [None, *offsets, None]  # type: ignore[list-item]


def explain_clips(pipeline: Any, clips: Any, steps: int = 50) -> list[ClipAttribution]:
    """Integrated-gradients explanations of a multimodal pipeline's predictions (see `ClipExplainer.explain`)."""
    return ClipExplainer(pipeline, steps=steps).explain(clips)


# --- ALMT's own attention ----------------------------------------------------------------------------------------
def _almt_hooks(model: nn.Module, captured: dict[str, Any]) -> list[Any]:
    from ..models.multimodal.almt import ALMT

    if not isinstance(model, ALMT) or model.config.truncate_av_to is not None:
        return []  # a paper-era cut from each clip's first non-zero frame: frame indices would not map back
    hooks = []
    for name in ("proj_l", "proj_a", "proj_v"):
        embedding = getattr(model, name)
        tokens = embedding.extra.shape[1]
        hooks.append(
            embedding.layers[-1].register_forward_hook(_embedding_attention(captured, name, tokens), with_kwargs=True)
        )
    for j, layer in enumerate(model.ahl or []):
        hooks.append(layer.register_forward_hook(_ahl_attention(captured, j)))
    return hooks


def _probabilities(attention: nn.Module, q_in: torch.Tensor, k_in: torch.Tensor, key_mask: Any) -> torch.Tensor:
    """Attention probabilities (B, heads, Tq, Tk) of a q/k projection pair, as scaled_dot_product_attention
    computes them (scale 1/sqrt(dim_head); keys outside key_mask get none)."""
    heads = attention.heads
    q, k = attention.to_q(q_in), attention.to_k(k_in)
    b, tq, inner = q.shape
    d = inner // heads
    q = q.view(b, tq, heads, d).transpose(1, 2)
    k = k.view(b, k.shape[1], heads, d).transpose(1, 2)
    scores = (q @ k.transpose(-1, -2)) / d**0.5
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    return torch.softmax(scores.float(), -1)


def _embedding_attention(captured: dict[str, Any], name: str, tokens: int) -> Callable[..., None]:
    def hook(block: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: torch.Tensor) -> None:
        x = args[0]
        key_mask = kwargs.get("key_mask")
        probs = _probabilities(block.attention, block.norm_q(x), block.norm_k(x), key_mask)
        captured[name] = probs[:, :, :tokens, tokens:].mean(1)[0]  # (tokens, T): compressed tokens over positions

    return hook


def _ahl_attention(captured: dict[str, Any], j: int) -> Callable[..., None]:
    def hook(layer: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        h_t, h_a, h_v = args[0], args[1], args[2]
        heads = layer.heads
        q = layer.to_q(layer.norm_t(h_t))
        b, _, inner = q.shape
        d = inner // heads

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(b, x.shape[1], heads, d).transpose(1, 2)

        for modality, h, to_k, to_v, norm in (
            ("audio", h_a, layer.to_ka, layer.to_va, layer.norm_a),
            ("vision", h_v, layer.to_kv, layer.to_vv, layer.norm_v),
        ):
            keys, vals = split(to_k(norm(h))), split(to_v(norm(h)))
            probs = torch.softmax((split(q) @ keys.transpose(-1, -2)).float() / d**0.5, -1)  # (B, h, T, tokens)
            captured.setdefault(f"ahl_{modality}", []).append(probs.mean((1, 2))[0])  # (tokens,)
            captured.setdefault(f"ahl_{modality}_norm", []).append(float((probs @ vals.float()).norm()))

    return hook


def _almt_views(captured: dict[str, Any]) -> dict[str, Any]:
    views: dict[str, Any] = {}
    if "proj_l" in captured:
        views["words"] = captured["proj_l"].mean(0).tolist()  # attention each text position receives
    for modality, name in (("audio", "proj_a"), ("vision", "proj_v")):
        token_weights = captured.get(f"ahl_{modality}")
        per_token = captured.get(name)
        if token_weights is None or per_token is None:
            continue
        weight = torch.stack(token_weights).mean(0)  # (tokens,)
        frames = (weight[:, None] * per_token).sum(0)  # (T,)
        views[modality] = frames.tolist()
    if "ahl_audio_norm" in captured:
        views["ahl_audio_share"] = tuple(
            a / (a + v) if a + v > 0 else 0.5
            for a, v in zip(captured["ahl_audio_norm"], captured["ahl_vision_norm"], strict=True)
        )
    return views


def _frames(weights: list[float] | None, n: int) -> tuple[float, ...] | None:
    """A rolled-out attention over the clip's n real frames, normalised to sum 1 (None without frames); frames
    past the model's window (it read fewer than n) get 0."""
    if weights is None or n == 0:
        return None
    real = np.zeros(n, dtype=np.float64)
    read = min(n, len(weights))
    real[:read] = weights[:read]
    total = real.sum()
    return tuple(float(x) for x in (real / total if total > 0 else real))


def _fold_words(
    text: str, spans: list[tuple[int, int] | None], token_scores: list[float], attention: list[float] | None
) -> list[WordScore]:
    """Subword scores (and attention) -> the transcript's words; a word past the model's window scores None."""
    words = list(WORD.finditer(text))
    out = []
    for m in words:
        positions = [
            p
            for p, span in enumerate(spans)
            if span is not None and span[0] != span[1] and m.start() < span[1] and span[0] < m.end()
        ]
        positions = [p for p in positions if p < len(token_scores)]
        score = float(sum(token_scores[p] for p in positions)) if positions else None
        seen = None
        if attention is not None and positions:
            seen = float(sum(attention[p] for p in positions if p < len(attention)))
        out.append(WordScore(word=m.group(), start=m.start(), end=m.end(), score=score, attention=seen))
    return out
