"""Document/sentence classifiers over a pretrained encoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..encoders.text import EncoderSettings, TextEncoder, build_encoder
from ..labels import LabelSet
from .base import MODELS, ModelSpec


@dataclass(frozen=True)
class TextClassifierConfig(EncoderSettings):
    """Settings of `text-classifier`: a pretrained encoder, pooled, then dropout and a linear head."""

    type: str = "text-classifier"
    adapter: str = "lora"
    pooling: str = "mean"
    dropout: float = 0.1
    implementation: str = "transformers"  # "native": plain-torch BERT for fast start-up (inference)


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


# Presets: the same model with the adapter fixed, so that configs and result rows name what they train.
@dataclass(frozen=True)
class FullFineTuneConfig(TextClassifierConfig):
    type: str = "full-ft"
    adapter: str = "full"


@dataclass(frozen=True)
class LoRAConfig(TextClassifierConfig):
    type: str = "lora"
    adapter: str = "lora"


@dataclass(frozen=True)
class BitFitConfig(TextClassifierConfig):
    type: str = "bitfit"
    adapter: str = "bitfit"


PRESETS = {"full-ft": FullFineTuneConfig, "lora": LoRAConfig, "bitfit": BitFitConfig}


def build_text_classifier(config: TextClassifierConfig, labels: LabelSet) -> TextClassifier:
    preset = PRESETS.get(config.type)
    if preset is not None and config.adapter != preset.adapter:
        raise ValueError(
            f"model {config.type!r} trains with adapter {preset.adapter!r}, not {config.adapter!r}; "
            "use type text-classifier to choose the adapter freely"
        )
    encoder = build_encoder(config, config.pooling, config.implementation)
    return TextClassifier(encoder, len(labels), config.dropout)


MODELS.add("text-classifier", ModelSpec(TextClassifierConfig, build_text_classifier, task="text-classification"))
for _name, _config in PRESETS.items():
    MODELS.add(_name, ModelSpec(_config, build_text_classifier, task="text-classification"))
