"""ALMT (language-guided adaptive hyper-modality learning), layer by layer as the reference code runs it
(`../shared/MULTIMODAL.md` section 1.2), with a clean variant and the ablations of section 7.5.

    text states (B, L, H) ─ proj_l ─> h_l (B, 8, 128) ─ l_encoder ─> H_l^1, H_l^2, H_l^3
    audio (B, T_a, D_a) ── proj_a ─> h_a (B, 8, 128) ─┐
    vision (B, T_v, D_v) ─ proj_v ─> h_v (B, 8, 128) ─┴ AHL (queries H_l^j, j = 1..3) ─> H_hyper (B, 8, 128)
    fusion(query H_l^3, key/value H_hyper) ─> t[:, 0] (B, 128) ─ head ─> value (B, 1)

compat=True reproduces the reference's quirks (section 1.5): no masks anywhere and every sequence padded inside
the model to the fixed `input_lengths` (so padding is attended as in the reference), the AHL residual on
LN(H^{j-1}), and H_hyper^0 initialised to ones. compat=False (default): key-padding masks in the modality
embeddings (the only attentions over variable-length input), the residual on the raw H^{j-1}, and randn init.
Positional embeddings are sized by `input_lengths` in both (or by `truncate_av_to` for A/V, the paper-era setting
of section 1.4.1 that cuts A/V to 50 frames from the first non-zero frame).

Ablations (registered names sharing this class, `variant` set by the name):
- almt-no-ahl: H_hyper := (h_a + h_v) / 2, no AHL.
- almt-shuffled-guidance: the AHL queries come from another clip's text: a random batch permutation in training
  and a fixed roll by one in evaluation. With a batch of one clip the permutation is the identity, so the model
  is then plain ALMT: evaluate it with batches of several clips.
- almt-single-scale: H_l^3 guides all three AHL layers.

language_in_fusion (default false, the reference): the fusion's key/value sequence is [H_hyper; H_l^last] instead of
H_hyper alone. In the reference the fusion's output is the shared token c of the language sequence, whose query is
the same for every clip and attends to H_hyper only, so a clip's own text reaches the prediction only through the
AHL queries. The no-AHL and shuffled-guidance ablations therefore remove the text altogether (on SynMOSI they score
like an A/V-only model), which tests "no text" rather than "no language guidance". With language_in_fusion the
clip's language is in the fusion's source for every variant, and the ablations differ from ALMT only in how A/V are
pooled: the fair control for H1 (train all three variants with it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import ConfigError
from ...data.collate import MultimodalBatch
from ...encoders.pool import Runtime
from ...labels import LabelSet
from ..base import MODELS, ModelOutput, ModelSpec
from .common import (
    TASK,
    MultimodalSettings,
    TextFeatures,
    attend,
    cap_length,
    check_build,
    fit_length,
    from_first_nonzero,
    merge_heads,
    regression_loss,
    split_heads,
)

# The reference ALMT's non-text parameters on MOSI, per module (768-d BERT input, A/V lengths 375/500; counted by
# instantiating its code: ../shared/MULTIMODAL.md 1.1). Our compat model at those sizes matches every entry.
REFERENCE_MOSI_PARAMETERS = {
    "proj_l": 403_200,
    "proj_a": 347_136,
    "proj_v": 365_056,
    "l_encoder": 593_664,
    "ahl": 298_368,
    "fusion": 595_072,
    "head": 129,
}

VARIANTS = {
    "almt": "full",
    "almt-no-ahl": "no-ahl",
    "almt-shuffled-guidance": "shuffled-guidance",
    "almt-single-scale": "single-scale",
}


@dataclass(frozen=True)
class ALMTConfig(MultimodalSettings):
    """ALMT's MOSI settings (spec 1.1): hidden 128, 8 tokens per modality, 1-layer modality embeddings, a 2-layer
    language encoder, 3 AHL layers (8 heads of 16), a depth-2 fusion, dim_head 64 elsewhere, dropout 0, MSE loss."""

    type: str = "almt"
    variant: str = "full"
    loss: str = "mse"
    hidden: int = 128
    tokens: int = 8
    heads: int = 8
    dim_head: int = 64
    mlp_dim: int = 128
    embed_depth: int = 1
    ahl_depth: int = 3
    ahl_heads: int = 8
    ahl_dim_head: int = 16
    fusion_depth: int = 2
    dropout: float = 0.0
    compat: bool = False
    truncate_av_to: int | None = None
    language_in_fusion: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        expected = VARIANTS.get(self.type)
        if expected is not None and self.variant != expected:
            raise ConfigError(f"model {self.type!r} is the {expected!r} variant; drop model.variant={self.variant!r}")
        if self.ahl_depth < 1:
            raise ConfigError(
                f"model.ahl_depth must be >= 1 (the language encoder has ahl_depth - 1 layers), got {self.ahl_depth}"
            )
        if self.truncate_av_to is not None and self.truncate_av_to < 1:
            raise ConfigError(f"model.truncate_av_to: {self.truncate_av_to}; expected null or a frame count such as 50")


@dataclass(frozen=True)
class ALMTNoAHLConfig(ALMTConfig):
    type: str = "almt-no-ahl"
    variant: str = "no-ahl"


@dataclass(frozen=True)
class ALMTShuffledGuidanceConfig(ALMTConfig):
    type: str = "almt-shuffled-guidance"
    variant: str = "shuffled-guidance"


@dataclass(frozen=True)
class ALMTSingleScaleConfig(ALMTConfig):
    type: str = "almt-single-scale"
    variant: str = "single-scale"


class Attention(nn.Module):
    """Multi-head attention without q/k/v biases; output projection with bias, then dropout (spec 1.2.3)."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        # q (B, Tq, dim), k and v (B, Tk, dim), key_mask (B, Tk) or None -> (B, Tq, dim)
        h = self.heads
        out = attend(split_heads(self.to_q(q), h), split_heads(self.to_k(k), h), split_heads(self.to_v(v), h), key_mask)
        return self.to_out(merge_heads(out))


class Block(nn.Module):
    """A pre-LN Transformer layer with three separate LayerNorms for q, k and v (also in self-attention):
    x = Attn(LN_q(x), LN_k(s), LN_v(s)) + x; x = FF(LN(x)) + x, s = x or the cross-attended sequence."""

    def __init__(self, dim: int, heads: int, dim_head: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm_q, self.norm_k, self.norm_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = Attention(dim, heads, dim_head, dropout)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.Dropout(dropout)
        )

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        source = x if context is None else context
        x = self.attention(self.norm_q(x), self.norm_k(source), self.norm_v(source), key_mask) + x
        return self.ff(self.norm_ff(x)) + x


class ModalityEmbedding(nn.Module):
    """Linear to `dim`, 8 learnable extra tokens (zeros) prepended, a randn positional embedding of length + 8
    sliced to the actual length, the layers; the 8 extra-token outputs are the modality's compressed tokens."""

    def __init__(self, in_dim: int, length: int, config: ALMTConfig) -> None:
        super().__init__()
        dim = config.hidden
        self.proj = nn.Linear(in_dim, dim)
        self.extra = nn.Parameter(torch.zeros(1, config.tokens, dim))
        self.pos = nn.Parameter(torch.randn(1, length + config.tokens, dim))
        self.layers = nn.ModuleList(
            Block(dim, config.heads, config.dim_head, config.mlp_dim, config.dropout) for _ in range(config.embed_depth)
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        # x (B, T, in_dim), mask (B, T) bool or None (attend to everything, the reference) -> (B, tokens, dim)
        b, tokens = x.shape[0], self.extra.shape[1]
        x = torch.cat([self.extra.expand(b, -1, -1), self.proj(x)], 1)  # (B, tokens + T, dim)
        x = self.dropout(x + self.pos[:, : x.shape[1]])
        key_mask = None
        if mask is not None:  # the extra tokens are always keys: a clip without frames attends to them alone
            key_mask = torch.cat([mask.new_ones(b, tokens), mask], 1)  # (B, tokens + T)
        for layer in self.layers:
            x = layer(x, key_mask=key_mask)
        return x[:, :tokens]


class LanguageEncoder(nn.Module):
    """The multi-scale language features: H^1 = h_l + P (its own randn positional embedding, included in H^1 as
    in the reference), H^{k+1} = Layer_k(H^k)."""

    def __init__(self, depth: int, config: ALMTConfig) -> None:
        super().__init__()
        dim = config.hidden
        self.pos = nn.Parameter(torch.randn(1, config.tokens, dim))
        self.layers = nn.ModuleList(
            Block(dim, config.heads, config.dim_head, config.mlp_dim, config.dropout) for _ in range(depth)
        )

    def forward(self, h_l: torch.Tensor) -> list[torch.Tensor]:
        scales = [h_l + self.pos]  # H^1 (B, tokens, dim)
        for layer in self.layers:
            scales.append(layer(scales[-1]))
        return scales


class HyperLayer(nn.Module):
    """One AHL layer (spec 1.2.5): a query from the language scale, shared by an attention over h_a and one over
    h_v; their sum through an output projection with bias is added to the residual: LN(H^{j-1}) in compat mode,
    H^{j-1} in the clean one. No feed-forward sub-layer."""

    def __init__(self, config: ALMTConfig) -> None:
        super().__init__()
        dim, inner = config.hidden, config.ahl_heads * config.ahl_dim_head
        self.heads = config.ahl_heads
        self.norm_t, self.norm_a, self.norm_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.norm_h = nn.LayerNorm(dim) if config.compat else None
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_ka, self.to_va = nn.Linear(dim, inner, bias=False), nn.Linear(dim, inner, bias=False)
        self.to_kv, self.to_vv = nn.Linear(dim, inner, bias=False), nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(config.dropout))

    def forward(self, h_t: torch.Tensor, h_a: torch.Tensor, h_v: torch.Tensor, h_hyper: torch.Tensor) -> torch.Tensor:
        # every input (B, tokens, dim) -> H^j (B, tokens, dim)
        h = self.heads
        a, v = self.norm_a(h_a), self.norm_v(h_v)
        q = split_heads(self.to_q(self.norm_t(h_t)), h)  # (B, h, tokens, dim_head)
        from_audio = attend(q, split_heads(self.to_ka(a), h), split_heads(self.to_va(a), h))
        from_vision = attend(q, split_heads(self.to_kv(v), h), split_heads(self.to_vv(v), h))
        residual = self.norm_h(h_hyper) if self.norm_h is not None else h_hyper
        return residual + self.to_out(merge_heads(from_audio + from_vision))


class CrossFusion(nn.Module):
    """The fusion CrossTransformer (spec 1.2.6): one zeros-init token c shared by both sequences, separate randn
    positional embeddings; language is the query, the hyper-modality key and value. Returns t[:, 0] (B, dim)."""

    def __init__(self, config: ALMTConfig, source_tokens: int | None = None) -> None:
        super().__init__()
        dim, length = config.hidden, config.tokens + 1
        self.token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_source = nn.Parameter(torch.randn(1, (source_tokens or config.tokens) + 1, dim))
        self.pos_target = nn.Parameter(torch.randn(1, length, dim))
        self.layers = nn.ModuleList(
            Block(dim, config.heads, config.dim_head, config.mlp_dim, config.dropout)
            for _ in range(config.fusion_depth)
        )

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # source H_hyper (B, tokens, dim) (or [H_hyper; H_l^last] (B, 2 tokens, dim)), target H_l^last -> (B, dim)
        token = self.token.expand(source.shape[0], -1, -1)
        s = torch.cat([token, source], 1) + self.pos_source  # (B, tokens + 1, dim)
        t = torch.cat([token, target], 1) + self.pos_target
        for layer in self.layers:
            t = layer(t, context=s)
        return t[:, 0]


class ALMT(nn.Module):
    """ALMT on a text encoder: `text` is any module mapping (input_ids, attention_mask) to token states
    (B, L, H) with a `hidden_size` (TextFeatures; tests pass a stand-in of the reference's width 768)."""

    def __init__(self, config: ALMTConfig, text: nn.Module) -> None:
        super().__init__()
        self.config = config
        length_l, length_a, length_v = config.input_lengths
        if config.truncate_av_to is not None:
            length_a = length_v = config.truncate_av_to
        self.lengths = (length_l, length_a, length_v)
        self.text = text
        self.proj_l = ModalityEmbedding(text.hidden_size, length_l, config)
        self.proj_a = ModalityEmbedding(config.audio_dim, length_a, config)
        self.proj_v = ModalityEmbedding(config.vision_dim, length_v, config)
        self.l_encoder = LanguageEncoder(config.ahl_depth - 1, config)
        self.ahl = None
        self.h_hyper = None
        if config.variant != "no-ahl":
            self.ahl = nn.ModuleList(HyperLayer(config) for _ in range(config.ahl_depth))
            init = torch.ones if config.compat else torch.randn
            self.h_hyper = nn.Parameter(init(1, config.tokens, config.hidden))
        self.fusion = CrossFusion(config, config.tokens * (2 if config.language_in_fusion else 1))
        self.head = nn.Linear(config.hidden, 1)

    def _inputs(self, batch: MultimodalBatch) -> tuple[torch.Tensor, ...]:
        """The batch cut (and in compat mode padded) to the model's lengths."""
        ids, text_mask = batch.input_ids, batch.attention_mask.bool()
        audio, audio_mask, vision, vision_mask = batch.audio, batch.audio_mask, batch.vision, batch.vision_mask
        length_l, length_a, length_v = self.lengths
        if self.config.truncate_av_to is not None:
            audio, audio_mask = from_first_nonzero(audio, audio_mask, length_a)
            vision, vision_mask = from_first_nonzero(vision, vision_mask, length_v)
        fit = fit_length if self.config.compat else cap_length
        ids, text_mask = fit(ids, text_mask, length_l)
        audio, audio_mask = fit(audio, audio_mask, length_a)
        vision, vision_mask = fit(vision, vision_mask, length_v)
        return ids, text_mask, audio, audio_mask, vision, vision_mask

    def _guides(self, scales: list[torch.Tensor]) -> list[torch.Tensor]:
        """The language features that query each AHL layer (depends on the variant)."""
        depth = len(self.ahl) if self.ahl is not None else 0
        guides = scales[:depth] if self.config.variant != "single-scale" else [scales[-1]] * depth
        if self.config.variant == "shuffled-guidance":
            b = scales[0].shape[0]
            device = scales[0].device
            order = torch.randperm(b, device=device) if self.training else torch.arange(b, device=device).roll(-1)
            guides = [g[order] for g in guides]
        return guides

    def forward(self, batch: MultimodalBatch) -> ModelOutput:
        ids, text_mask, audio, audio_mask, vision, vision_mask = self._inputs(batch)
        states = self.text(ids, text_mask.long())  # (B, L, H)
        masked = not self.config.compat
        h_l = self.proj_l(states, text_mask if masked else None)  # (B, 8, 128)
        h_a = self.proj_a(audio, audio_mask if masked else None)  # (B, 8, 128)
        h_v = self.proj_v(vision, vision_mask if masked else None)  # (B, 8, 128)
        scales = self.l_encoder(h_l)  # ahl_depth x (B, 8, 128)
        if self.ahl is None:
            h_hyper = (h_a + h_v) / 2
        else:
            h_hyper = self.h_hyper.expand(h_l.shape[0], -1, -1)
            for layer, guide in zip(self.ahl, self._guides(scales), strict=True):
                h_hyper = layer(guide, h_a, h_v, h_hyper)
        source = torch.cat([h_hyper, scales[-1]], 1) if self.config.language_in_fusion else h_hyper
        value = self.head(self.fusion(source, scales[-1])).float()  # (B, 1)
        return ModelOutput(value, regression_loss(value, batch.labels, self.config.loss))


def build_almt(config: ALMTConfig, labels: LabelSet, runtime: Runtime) -> ALMT:
    check_build(config, labels)
    return ALMT(config, TextFeatures(config, runtime, keep_padding_states=config.compat))


def _register() -> None:
    configs = {
        "almt": ALMTConfig,
        "almt-no-ahl": ALMTNoAHLConfig,
        "almt-shuffled-guidance": ALMTShuffledGuidanceConfig,
        "almt-single-scale": ALMTSingleScaleConfig,
    }
    for name, config_cls in configs.items():
        MODELS.add(name, ModelSpec(config_cls, build_almt, task=TASK))


_register()
