"""Aspect term extraction (`ate`): a BIO tagger over the encoder's token states.

Each word is tagged O, B-ASP or I-ASP on its first subword; the other subwords and the special tokens carry
IGNORE_INDEX and are ignored by the loss (`data/tagging.py` builds those targets).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.nn import functional as F

from ..data.collate import TagBatch
from ..encoders.pool import Runtime
from ..encoders.text import EncoderSettings, TextEncoder, build_encoder
from ..labels import IGNORE_INDEX, LabelSet
from .base import MODELS, ModelOutput, ModelSpec

TASK = "aspect-extraction.v1"


@dataclass(frozen=True)
class TokenTaggerConfig(EncoderSettings):
    """Settings of `ate`: a pretrained encoder, dropout and a linear tag head on every token."""

    type: str = "ate"
    dropout: float = 0.1


class TokenTagger(nn.Module):
    """Encoder -> token states (B, T, H) -> dropout -> linear (B, T, C). The loss averages over labelled tokens."""

    def __init__(self, encoder: TextEncoder, num_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.hidden_size, num_labels)

    def forward(self, batch: TagBatch) -> ModelOutput:
        states, _ = self.encoder(batch.input_ids, batch.attention_mask)  # (B, T, H)
        logits = self.head(self.dropout(states)).float()  # (B, T, C)
        if batch.labels is None:
            return ModelOutput(logits)
        labels = batch.labels  # (B, T), IGNORE_INDEX off the first subwords
        total = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
        # a batch whose words were all truncated away has no labelled token: its loss is 0, not NaN
        return ModelOutput(logits, total / (labels != IGNORE_INDEX).sum().clamp(min=1))


def build_token_tagger(config: TokenTaggerConfig, labels: LabelSet, runtime: Runtime) -> TokenTagger:
    encoder = build_encoder(config, implementation=runtime.implementation, pool=runtime.encoders)
    return TokenTagger(encoder, len(labels), config.dropout)


MODELS.add("ate", ModelSpec(TokenTaggerConfig, build_token_tagger, task=TASK))
