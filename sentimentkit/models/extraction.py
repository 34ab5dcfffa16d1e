"""Aspect term extraction (`ate`): a BIO tagger over the encoder's token states.

Each word is tagged O, B-ASP or I-ASP on its first subword; the other subwords and the special tokens carry
label -100 and are ignored by the loss (training/extraction.py builds those labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..encoders.text import EncoderSettings, TextEncoder, build_encoder
from ..labels import LabelSet
from .base import MODELS, ModelSpec

IGNORE = -100


@dataclass(frozen=True)
class TokenTaggerConfig(EncoderSettings):
    """Settings of `ate`: a pretrained encoder, dropout and a linear tag head on every token."""

    type: str = "ate"
    dropout: float = 0.1
    implementation: str = "transformers"


class TokenTagger(nn.Module):
    """Encoder -> token states (B, T, H) -> dropout -> linear (B, T, C). The loss averages over labelled tokens."""

    def __init__(self, encoder: TextEncoder, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.hidden_size, num_labels)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        states, _ = self.encoder(input_ids, attention_mask)  # (B, T, H)
        logits = self.head(self.dropout(states)).float()  # (B, T, C)
        out = {"logits": logits}
        if labels is not None:  # (B, T), IGNORE off the first subwords
            total = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE, reduction="sum")
            # a batch whose words were all truncated away has no labelled token: its loss is 0, not NaN
            out["loss"] = total / (labels != IGNORE).sum().clamp(min=1)
        return out


def build_token_tagger(config: TokenTaggerConfig, labels: LabelSet) -> TokenTagger:
    encoder = build_encoder(config, implementation=config.implementation)
    return TokenTagger(encoder, len(labels), config.dropout)


MODELS.add("ate", ModelSpec(TokenTaggerConfig, build_token_tagger, task="aspect-extraction"))
