"""MMSA's fusion baselines (`../shared/MULTIMODAL.md` section 5): TFN, LMF, LF-DNN and EF-LSTM, MOSI defaults.

Text input is the TextFeatures token states (frozen by default, as MMSA's baselines read frozen BERT features).
TFN, LMF and LF-DNN see audio and vision as their time-mean over REAL frames (MMSA averages over the padded
length, padding included; our clips carry masks, so a clip's mean does not depend on its batch). The text LSTM
runs over the real tokens only (packed), where MMSA's sees the padding too. EF-LSTM early-fuses per step after
aligning A/V to the text length (section 5.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from ...data.collate import MultimodalBatch
from ...encoders.pool import Runtime
from ...labels import LabelSet
from ..base import MODELS, ModelOutput, ModelSpec
from .common import (
    TASK,
    MultimodalSettings,
    SavedBatchNorm,
    TextFeatures,
    check_build,
    fit_length,
    masked_mean,
    regression_loss,
)


@dataclass(frozen=True)
class TFNConfig(MultimodalSettings):
    """TFN on MOSI (spec 5.1): hidden text 128 / audio 32 / vision 128, text_out 32, post-fusion 64."""

    type: str = "tfn"
    text_hidden: int = 128
    audio_hidden: int = 32
    vision_hidden: int = 128
    text_out: int = 32
    post_fusion_dim: int = 64
    audio_dropout: float = 0.3
    vision_dropout: float = 0.3
    text_dropout: float = 0.3  # ignored by the 1-layer text LSTM, as in MMSA (see TextSubNet)
    post_dropout: float = 0.5


@dataclass(frozen=True)
class LMFConfig(MultimodalSettings):
    """LMF on MOSI (spec 5.2): hidden [128, 16, 128], text_out 64, rank 3, dropouts .3."""

    type: str = "lmf"
    text_hidden: int = 128
    audio_hidden: int = 16
    vision_hidden: int = 128
    text_out: int = 64
    rank: int = 3
    audio_dropout: float = 0.3
    vision_dropout: float = 0.3
    text_dropout: float = 0.3


@dataclass(frozen=True)
class LFDNNConfig(MultimodalSettings):
    """LF-DNN on MOSI (spec 5.4): hidden [128, 16, 128], text_out 256, post 128, dropouts .2."""

    type: str = "lf-dnn"
    text_hidden: int = 128
    audio_hidden: int = 16
    vision_hidden: int = 128
    text_out: int = 256
    post_fusion_dim: int = 128
    audio_dropout: float = 0.2
    vision_dropout: float = 0.2
    text_dropout: float = 0.2
    post_dropout: float = 0.2


@dataclass(frozen=True)
class EFLSTMConfig(MultimodalSettings):
    """EF-LSTM on MOSI (spec 5.4): LSTM 4 layers of 128, dropout .5. time_batchnorm: MMSA's BatchNorm1d with the
    time axis as channels, which needs a fixed length: the text is then padded inside the model to input_lengths[0]
    and the LSTM reads the padding as MMSA's does. False: no normalisation, LSTM over the real steps (packed)."""

    type: str = "ef-lstm"
    hidden: int = 128
    num_layers: int = 4
    dropout: float = 0.5
    time_batchnorm: bool = True


class SubNet(nn.Module):
    """MMSA's A/V subnet on a time-mean (B, D): ReLU(L3 ReLU(L2 ReLU(L1 Dropout(BN(x))))) -> (B, hidden).

    The BatchNorm keeps its running statistics in the checkpoint (see SavedBatchNorm)."""

    def __init__(self, in_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm = SavedBatchNorm(in_dim)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.dropout(self.norm(x)))


class TextSubNet(nn.Module):
    """MMSA's TextSubNet: an LSTM over the token states (packed: the real tokens only), its last layer's final
    hidden state -> Dropout -> Linear(hidden, out). MMSA's quirk is kept: with one layer the configured dropout is
    set to 0 (also the dropout after the LSTM), so a 1-layer text subnet never drops out."""

    def __init__(self, in_dim: int, hidden: int, out: int, dropout: float, num_layers: int = 1) -> None:
        super().__init__()
        if num_layers == 1:
            dropout = 0.0
        self.lstm = nn.LSTM(in_dim, hidden, num_layers=num_layers, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, out)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # states (B, L, H), mask (B, L) -> (B, out)
        return self.out(self.dropout(final_state(self.lstm, states, mask)))


def final_state(lstm: nn.LSTM, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The last layer's final hidden state (B, hidden) of `lstm` over x (B, T, D): over the real steps of each
    row (mask (B, T), right-padded; at least one step) or, with mask None, over every step."""
    if mask is not None:
        lengths = mask.sum(1).clamp(min=1).cpu()
        x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    _, (h_n, _) = lstm(x)
    return h_n[-1]


class Unimodal(nn.Module):
    """The three unimodal encoders of TFN, LMF and LF-DNN: text LSTM on token states, A/V subnets on time-means."""

    def __init__(self, config: TFNConfig | LMFConfig | LFDNNConfig, text_dim: int) -> None:
        super().__init__()
        self.text_net = TextSubNet(text_dim, config.text_hidden, config.text_out, config.text_dropout)
        self.audio_net = SubNet(config.audio_dim, config.audio_hidden, config.audio_dropout)
        self.vision_net = SubNet(config.vision_dim, config.vision_hidden, config.vision_dropout)

    def forward(self, states: torch.Tensor, batch: MultimodalBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        text = self.text_net(states, batch.attention_mask.bool())  # (B, text_out)
        audio = self.audio_net(masked_mean(batch.audio, batch.audio_mask))  # (B, audio_hidden)
        vision = self.vision_net(masked_mean(batch.vision, batch.vision_mask))  # (B, vision_hidden)
        return text, audio, vision


def with_one(x: torch.Tensor) -> torch.Tensor:
    """(B, D) -> (B, 1 + D) with a leading 1 (the constant that keeps unimodal terms in a tensor product)."""
    return torch.cat([x.new_ones(x.shape[0], 1), x], 1)


def text_states(model: nn.Module, batch: MultimodalBatch) -> tuple[torch.Tensor, MultimodalBatch]:
    """Token states (B, L, H) of the batch's text, cut to the model's input_lengths (and the batch cut alike)."""
    length_l, length_a, length_v = model.config.input_lengths
    ids, text_mask = batch.input_ids[:, :length_l], batch.attention_mask[:, :length_l]
    cut = MultimodalBatch(
        input_ids=ids,
        attention_mask=text_mask,
        audio=batch.audio[:, :length_a],
        audio_mask=batch.audio_mask[:, :length_a],
        vision=batch.vision[:, :length_v],
        vision_mask=batch.vision_mask[:, :length_v],
        labels=batch.labels,
    )
    return model.text(ids, text_mask), cut


class TFN(nn.Module):
    """Tensor fusion: z = vec([1; h_a] x [1; h_v] x [1; h_l]) (in MMSA's order), post-fusion MLP,
    output 6 * sigmoid - 3, a fixed range (-3, 3)."""

    def __init__(self, config: TFNConfig, text: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.text = text
        self.unimodal = Unimodal(config, text.hidden_size)
        fused = (config.audio_hidden + 1) * (config.vision_hidden + 1) * (config.text_out + 1)
        self.dropout = nn.Dropout(config.post_dropout)
        self.post = nn.Sequential(
            nn.Linear(fused, config.post_fusion_dim),
            nn.ReLU(),
            nn.Linear(config.post_fusion_dim, config.post_fusion_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(config.post_fusion_dim, 1)

    def forward(self, batch: MultimodalBatch) -> ModelOutput:
        states, batch = text_states(self, batch)
        text, audio, vision = self.unimodal(states, batch)
        z = torch.einsum("ba,bv,bt->bavt", with_one(audio), with_one(vision), with_one(text)).flatten(1)  # (B, Z)
        value = (6 * torch.sigmoid(self.head(self.post(self.dropout(z)))) - 3).float()  # (B, 1)
        return ModelOutput(value, regression_loss(value, batch.labels, self.config.loss))


class LMF(nn.Module):
    """Low-rank fusion: f_m = [1; h_m] W_m with W_m (R, d_m + 1, 1); value = w (f_a * f_v * f_l) + b, no range.

    MMSA never trains fusion_weights and fusion_bias (its optimizer groups skip them, spec 5.2); one trainer
    trains every parameter here, so this optimizer quirk is not reproduced. MMSA's unused post-fusion dropout is
    left out."""

    def __init__(self, config: LMFConfig, text: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.text = text
        self.unimodal = Unimodal(config, text.hidden_size)
        rank = config.rank
        self.audio_factor = nn.Parameter(nn.init.xavier_normal_(torch.empty(rank, config.audio_hidden + 1, 1)))
        self.vision_factor = nn.Parameter(nn.init.xavier_normal_(torch.empty(rank, config.vision_hidden + 1, 1)))
        self.text_factor = nn.Parameter(nn.init.xavier_normal_(torch.empty(rank, config.text_out + 1, 1)))
        self.fusion_weights = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, rank)))
        self.fusion_bias = nn.Parameter(torch.zeros(1, 1))

    def forward(self, batch: MultimodalBatch) -> ModelOutput:
        states, batch = text_states(self, batch)
        text, audio, vision = self.unimodal(states, batch)
        product = (
            torch.matmul(with_one(audio), self.audio_factor)
            * torch.matmul(with_one(vision), self.vision_factor)
            * torch.matmul(with_one(text), self.text_factor)
        )  # (R, B, 1)
        value = torch.matmul(self.fusion_weights, product.permute(1, 0, 2)).view(-1, 1) + self.fusion_bias  # (B, 1)
        value = value.float()
        return ModelOutput(value, regression_loss(value, batch.labels, self.config.loss))


class LFDNN(nn.Module):
    """Late fusion: [h_a; h_v; h_l] -> Dropout -> ReLU L1 -> ReLU L2 -> L3."""

    def __init__(self, config: LFDNNConfig, text: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.text = text
        self.unimodal = Unimodal(config, text.hidden_size)
        fused = config.audio_hidden + config.vision_hidden + config.text_out
        self.dropout = nn.Dropout(config.post_dropout)
        self.post = nn.Sequential(
            nn.Linear(fused, config.post_fusion_dim),
            nn.ReLU(),
            nn.Linear(config.post_fusion_dim, config.post_fusion_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(config.post_fusion_dim, 1)

    def forward(self, batch: MultimodalBatch) -> ModelOutput:
        states, batch = text_states(self, batch)
        text, audio, vision = self.unimodal(states, batch)
        value = self.head(self.post(self.dropout(torch.cat([audio, vision, text], 1)))).float()  # (B, 1)
        return ModelOutput(value, regression_loss(value, batch.labels, self.config.loss))


def align_to_text(x: torch.Tensor, mask: torch.Tensor, text_mask: torch.Tensor) -> torch.Tensor:
    """Average-pool each clip's real frames into as many contiguous segments as it has real text tokens (MMSA's
    AlignSubNet avg_pool, over real frames only). x (B, T, D), mask (B, T), text_mask (B, L) -> (B, L, D); text
    padding rows and clips without frames are zero; with fewer frames than tokens, neighbours share a frame."""
    n = text_mask.sum(1, keepdim=True)  # (B, 1) real tokens
    t = mask.sum(1, keepdim=True)  # (B, 1) real frames (right-padded)
    k = torch.arange(text_mask.shape[1], device=x.device)[None]  # (1, L)
    start = k * t // n.clamp(min=1)  # (B, L)
    end = torch.minimum(torch.maximum((k + 1) * t // n.clamp(min=1), start + 1), t)
    frames = torch.arange(x.shape[1], device=x.device)[None, None]  # (1, 1, T)
    weights = (frames >= start[..., None]) & (frames < end[..., None]) & (k < n)[..., None]  # (B, L, T)
    weights = weights.to(x.dtype)
    return (weights / weights.sum(-1, keepdim=True).clamp(min=1.0)) @ x


class EFLSTM(nn.Module):
    """Early fusion: per text step [text; audio; vision] (A/V aligned to the text), [BatchNorm over time],
    LSTM, final hidden state -> Dropout -> ReLU Linear -> Dropout -> Linear(hidden, 1)."""

    def __init__(self, config: EFLSTMConfig, text: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.text = text
        width = text.hidden_size + config.audio_dim + config.vision_dim
        self.norm = SavedBatchNorm(config.input_lengths[0]) if config.time_batchnorm else None
        between = config.dropout if config.num_layers > 1 else 0.0  # dropout between stacked layers only
        self.lstm = nn.LSTM(width, config.hidden, num_layers=config.num_layers, dropout=between, batch_first=True)
        self.dropout = nn.Dropout(config.dropout)
        self.linear = nn.Linear(config.hidden, config.hidden)
        self.head = nn.Linear(config.hidden, 1)

    def forward(self, batch: MultimodalBatch) -> ModelOutput:
        states, batch = text_states(self, batch)
        text_mask = batch.attention_mask.bool()
        audio = align_to_text(batch.audio, batch.audio_mask, text_mask)  # (B, L, D_a)
        vision = align_to_text(batch.vision, batch.vision_mask, text_mask)  # (B, L, D_v)
        x = torch.cat([states * text_mask[..., None], audio, vision], -1)  # (B, L, H + D_a + D_v)
        if self.norm is not None:
            x, _ = fit_length(x, text_mask, self.config.input_lengths[0])  # (B, L_fixed, W)
            h = final_state(self.lstm, self.norm(x), None)
        else:
            h = final_state(self.lstm, x, text_mask)  # (B, hidden)
        value = self.head(self.dropout(F.relu(self.linear(self.dropout(h))))).float()  # (B, 1)
        return ModelOutput(value, regression_loss(value, batch.labels, self.config.loss))


MODELS_BY_NAME = {
    "tfn": (TFNConfig, TFN),
    "lmf": (LMFConfig, LMF),
    "lf-dnn": (LFDNNConfig, LFDNN),
    "ef-lstm": (EFLSTMConfig, EFLSTM),
}


def build_fusion(config: MultimodalSettings, labels: LabelSet, runtime: Runtime) -> nn.Module:
    check_build(config, labels)
    _, model_cls = MODELS_BY_NAME[config.type]
    return model_cls(config, TextFeatures(config, runtime))


def _register() -> None:
    for name, (config_cls, _) in MODELS_BY_NAME.items():
        MODELS.add(name, ModelSpec(config_cls, build_fusion, task=TASK))


_register()
