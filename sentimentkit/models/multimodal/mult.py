"""MulT, the multimodal Transformer as MMSA runs it on MOSI (`../shared/MULTIMODAL.md` section 5.3).

    each modality (B, T_m, D_m) ─ Conv1d(k=5, padding 0, no bias) ─> (B, T_m - 4, d = 50)
    six crossmodal encoders (target <- source, 4 pre-LN layers each) ─ per target: concat (2d = 100)
    ─ self-attention "mem" encoder (4 layers) ─ one time step per target: (B, 100) x 3 -> (B, 300)
    ─ residual projection ─ Linear(300, 1)

Clean mode (compat=False, default): key-padding masks from the batch in every attention, and the time step taken
is each clip's LAST REAL step. compat=True is MMSA's: no masks, every sequence padded inside the model to
input_lengths, the last (padded) step. A sequence shorter than the kernel is padded to the kernel size first, so
that every clip with a frame has one output step. `positions`: add sinusoidal positions as the original MulT does
(MMSA never does; True by default here). `future_mask`: the reference's triangular mask that lets a query step see
source steps up to its own index plus the length difference (spec 5.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ...data.collate import MultimodalBatch
from ...encoders.pool import Runtime
from ...labels import LabelSet
from ...multimodal.example import MODALITIES
from ..base import MODELS, ModelOutput, ModelSpec
from .common import (
    TASK,
    MultimodalSettings,
    TextFeatures,
    attend,
    cap_length,
    check_build,
    fit_length,
    merge_heads,
    regression_loss,
    sinusoidal_positions,
    split_heads,
)


@dataclass(frozen=True)
class MulTConfig(MultimodalSettings):
    """MulT's MOSI settings (spec 5.3): d 50, 10 heads, 4 layers, kernel 5; attention dropout by source modality
    (text .3, audio .2, vision 0; the mem encoders use the text's), embed .2, output .5, text .5; L1 loss."""

    type: str = "mult"
    dim: int = 50
    heads: int = 10
    layers: int = 4
    kernel: int = 5
    attn_dropout_text: float = 0.3
    attn_dropout_audio: float = 0.2
    attn_dropout_vision: float = 0.0
    relu_dropout: float = 0.0
    res_dropout: float = 0.0
    embed_dropout: float = 0.2
    out_dropout: float = 0.5
    text_dropout: float = 0.5
    compat: bool = False
    positions: bool = True
    future_mask: bool = True


class CrossLayer(nn.Module):
    """x = x + MHA(LN x, LN s, LN s) (one LayerNorm for query and source, as MMSA's layer); x = x + FFN(LN x),
    FFN d -> 4d -> d with ReLU. Attention with biases on every projection."""

    def __init__(self, dim: int, heads: int, attn_dropout: float, relu_dropout: float, res_dropout: float) -> None:
        super().__init__()
        self.heads, self.attn_dropout = heads, attn_dropout
        self.norm_attn = nn.LayerNorm(dim)
        self.to_q, self.to_k, self.to_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, 4 * dim),
            nn.ReLU(),
            nn.Dropout(relu_dropout),
            nn.Linear(4 * dim, dim),
            nn.Dropout(res_dropout),
        )
        self.res_dropout = nn.Dropout(res_dropout)

    def forward(
        self, x: torch.Tensor, source: torch.Tensor, key_mask: torch.Tensor | None, allowed: torch.Tensor | None
    ) -> torch.Tensor:
        # x (B, Tq, d), source (B, Tk, d) -> (B, Tq, d)
        q, s, h = self.norm_attn(x), self.norm_attn(source), self.heads
        out = attend(
            split_heads(self.to_q(q), h),
            split_heads(self.to_k(s), h),
            split_heads(self.to_v(s), h),
            key_mask,
            allowed,
            self.attn_dropout,
            self.training,
        )
        x = x + self.res_dropout(self.to_out(merge_heads(out)))
        return x + self.ff(self.norm_ff(x))


class CrossEncoder(nn.Module):
    """`layers` CrossLayers and a final LayerNorm; the inputs are scaled by sqrt(d) (and get sinusoidal positions
    when asked) and dropped out at the embedding rate. source None: self-attention (a "mem" encoder)."""

    def __init__(self, dim: int, config: MulTConfig, attn_dropout: float) -> None:
        super().__init__()
        self.scale = math.sqrt(dim)
        self.positions, self.future_mask = config.positions, config.future_mask
        self.embed_dropout = config.embed_dropout
        self.layers = nn.ModuleList(
            CrossLayer(dim, config.heads, attn_dropout, config.relu_dropout, config.res_dropout)
            for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(dim)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.scale
        if self.positions:
            x = x + sinusoidal_positions(x.shape[1], x.shape[2], x.device)
        return F.dropout(x, self.embed_dropout, self.training)

    def forward(
        self,
        x: torch.Tensor,
        source: torch.Tensor | None = None,
        query_mask: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # x (B, Tq, d); source (B, Tk, d), or None for self-attention; masks (B, Tq), (B, Tk) or None -> (B, Tq, d)
        x = self._embed(x)
        fixed = None if source is None else self._embed(source)
        if fixed is None:
            key_mask = query_mask
        allowed = None
        if self.future_mask:
            allowed = future_mask(x.shape[1], x.shape[1] if fixed is None else fixed.shape[1], query_mask, key_mask)
        for layer in self.layers:
            x = layer(x, x if fixed is None else fixed, key_mask, allowed)
        return self.norm(x)


def future_mask(tq: int, tk: int, query_mask: torch.Tensor | None, key_mask: torch.Tensor | None) -> torch.Tensor:
    """The reference's mask: query step i sees source steps j <= i + |T_k - T_q|. Without masks: (Tq, Tk) from the
    padded lengths, as MMSA. With masks: (B, Tq, Tk) from each clip's real lengths, so that a clip's mask (and
    output) does not depend on how far its batch is padded."""
    i = torch.arange(tq)[:, None]
    j = torch.arange(tk)[None]
    if query_mask is None or key_mask is None:
        return j <= i + abs(tk - tq)
    i, j = i.to(query_mask.device), j.to(query_mask.device)
    offset = (key_mask.sum(1) - query_mask.sum(1)).abs()[:, None, None]  # (B, 1, 1)
    return j[None] <= i[None] + offset


def conv_mask(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """The real output steps of a Conv1d without padding over right-padded input: mask (B, T) -> (B, T - k + 1);
    a clip with n >= 1 real frames has max(1, n - k + 1) real outputs (its input is zero-padded to the kernel)."""
    n = mask.sum(1, keepdim=True)  # (B, 1)
    real = torch.where(n > 0, (n - kernel + 1).clamp(min=1), torch.zeros_like(n))
    steps = torch.arange(mask.shape[1] - kernel + 1, device=mask.device)[None]
    return steps < real


def last_step(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """x (B, T, D) -> (B, D): the last real step of each clip (mask (B, T)), or the last step (mask None).
    A clip without real steps of this modality takes step 0 (computed from zero frames, never NaN)."""
    if mask is None:
        return x[:, -1]
    index = (mask.sum(1) - 1).clamp(min=0)  # (B,)
    return x[torch.arange(x.shape[0], device=x.device), index]


class MulT(nn.Module):
    """MulT on a text encoder (see the module docstring)."""

    def __init__(self, config: MulTConfig, text: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.text = text
        d, k = config.dim, config.kernel
        dims = {"text": text.hidden_size, "audio": config.audio_dim, "vision": config.vision_dim}
        self.proj = nn.ModuleDict({m: nn.Conv1d(dims[m], d, k, padding=0, bias=False) for m in MODALITIES})
        dropouts = {
            "text": config.attn_dropout_text,
            "audio": config.attn_dropout_audio,
            "vision": config.attn_dropout_vision,
        }
        # cross[f"{target}_{source}"]: the target's steps attend to the source's; attention dropout by source
        self.cross = nn.ModuleDict(
            {f"{t}_{s}": CrossEncoder(d, config, dropouts[s]) for t in MODALITIES for s in MODALITIES if s != t}
        )
        self.mem = nn.ModuleDict({m: CrossEncoder(2 * d, config, config.attn_dropout_text) for m in MODALITIES})
        width = 6 * d
        self.proj1, self.proj2 = nn.Linear(width, width), nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def _sequences(self, batch: MultimodalBatch) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Each modality's projected sequence (B, T', d) and the mask of its real steps (B, T')."""
        lengths = dict(zip(MODALITIES, self.config.input_lengths, strict=True))
        fit = fit_length if self.config.compat else cap_length
        ids, text_mask = fit(batch.input_ids, batch.attention_mask.bool(), lengths["text"])
        states = self.text(ids, text_mask.long())  # (B, L, H)
        raw = {
            "text": (F.dropout(states, self.config.text_dropout, self.training), text_mask),
            "audio": fit(batch.audio, batch.audio_mask, lengths["audio"]),
            "vision": fit(batch.vision, batch.vision_mask, lengths["vision"]),
        }
        k = self.config.kernel
        out = {}
        for m, (x, mask) in raw.items():
            if not self.config.compat:
                x = x * mask[..., None]  # zero padding rows: the short-clip conv step below reads them
            x, mask = fit_length(x, mask, max(k, x.shape[1]))  # at least one output step
            out[m] = (self.proj[m](x.transpose(1, 2)).transpose(1, 2), conv_mask(mask, k))  # (B, T - k + 1, d)
        return out

    def forward(self, batch: MultimodalBatch) -> ModelOutput:
        sequences = self._sequences(batch)
        masked = not self.config.compat
        last = []
        for t in MODALITIES:
            x, mask = sequences[t]
            crossed = [
                self.cross[f"{t}_{s}"](
                    x, sequences[s][0], mask if masked else None, sequences[s][1] if masked else None
                )
                for s in MODALITIES
                if s != t
            ]
            h = self.mem[t](torch.cat(crossed, -1), None, mask if masked else None)  # (B, T_t, 2d)
            last.append(last_step(h, mask if masked else None))
        z = torch.cat(last, -1)  # (B, 6d)
        z = self.proj2(F.dropout(F.relu(self.proj1(z)), self.config.out_dropout, self.training)) + z
        value = self.head(z).float()  # (B, 1)
        return ModelOutput(value, regression_loss(value, batch.labels, self.config.loss))


def build_mult(config: MulTConfig, labels: LabelSet, runtime: Runtime) -> MulT:
    check_build(config, labels)
    return MulT(config, TextFeatures(config, runtime, keep_padding_states=config.compat))


MODELS.add("mult", ModelSpec(MulTConfig, build_mult, task=TASK))
