"""Document/sentence classifiers over a pretrained encoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..data.collate import TextBatch
from ..encoders.pool import Runtime
from ..encoders.text import EncoderSettings, build_encoder
from ..labels import LabelSet
from .base import MODELS, ModelOutput, ModelSpec

TASK = "text-classification.v1"


@dataclass(frozen=True)
class TextClassifierConfig(EncoderSettings):
    """Settings of `text-classifier`: a pretrained encoder, pooled, then dropout and a linear head."""

    type: str = "text-classifier"
    adapter: str = "lora"
    pooling: str = "mean"
    dropout: float = 0.1


class TextClassifier(nn.Module):
    """Encoder -> pooled (B, H) -> dropout -> linear (B, C). Returns logits and, given labels, the loss."""

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder  # TextEncoder, or anything with its forward and hidden_size (PromptedEncoder)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.hidden_size, num_labels)

    def forward(self, batch: TextBatch) -> ModelOutput:
        _, pooled = self.encoder(batch.input_ids, batch.attention_mask)  # (B, H)
        logits = self.head(self.dropout(pooled)).float()  # (B, C)
        return ModelOutput(logits, classification_loss(logits, batch))


def classification_loss(logits: torch.Tensor, batch: TextBatch) -> torch.Tensor | None:
    """Cross-entropy on the batch's labels (None without labels). Where the batch has label groups, each text's
    loss is -log of the summed probability of the classes its label allows (a polarity on a 5-point head: the
    likelihood of the label group); a one-class group is plain cross-entropy."""
    if batch.labels is None:
        return None
    if batch.label_groups is None:
        return F.cross_entropy(logits, batch.labels)
    groups = batch.label_groups
    picked = logits.gather(1, groups.clamp(min=0)).masked_fill(groups < 0, float("-inf"))
    return (torch.logsumexp(logits, -1) - torch.logsumexp(picked, -1)).mean()


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


def build_text_classifier(config: TextClassifierConfig, labels: LabelSet, runtime: Runtime) -> TextClassifier:
    preset = PRESETS.get(config.type)
    if preset is not None and config.adapter != preset.adapter:
        raise ValueError(
            f"model {config.type!r} trains with adapter {preset.adapter!r}, not {config.adapter!r}; "
            "use type text-classifier to choose the adapter freely"
        )
    encoder = build_encoder(config, config.pooling, runtime.implementation, runtime.encoders)
    return TextClassifier(encoder, len(labels), config.dropout)


def _register() -> None:
    MODELS.add("text-classifier", ModelSpec(TextClassifierConfig, build_text_classifier, task=TASK))
    for name, config_cls in PRESETS.items():
        MODELS.add(name, ModelSpec(config_cls, build_text_classifier, task=TASK))


_register()
