"""MSRN, the modality-specific residual network with attention fusion (`../shared/MULTIMODAL.md` section 5.5): a
plain attention-fusion control with no language guidance, built to handle missing modalities.

    per modality m: Linear(D_m -> h) ─ N residual blocks x + Drop(W2 GELU(W1 LN x)) (h -> 4h -> h)
                    ─ masked attention pooling over its real steps ─> z_m (B, h)
    fusion: s_m = w^T tanh(W z_m) + log(presence_m); alpha = softmax(s); z = sum_m alpha_m z_m ─ MLP ─> value

A modality is present in a clip when it has at least one real step; an absent one gets weight 0 (its score is
-inf). In training each auxiliary modality (audio, vision) is dropped per clip with probability
`modality_dropout`; the text is never dropped, so text, audio and vision are never all dropped at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...data.collate import MultimodalBatch
from ...encoders.pool import Runtime
from ...labels import LabelSet
from ..base import MODELS, ModelOutput, ModelSpec
from .common import TASK, MultimodalSettings, TextFeatures, cap_length, check_build, regression_loss


@dataclass(frozen=True)
class MSRNConfig(MultimodalSettings):
    """h 128, 2 residual blocks per modality, dropout .1, modality dropout .2 (audio and vision), L1 loss."""

    type: str = "msrn"
    hidden: int = 128
    blocks: int = 2
    dropout: float = 0.1
    modality_dropout: float = 0.2


class ResidualBlock(nn.Module):
    """x + Dropout(W2 GELU(W1 LN(x))), h -> 4h -> h."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax over the last axis where mask is True; all-zero weights for a row with no True (never NaN)."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return scores.softmax(-1) * mask


class ModalityEncoder(nn.Module):
    """One modality's branch: (B, T, D) and its mask (B, T) -> z (B, h) by masked attention pooling."""

    def __init__(self, in_dim: int, config: MSRNConfig) -> None:
        super().__init__()
        h = config.hidden
        self.proj = nn.Linear(in_dim, h)
        self.blocks = nn.Sequential(*(ResidualBlock(h, config.dropout) for _ in range(config.blocks)))
        self.score = nn.Sequential(nn.Linear(h, h), nn.Tanh(), nn.Linear(h, 1, bias=False))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.proj(x))  # (B, T, h)
        weights = masked_softmax(self.score(x).squeeze(-1), mask)  # (B, T)
        return (weights.unsqueeze(-1) * x).sum(1)  # (B, h)


class MSRN(nn.Module):
    """MSRN on a text encoder (see the module docstring).

    extras["modality_weights"]: alpha (B, 3) over text, audio, vision."""

    def __init__(self, config: MSRNConfig, text: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.text = text
        h = config.hidden
        self.branches = nn.ModuleDict(
            {
                "text": ModalityEncoder(text.hidden_size, config),
                "audio": ModalityEncoder(config.audio_dim, config),
                "vision": ModalityEncoder(config.vision_dim, config),
            }
        )
        self.fusion_score = nn.Sequential(nn.Linear(h, h), nn.Tanh(), nn.Linear(h, 1, bias=False))
        self.head = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(h, 1))

    def _presence(self, masks: list[torch.Tensor]) -> torch.Tensor:
        """(B, 3) bool: modalities with a real step, auxiliary ones dropped at random in training."""
        present = torch.stack([m.any(1) for m in masks], 1)  # (B, 3)
        if self.training and self.config.modality_dropout > 0:
            drop = torch.rand(present.shape, device=present.device) < self.config.modality_dropout
            drop[:, 0] = False  # never the text
            present = present & ~drop
        return present

    def forward(self, batch: MultimodalBatch) -> ModelOutput:
        length_l, length_a, length_v = self.config.input_lengths
        ids, text_mask = cap_length(batch.input_ids, batch.attention_mask.bool(), length_l)
        audio, audio_mask = cap_length(batch.audio, batch.audio_mask, length_a)
        vision, vision_mask = cap_length(batch.vision, batch.vision_mask, length_v)
        states = self.text(ids, text_mask.long())  # (B, L, H)
        inputs = {"text": (states, text_mask), "audio": (audio, audio_mask), "vision": (vision, vision_mask)}
        z = torch.stack([self.branches[m](x, mask) for m, (x, mask) in inputs.items()], 1)  # (B, 3, h)
        present = self._presence([mask for _, mask in inputs.values()])  # (B, 3)
        alpha = masked_softmax(self.fusion_score(z).squeeze(-1), present)  # (B, 3)
        value = self.head((alpha.unsqueeze(-1) * z).sum(1)).float()  # (B, 1)
        loss = regression_loss(value, batch.labels, self.config.loss)
        return ModelOutput(value, loss, extras={"modality_weights": alpha.detach()})


def build_msrn(config: MSRNConfig, labels: LabelSet, runtime: Runtime) -> MSRN:
    check_build(config, labels)
    return MSRN(config, TextFeatures(config, runtime))


MODELS.add("msrn", ModelSpec(MSRNConfig, build_msrn, task=TASK))
