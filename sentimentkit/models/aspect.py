"""Aspect polarity over a pretrained encoder: IAGCN, its three ablations, and the ASGCN and SPC baselines.

IAGCN reads the encoder's token states, re-weights them with an aspect-specific mask (MDW: aspect x1.0, context
x0.5), runs a BiLSTM, then graph convolutions over the dependency tree (inputs position-weighted as in ASGCN,
Zhang et al. 2019), keeps the aspect positions, and lets context and aspect attend to each other (IAN-style):
the context attends with the pooled aspect and the aspect with the pooled context. The two attended vectors are
concatenated and classified. `asgcn` is the same trunk without MDW and with ASGCN's readout (the masked aspect
attends over the BiLSTM states); `spc` classifies "[CLS] sentence [SEP] aspect [SEP]".

Inputs are `AspectBatch`es (`data/encoding.py`, `data/collate.py`): `input_format` says how to encode (pair or
sentence), `uses_graph` whether the examples need dependency parses. Everything after the encoder lives in
`head`, so it trains at `head_lr`. `class_weights` (one per label, set from the training data by
`data.class_weights: balanced`) weigh the cross-entropy; they are saved with the config and play no part in
inference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from ..data.collate import AspectBatch
from ..encoders.pool import Runtime
from ..encoders.text import EncoderSettings, TextEncoder, build_encoder
from ..labels import LabelSet
from .base import MODELS, ModelOutput, ModelSpec, packed_lstm

TASK = "aspect-polarity.v1"
READOUTS = ("interactive", "pooled", "aspect-attention")
ClassWeights = tuple[float, ...] | None  # the cross-entropy's weight per label (None: unweighted)


# --- configs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AspectSettings(EncoderSettings):
    """The pretrained encoder and how much of it trains (see `encoders.text.EncoderSettings`), and dropout."""

    dropout: float = 0.1  # on the BiLSTM input and on the classifier input
    class_weights: tuple[float, ...] | None = None  # the loss's weight per label (None: every example alike)

    input_format: ClassVar[str] = "sentence"  # "pair": encode "sentence [SEP] aspect" (encode_aspect_examples)
    uses_graph: ClassVar[bool] = False  # True: the examples need dependency parses


@dataclass(frozen=True)
class TrunkSettings(AspectSettings):
    lstm_hidden: int = 300  # per direction: the BiLSTM states are 2 * lstm_hidden wide (ASGCN: 300)

    readout: ClassVar[str] = "interactive"  # see AspectGraphHead


@dataclass(frozen=True)
class MDWSettings:
    """Aspect-specific re-weighting of the encoder states (MDW)."""

    aspect_weight: float = 1.0
    context_weight: float = 0.5


@dataclass(frozen=True)
class GCNSettings:
    """Graph convolutions over the dependency graph, each input position-weighted as in ASGCN (optional)."""

    gcn_layers: int = 2
    position_weighting: bool = True


@dataclass(frozen=True)
class IAGCNConfig(TrunkSettings, MDWSettings, GCNSettings):
    type: str = "iagcn"
    readout: ClassVar[str] = "interactive"
    uses_graph: ClassVar[bool] = True


@dataclass(frozen=True)
class IAGCNNoMDWConfig(TrunkSettings, GCNSettings):
    type: str = "iagcn-no-mdw"
    readout: ClassVar[str] = "interactive"
    uses_graph: ClassVar[bool] = True


@dataclass(frozen=True)
class IAGCNNoGCNConfig(TrunkSettings, MDWSettings):
    type: str = "iagcn-no-gcn"
    readout: ClassVar[str] = "interactive"


@dataclass(frozen=True)
class IAGCNNoInteractiveConfig(TrunkSettings, MDWSettings, GCNSettings):
    type: str = "iagcn-no-interactive"
    readout: ClassVar[str] = "pooled"  # mean context and mean aspect instead of the two attentions
    uses_graph: ClassVar[bool] = True


@dataclass(frozen=True)
class ASGCNConfig(TrunkSettings, GCNSettings):
    type: str = "asgcn"
    readout: ClassVar[str] = "aspect-attention"
    uses_graph: ClassVar[bool] = True


@dataclass(frozen=True)
class SPCConfig(AspectSettings):
    type: str = "spc"
    pooling: str = "cls"
    input_format: ClassVar[str] = "pair"


# --- layers --------------------------------------------------------------------------------------------


class GraphConvolution(nn.Module):
    """out_i = (sum_j A_ij x_j W) / degree_i + b: a GCN layer averaging over each node's neighbours."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Linear(in_features, out_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_features))

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        # x: (B, T, D); adjacency: (B, T, T)
        adjacency = adjacency.to(x.dtype)
        degree = adjacency.sum(-1, keepdim=True).clamp(min=1.0)  # (B, T, 1)
        return torch.bmm(adjacency, self.weight(x)) / degree + self.bias  # (B, T, D')


class QueryAttention(nn.Module):
    """IAN's attention: score_t = tanh(k_t . (W q + b)), softmax over `mask`, then the weighted sum of keys."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)

    def forward(self, keys: torch.Tensor, mask: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        # keys: (B, T, D); mask: (B, T) bool, at least one True per row; query: (B, D)
        scores = torch.tanh(torch.bmm(keys, self.proj(query).unsqueeze(-1)).squeeze(-1))  # (B, T)
        weights = torch.softmax(scores.float().masked_fill(~mask, float("-inf")), dim=-1).to(keys.dtype)
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1)  # (B, D)


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # states: (B, T, D); mask: (B, T) bool -> (B, D)
    m = mask.unsqueeze(-1).to(states.dtype)
    return (states * m).sum(1) / m.sum(1).clamp(min=1.0)


class AspectGraphHead(nn.Module):
    """Everything after the encoder: [MDW] -> BiLSTM -> [GCN x L] -> aspect-masked states -> readout -> linear.

    mdw: (aspect weight, context weight) or None; gcn_layers: 0 for none; readout: "interactive" (IAGCN),
    "pooled" (mean context + mean aspect, no attention) or "aspect-attention" (ASGCN). The context is the BiLSTM
    states of every real token (as ASGCN's attention reads them); the aspect is the GCN output (BiLSTM output
    without GCN) at the aspect's positions, every occurrence included.
    """

    def __init__(
        self,
        input_size: int,
        num_labels: int,
        lstm_hidden: int,
        dropout: float,
        mdw: tuple[float, float] | None,
        gcn_layers: int,
        position_weighting: bool,
        readout: str,
    ) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout {readout!r}: expected one of {READOUTS}")
        self.mdw, self.position_weighting, self.readout = mdw, position_weighting, readout
        width = 2 * lstm_hidden
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(input_size, lstm_hidden, batch_first=True, bidirectional=True)
        self.gcn = nn.ModuleList(GraphConvolution(width, width) for _ in range(gcn_layers))
        if readout == "interactive":
            self.context_attention = QueryAttention(width)
            self.aspect_attention = QueryAttention(width)
        self.classifier = nn.Linear(width if readout == "aspect-attention" else 2 * width, num_labels)

    def forward(
        self,
        states: torch.Tensor,
        attention_mask: torch.Tensor,
        aspect_mask: torch.Tensor,
        position_weights: torch.Tensor,
        adjacency: torch.Tensor | None,
    ) -> torch.Tensor:
        # states: (B, T, H); attention_mask, aspect_mask: (B, T) 0/1; position_weights: (B, T); adjacency: (B, T, T)
        mask = attention_mask.bool()
        aspect = aspect_mask.bool() & mask
        if self.mdw is not None:
            weights = torch.where(aspect, self.mdw[0], self.mdw[1]).to(states.dtype)  # (B, T)
            states = states * weights.unsqueeze(-1)
        hidden = self._bilstm(self.dropout(states), mask)  # (B, T, 2h)
        graph = hidden
        if len(self.gcn):
            if adjacency is None:
                raise ValueError("this model convolves over dependency graphs: encode the examples with parses")
            for layer in self.gcn:
                x = graph * position_weights.unsqueeze(-1).to(graph.dtype) if self.position_weighting else graph
                graph = F.relu(layer(x, adjacency))  # (B, T, 2h)
        aspect_states = graph * aspect.unsqueeze(-1).to(graph.dtype)  # (B, T, 2h), zero off the aspect
        return self.classifier(self.dropout(self._readout(hidden, mask, aspect_states, aspect)))  # (B, C)

    def _readout(
        self, hidden: torch.Tensor, mask: torch.Tensor, aspect_states: torch.Tensor, aspect: torch.Tensor
    ) -> torch.Tensor:
        # hidden, aspect_states: (B, T, 2h); mask, aspect: (B, T) bool
        if self.readout == "interactive":
            context = self.context_attention(hidden, mask, masked_mean(aspect_states, aspect))  # (B, 2h)
            target = self.aspect_attention(aspect_states, aspect, masked_mean(hidden, mask))  # (B, 2h)
            return torch.cat([context, target], dim=-1)  # (B, 4h)
        if self.readout == "pooled":
            return torch.cat([masked_mean(hidden, mask), masked_mean(aspect_states, aspect)], dim=-1)  # (B, 4h)
        # ASGCN: score_t = sum over aspect positions a of <g_a, h_t>
        scores = torch.bmm(aspect_states, hidden.transpose(1, 2)).sum(1)  # (B, T)
        alpha = torch.softmax(scores.float().masked_fill(~mask, float("-inf")), dim=-1).to(hidden.dtype)
        return torch.bmm(alpha.unsqueeze(1), hidden).squeeze(1)  # (B, 2h)

    def _bilstm(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x: (B, T, H), right-padded; padding stays out of both directions
        return packed_lstm(self.lstm, x, mask.sum(1), x.size(1))  # (B, T, 2h), float32


# --- models --------------------------------------------------------------------------------------------


def _output(logits: torch.Tensor, labels: torch.Tensor | None, class_weights: ClassWeights = None) -> ModelOutput:
    """Logits (B, C) in fp32 and, given labels (B,), the cross-entropy, weighted per class where `class_weights` are
    set (torch's weighted mean: sum_i w[y_i] * loss_i / sum_i w[y_i])."""
    logits = logits.float()
    if labels is None:
        return ModelOutput(logits)
    if class_weights is None:
        return ModelOutput(logits, F.cross_entropy(logits, labels))
    weight = torch.tensor(class_weights, dtype=logits.dtype, device=logits.device)  # (C,)
    return ModelOutput(logits, F.cross_entropy(logits, labels, weight=weight))


def check_class_weights(config: AspectSettings, labels: LabelSet) -> ClassWeights:
    """The config's class weights, checked against the labels: one finite weight >= 0 per label, not all zero."""
    weights = config.class_weights
    if weights is None:
        return None
    if len(weights) != len(labels) or not all(math.isfinite(w) and w >= 0 for w in weights) or not any(weights):
        raise ValueError(
            f"{config.type}: class_weights {list(weights)}: expected one finite weight >= 0 per label "
            f"{list(labels.names)}, not all zero"
        )
    return tuple(float(w) for w in weights)


class AspectGraphClassifier(nn.Module):
    """Encoder (B, T, H) -> AspectGraphHead -> logits (B, C), and the (class-weighted) loss given labels."""

    def __init__(self, encoder: TextEncoder, head: AspectGraphHead, class_weights: ClassWeights = None) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head
        self.class_weights = class_weights  # a plain tuple, no buffer: the checkpoint's tensors stay as they were

    def forward(self, batch: AspectBatch) -> ModelOutput:
        if batch.token_type_ids is not None:
            raise ValueError("this model reads the sentence alone: encode its examples with pair=False")
        states, _ = self.encoder(batch.input_ids, batch.attention_mask)  # (B, T, H)
        logits = self.head(states, batch.attention_mask, batch.aspect_mask, batch.position_weights, batch.adjacency)
        return _output(logits, batch.labels, self.class_weights)


class SentencePairClassifier(nn.Module):
    """SPC: encoder over "[CLS] sentence [SEP] aspect [SEP]" -> pooled (B, H) -> dropout -> linear (B, C)."""

    def __init__(
        self, encoder: TextEncoder, num_labels: int, dropout: float, class_weights: ClassWeights = None
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.hidden_size, num_labels)
        self.class_weights = class_weights

    def forward(self, batch: AspectBatch) -> ModelOutput:
        _, pooled = self.encoder(batch.input_ids, batch.attention_mask, batch.token_type_ids)  # (B, H)
        return _output(self.head(self.dropout(pooled)), batch.labels, self.class_weights)


def build_aspect_graph(config: TrunkSettings, labels: LabelSet, runtime: Runtime) -> AspectGraphClassifier:
    mdw = None
    if isinstance(config, MDWSettings):
        if config.aspect_weight < 0 or config.context_weight < 0:
            raise ValueError(f"{config.type}: aspect_weight and context_weight must be >= 0")
        mdw = (config.aspect_weight, config.context_weight)
    gcn_layers, position_weighting = 0, False
    if isinstance(config, GCNSettings):
        if config.gcn_layers < 1:
            raise ValueError(f"{config.type}: gcn_layers must be >= 1 (iagcn-no-gcn is the model without GCN)")
        gcn_layers, position_weighting = config.gcn_layers, config.position_weighting
    if config.lstm_hidden < 1:
        raise ValueError(f"{config.type}: lstm_hidden must be >= 1, got {config.lstm_hidden}")
    class_weights = check_class_weights(config, labels)
    encoder = build_encoder(config, implementation=runtime.implementation, pool=runtime.encoders)
    head = AspectGraphHead(
        input_size=encoder.hidden_size,
        num_labels=len(labels),
        lstm_hidden=config.lstm_hidden,
        dropout=config.dropout,
        mdw=mdw,
        gcn_layers=gcn_layers,
        position_weighting=position_weighting,
        readout=config.readout,
    )
    return AspectGraphClassifier(encoder, head, class_weights)


def build_spc(config: SPCConfig, labels: LabelSet, runtime: Runtime) -> SentencePairClassifier:
    class_weights = check_class_weights(config, labels)
    encoder = build_encoder(config, config.pooling, runtime.implementation, runtime.encoders)
    return SentencePairClassifier(encoder, len(labels), config.dropout, class_weights)


CONFIGS = {
    "iagcn": IAGCNConfig,
    "iagcn-no-mdw": IAGCNNoMDWConfig,
    "iagcn-no-gcn": IAGCNNoGCNConfig,
    "iagcn-no-interactive": IAGCNNoInteractiveConfig,
    "asgcn": ASGCNConfig,
}


def _register() -> None:
    for name, config_cls in CONFIGS.items():
        MODELS.add(name, ModelSpec(config_cls, build_aspect_graph, task=TASK))
    MODELS.add("spc", ModelSpec(SPCConfig, build_spc, task=TASK))


_register()
