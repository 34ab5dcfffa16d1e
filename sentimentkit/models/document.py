"""Document/sentence classifiers over a pretrained encoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..encoders.text import TextEncoder
from ..labels import LabelSet
from .base import MODELS, ModelSpec


@dataclass(frozen=True)
class TextClassifierConfig:
    """Settings of `text-classifier`: a pretrained encoder, pooled, then dropout and a linear head."""

    type: str = "text-classifier"
    backbone: str = "minilm"
    pooling: str = "mean"
    adapter: str = "lora"
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = ("query", "key", "value", "dense")
    dropout: float = 0.1
    gradient_checkpointing: bool = False


class TextClassifier(nn.Module):
    """Encoder -> pooled (B, H) -> dropout -> linear (B, C). Returns logits and, given labels, the loss."""

    def __init__(self, encoder: TextEncoder, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.hidden_size, num_labels)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        _, pooled = self.encoder(input_ids, attention_mask)  # (B, H)
        logits = self.head(self.dropout(pooled)).float()  # (B, C)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = F.cross_entropy(logits, labels)
        return out


def build_text_classifier(config: TextClassifierConfig, labels: LabelSet) -> TextClassifier:
    encoder = TextEncoder(
        backbone=config.backbone,
        pooling=config.pooling,
        adapter=config.adapter,
        lora_r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        lora_targets=config.lora_targets,
        gradient_checkpointing=config.gradient_checkpointing,
    )
    return TextClassifier(encoder, len(labels), config.dropout)


MODELS.add("text-classifier", ModelSpec(TextClassifierConfig, build_text_classifier, task="text-classification"))
