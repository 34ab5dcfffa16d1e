"""SKESL's multimodal half (`../shared/MULTIMODAL.md` section 4): the non-verbal injection block, the multimodal
sentiment-word pretraining model `skesl-mm` and the fine-tuning model `skesl-ft` (the reference's PredictModel).

    text states X_0 (B, L, H) ─┐
    audio A (B, T_a, D_a) ─────┼─ injection: X_{i+1} = Layer(X_i, A, V), i < num_layers ─> X (B, L, H)
    vision V (B, T_v, D_v) ────┘   (A, V: the raw features at every layer)
    skesl-mm: X at the masked sentiment word ─ fc1 ─ ReLU ─ Dropout ─ fc2 ─> valence (B, 1), L1
    skesl-ft: mean of X over the tokens ─ fc1 ─ ReLU ─ Dropout ─ fc2 ─> sentiment value (B, 1)

    CMA(X, M) = Lin_{E->H}( softmax( Lin_q(LN(X)) Lin_k(LN_m(M))^T / sqrt(E) ) Lin_v(LN_m(M)) )   one head, E = 256
    Layer(X)  : Y = CMA_a(X, A) + CMA_v(X, V) + R;   X' = Dropout(Lin_{H->H}(LN(Y))) + Y

`injection: reference` is what the reference code runs: R = X and ONE layer module applied num_layers times (the
reference appends the same module four times, `models.py:69-76`), so its parameters are one layer's (1,766,092 at
768/33/709/256). `injection: paper`: R = LN(X) (the reference's commented-out line, with the layer's one LayerNorm)
and num_layers distinct layers. The reference has no masks; `masks: true` (ours, default) keeps padded A/V frames
out of the attention, and `masks: false` attends to them as the reference does, with A/V padded inside the model to
the fixed `input_lengths` so that a clip's value does not depend on its batch. A modality a clip lacks (no real
frame) contributes a zero CMA term in both; a dataset without one (feature size 0) has no CMA for it.

The reference's CMA defines an attention dropout it never applies; `attention_dropout` (default 0) applies one to
the attention weights. `injection_dropout` is the dropout after the layer's linear (the reference's attn_dropout
0.5) and `head_dropout` the head's (its fc_dropout 0.5).

Carrying the block from pretraining to fine-tuning: the pretraining run's best folder holds `encoder/` (a backbone
folder, written by `tasks.pretraining_mm`), and beside the encoder's own files `injection.safetensors` and
`injection.json` (the settings that define the block). `model.init_from: FOLDER` makes `encoder/` the backbone of a
`skesl-ft` config; its builder then finds the injection files there, checks that they match its own settings
(ConfigError naming each difference) and starts the block from them. A backbone without them (a plain backbone,
or a text-only `skesl-text` encoder) gives a fresh block: the "no pretraining" arm.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ...config import ConfigError
from ...data.collate import MultimodalBatch, multimodal_arrays
from ...data.encoding import MultimodalItem
from ...data.masking import MATCHES, MaskedBatch
from ...encoders.pool import Runtime
from ...labels import LabelSet
from ..base import MODELS, ModelOutput, ModelSpec
from ..pretraining import PRETRAINING_LABELS
from .common import TASK, MultimodalSettings, TextFeatures, attend, cap_length, fit_length, masked_mean, regression_loss

PRETRAIN_TASK = "multimodal-sentiment-word-pretraining.v1"
FORMS = ("reference", "paper")
INJECTION_WEIGHTS = "injection.safetensors"  # in a pretraining run's best/encoder/
INJECTION_SETTINGS = "injection.json"
INJECTION_FORMAT = "skesl-injection.v1"
# the settings that define the block's weights and what they compute; a fine-tuning model must match them all
DEFINING = ("injection", "embed_dim", "num_layers", "masks", "text_dim", "audio_dim", "vision_dim")


@dataclass(frozen=True)
class InjectionSettings:
    """The injection block's config fields (shared by skesl-mm and skesl-ft; see the module docstring)."""

    injection: str = "reference"
    embed_dim: int = 256
    num_layers: int = 4
    masks: bool = True
    attention_dropout: float = 0.0
    injection_dropout: float = 0.5

    def check_injection(self, where: str) -> None:
        if self.injection not in FORMS:
            raise ConfigError(f"{where}.injection: {self.injection!r}; expected one of {FORMS}")
        if self.embed_dim < 1 or self.num_layers < 1:
            raise ConfigError(
                f"{where}: embed_dim and num_layers must be >= 1, got {self.embed_dim}, {self.num_layers}"
            )
        for name in ("attention_dropout", "injection_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{where}.{name}: {getattr(self, name)}; expected a probability in [0, 1)")


# --- the injection block -------------------------------------------------------------------------------------------


class CrossModalAttention(nn.Module):
    """CMA(X, M): text queries over one non-verbal sequence, single head, back to the text width (no residual)."""

    def __init__(self, text_dim: int, other_dim: int, embed_dim: int, attention_dropout: float) -> None:
        super().__init__()
        self.norm_text = nn.LayerNorm(text_dim)
        self.norm_other = nn.LayerNorm(other_dim)
        self.query = nn.Linear(text_dim, embed_dim)
        self.key = nn.Linear(other_dim, embed_dim)
        self.value = nn.Linear(other_dim, embed_dim)
        self.out = nn.Linear(embed_dim, text_dim)
        self.attention_dropout = attention_dropout

    def forward(self, x: torch.Tensor, m: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        # x (B, L, H), m (B, T, D), key_mask (B, T) bool or None (attend to every frame, padding included)
        q = self.query(self.norm_text(x))[:, None]  # (B, 1, L, E)
        m = self.norm_other(m)
        k, v = self.key(m)[:, None], self.value(m)[:, None]  # (B, 1, T, E)
        context = attend(q, k, v, key_mask, dropout=self.attention_dropout, training=self.training)  # scale E^-0.5
        return self.out(context[:, 0])  # (B, L, H)


class InjectionLayer(nn.Module):
    """Y = sum_m present_m * CMA_m(X, M) + R (R = X, or LN(X) with the layer's LayerNorm); X' = Drop(Lin(LN(Y))) + Y."""

    def __init__(
        self,
        text_dim: int,
        dims: dict[str, int],
        embed_dim: int,
        norm_residual: bool,
        dropout: float,
        attention_dropout: float,
    ) -> None:
        super().__init__()
        self.cma = nn.ModuleDict(
            {
                name: CrossModalAttention(text_dim, dim, embed_dim, attention_dropout)
                for name, dim in dims.items()
                if dim
            }
        )
        self.norm = nn.LayerNorm(text_dim)
        self.linear = nn.Linear(text_dim, text_dim)
        self.dropout = nn.Dropout(dropout)
        self.norm_residual = norm_residual

    def forward(
        self, x: torch.Tensor, others: dict[str, tuple[torch.Tensor, torch.Tensor]], masks: bool
    ) -> torch.Tensor:
        # x (B, L, H); others[name] = (frames (B, T, D), real-frame mask (B, T) bool)
        y = self.norm(x) if self.norm_residual else x
        for name, cma in self.cma.items():
            frames, mask = others[name]
            present = mask.any(1).to(x.dtype)[:, None, None]  # (B, 1, 1): a clip without this modality adds 0
            y = y + cma(x, frames, mask if masks else None) * present
        return self.dropout(self.linear(self.norm(y))) + y  # (B, L, H)


class InjectionBlock(nn.Module):
    """num_layers applications of one shared layer ("reference") or of num_layers distinct layers ("paper")."""

    def __init__(self, settings: InjectionSettings, text_dim: int, audio_dim: int, vision_dim: int) -> None:
        super().__init__()
        self.masks = settings.masks
        distinct = 1 if settings.injection == "reference" else settings.num_layers
        self.layers = nn.ModuleList(
            InjectionLayer(
                text_dim,
                {"audio": audio_dim, "vision": vision_dim},
                settings.embed_dim,
                norm_residual=settings.injection == "paper",
                dropout=settings.injection_dropout,
                attention_dropout=settings.attention_dropout,
            )
            for _ in range(distinct)
        )
        self.order = [0] * settings.num_layers if distinct == 1 else list(range(distinct))

    def forward(
        self,
        x: torch.Tensor,
        audio: torch.Tensor,
        audio_mask: torch.Tensor,
        vision: torch.Tensor,
        vision_mask: torch.Tensor,
    ) -> torch.Tensor:
        # x (B, L, H); audio (B, T_a, D_a), vision (B, T_v, D_v) with their masks (B, T) bool -> (B, L, H)
        others = {"audio": (audio, audio_mask), "vision": (vision, vision_mask)}
        for i in self.order:
            x = self.layers[i](x, others, self.masks)
        return x


def block_settings(settings: InjectionSettings, text_dim: int, audio_dim: int, vision_dim: int) -> dict[str, Any]:
    """What defines a block (DEFINING), as written into injection.json and compared when fine-tuning starts."""
    return {
        "format": INJECTION_FORMAT,
        "injection": settings.injection,
        "embed_dim": settings.embed_dim,
        "num_layers": settings.num_layers,
        "masks": settings.masks,
        "text_dim": text_dim,
        "audio_dim": audio_dim,
        "vision_dim": vision_dim,
    }


def frames_for(
    audio: torch.Tensor,
    audio_mask: torch.Tensor,
    vision: torch.Tensor,
    vision_mask: torch.Tensor,
    lengths: Sequence[int],
    masks: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A/V cut to `lengths` (T_a, T_v); without masks also padded to them (attended padding is then batch-free)."""
    fit = cap_length if masks else fit_length
    audio, audio_mask = fit(audio, audio_mask, lengths[0])
    vision, vision_mask = fit(vision, vision_mask, lengths[1])
    return audio, audio_mask, vision, vision_mask


def _head(width: int, hidden: int, dropout: float) -> nn.Sequential:
    """fc2(Dropout(ReLU(fc1(x)))): width -> hidden -> 1."""
    return nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))


# --- pretraining: skesl-mm -----------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class MaskedClipBatch(MultimodalBatch):
    """A multimodal pretraining batch: a `MultimodalBatch` (transcripts and the clips' frames with their masks) whose
    transcripts are masked, plus positions (B, 1), the masked word's first token. labels (B,): that word's rescaled
    lexicon valence, never the clip's sentiment label; None for a forward pass without targets."""

    positions: torch.Tensor


def clip_batch(text: MaskedBatch, audio: Sequence[np.ndarray], vision: Sequence[np.ndarray]) -> MaskedClipBatch:
    """A collated text batch and each clip's frames (T, D) -> a MaskedClipBatch (frames padded at the end)."""
    items = [MultimodalItem((0,), a, v) for a, v in zip(audio, vision, strict=True)]
    arrays = multimodal_arrays(items)
    frames = {k: torch.from_numpy(arrays[k]) for k in ("audio", "audio_mask", "vision", "vision_mask")}
    return MaskedClipBatch(
        input_ids=text.input_ids,
        attention_mask=text.attention_mask,
        positions=text.positions,
        labels=text.labels,
        **frames,
    )


@dataclass(frozen=True)
class SkeslMMConfig(InjectionSettings, MultimodalSettings):
    """skesl-mm: the text encoder ("frozen" as the reference pretrains, "full" or "lora") and the injection block,
    trained to regress the masked sentiment word's valence. lexicon, match, max_words: the masking (as skesl-text);
    heldout: about how many clips (whole speakers, at most 20 % of the pool) are held out for selection."""

    type: str = "skesl-mm"
    lexicon: str = "vader"
    match: str = "word"
    max_words: int = 3
    head_hidden: int = 256
    head_dropout: float = 0.5
    heldout: int = 128

    def __post_init__(self) -> None:
        MultimodalSettings.__post_init__(self)
        self.check_injection(f"model ({self.type})")
        if self.match not in MATCHES:
            raise ConfigError(f"model ({self.type}).match: {self.match!r}; expected one of {MATCHES}")
        if self.heldout < 1 or self.max_words < 1 or self.head_hidden < 1:
            raise ConfigError(f"model ({self.type}): heldout, max_words and head_hidden must be >= 1")


class SkeslPretrainer(nn.Module):
    """Text encoder -> injection over A/V -> the SKESL head at the masked word (see the module docstring)."""

    def __init__(self, config: SkeslMMConfig, text: TextFeatures) -> None:
        super().__init__()
        self.config = config
        self.text = text
        self.injection = InjectionBlock(config, text.hidden_size, config.audio_dim, config.vision_dim)
        self.head = _head(text.hidden_size, config.head_hidden, config.head_dropout)

    @property
    def encoder(self) -> nn.Module:
        """The text encoder (what `tasks.pretraining.export_encoder` writes out)."""
        return self.text.encoder

    def forward(self, batch: MaskedClipBatch) -> ModelOutput:
        states = self.text(batch.input_ids, batch.attention_mask)  # (B, L, H); L is the masker's window
        frames = frames_for(
            batch.audio,
            batch.audio_mask,
            batch.vision,
            batch.vision_mask,
            self.config.input_lengths[1:],
            self.config.masks,
        )
        x = self.injection(states, *frames)  # (B, L, H)
        rows = torch.arange(x.shape[0], device=x.device)
        value = self.head(x[rows, batch.positions[:, 0]]).float()  # (B, 1)
        return ModelOutput(value, regression_loss(value, batch.labels, self.config.loss))


def build_skesl_mm(config: SkeslMMConfig, labels: LabelSet, runtime: Runtime) -> SkeslPretrainer:
    if labels.names != PRETRAINING_LABELS.names:
        raise ValueError(f"{config.type} is a pretraining model; it has no labels to predict")
    return SkeslPretrainer(config, TextFeatures(config, runtime))


def _new_parts(model: nn.Module) -> Iterable[nn.Parameter]:
    """What pretraining starts fresh (at train.head_lr): the injection block and the head."""
    return [*model.injection.parameters(), *model.head.parameters()]


# --- fine-tuning: skesl-ft -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkeslFtConfig(InjectionSettings, MultimodalSettings):
    """skesl-ft: text encoder + injection block + pooling + a new head. compat: mean over every position up to
    input_lengths[0], padding included (the reference pads to its window and averages all of it); otherwise the
    mean over the real tokens. Start from a skesl-mm run with `model.init_from: FOLDER`."""

    type: str = "skesl-ft"
    compat: bool = False
    head_hidden: int = 256
    head_dropout: float = 0.5

    def __post_init__(self) -> None:
        MultimodalSettings.__post_init__(self)
        self.check_injection(f"model ({self.type})")
        if self.head_hidden < 1:
            raise ConfigError(f"model ({self.type}).head_hidden must be >= 1, got {self.head_hidden}")


class SkeslRegressor(nn.Module):
    """The reference's PredictModel on our batches: value = head(pool(injection(text(ids), A, V)))."""

    def __init__(self, config: SkeslFtConfig, text: TextFeatures) -> None:
        super().__init__()
        self.config = config
        self.text = text
        self.injection = InjectionBlock(config, text.hidden_size, config.audio_dim, config.vision_dim)
        self.head = _head(text.hidden_size, config.head_hidden, config.head_dropout)

    def forward(self, batch: MultimodalBatch) -> ModelOutput:
        length_l, *av = self.config.input_lengths
        fit = fit_length if self.config.compat else cap_length
        ids, text_mask = fit(batch.input_ids, batch.attention_mask.bool(), length_l)
        states = self.text(ids, text_mask.long())  # (B, L, H)
        frames = frames_for(batch.audio, batch.audio_mask, batch.vision, batch.vision_mask, av, self.config.masks)
        x = self.injection(states, *frames)  # (B, L, H)
        pooled = x.mean(1) if self.config.compat else masked_mean(x, text_mask)  # (B, H)
        value = self.head(pooled).float()  # (B, 1)
        return ModelOutput(value, regression_loss(value, batch.labels, self.config.loss))


def pretrained_injection(folder: Path, expected: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The injection weights kept in an encoder folder, after checking that their settings are `expected`; None
    when the folder holds none (a plain backbone, a text-only pretrained encoder)."""
    from safetensors.torch import load_file

    settings_file, weights_file = folder / INJECTION_SETTINGS, folder / INJECTION_WEIGHTS
    if not settings_file.exists():
        return None
    saved = json.loads(settings_file.read_text(encoding="utf-8"))
    if saved.get("format") != INJECTION_FORMAT:
        raise ConfigError(f"{settings_file}: format {saved.get('format')!r}; expected {INJECTION_FORMAT!r}")
    differ = [
        f"{k}: pretrained {saved.get(k)!r}, this model {expected[k]!r}" for k in DEFINING if saved.get(k) != expected[k]
    ]
    if differ:
        raise ConfigError(
            f"model.init_from: the injection block in {folder} does not fit this model ({'; '.join(differ)}); set "
            "these model keys as the pretraining run had them, or pretrain again with this model's settings"
        )
    if not weights_file.exists():
        raise ConfigError(f"model.init_from: {settings_file} is there but {weights_file} is missing")
    return load_file(str(weights_file))


def build_skesl_ft(config: SkeslFtConfig, labels: LabelSet, runtime: Runtime) -> SkeslRegressor:
    if len(labels) != 1:
        raise ValueError(
            f"model {config.type!r} predicts one value; its labels must be one name, got {list(labels.names)}"
        )
    text = TextFeatures(config, runtime, keep_padding_states=config.compat)
    model = SkeslRegressor(config, text)
    backbone = Path(config.backbone).expanduser()
    if backbone.is_dir():
        expected = block_settings(config, text.hidden_size, config.audio_dim, config.vision_dim)
        state = pretrained_injection(backbone, expected)
        if state is not None:
            model.injection.load_state_dict(state, strict=True)
    return model


MODELS.add("skesl-mm", ModelSpec(SkeslMMConfig, build_skesl_mm, task=PRETRAIN_TASK, head=_new_parts))
MODELS.add("skesl-ft", ModelSpec(SkeslFtConfig, build_skesl_ft, task=TASK))
