"""`bilstm-attn`: the classic baseline. Word embeddings -> bidirectional LSTM -> additive attention -> linear.

The vocabulary is built by the runner from the training texts (`WordVocab`, `ModelSpec.tokenizer="vocab"`);
it sets `vocab_size` in the model section and saves vocab.json beside the checkpoint, so the model itself
only needs the size. Everything trains: embeddings, LSTM, attention and head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ConfigError
from ..data.collate import TextBatch
from ..data.vocab import SPECIALS
from ..encoders.pool import Runtime
from ..labels import LabelSet
from .base import MODELS, ModelOutput, ModelSpec, packed_lstm
from .document import TASK, classification_loss


@dataclass(frozen=True)
class BiLSTMAttentionConfig:
    """Settings of `bilstm-attn`. `min_freq` and `max_vocab` shape the vocabulary the runner builds."""

    type: str = "bilstm-attn"
    vocab_size: int = 0  # set by the runner to the size of the vocabulary built from the training data
    min_freq: int = 2  # words seen fewer times in training become [UNK]
    max_vocab: int = 50_000  # specials included
    embedding_dim: int = 300
    hidden_size: int = 256  # per direction: the LSTM states are 2 * hidden_size wide
    num_layers: int = 1
    attention_dim: int = 128
    dropout: float = 0.5  # on the embeddings, between LSTM layers, and on the pooled vector


class AdditiveAttention(nn.Module):
    """Bahdanau-style attention pooling: score_t = v^T tanh(W h_t), softmax over the real tokens only."""

    def __init__(self, input_size: int, attention_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(input_size, attention_dim)
        self.v = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # states: (B, T, D); mask: (B, T) bool, True on real tokens, at least one per row
        scores = self.v(torch.tanh(self.proj(states))).squeeze(-1)  # (B, T)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(states.dtype)  # (B, T), exactly 0 on padding
        pooled = torch.bmm(weights.unsqueeze(1), states).squeeze(1)  # (B, D)
        return pooled, weights


class BiLSTMAttention(nn.Module):
    """Embedding -> dropout -> packed BiLSTM -> additive attention -> dropout -> linear (B, C).

    The output's extras["attention"] (B, T) holds the attention weights of this call: they sum to 1 over each
    row's real tokens and are 0 on padding (for attention-map explanations).
    """

    def __init__(
        self,
        vocab_size: int,
        num_labels: int,
        embedding_dim: int = 300,
        hidden_size: int = 256,
        num_layers: int = 1,
        attention_dim: int = 128,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)  # id 0 is [PAD]
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,  # torch applies it between layers only
        )
        self.attention = AdditiveAttention(2 * hidden_size, attention_dim)
        self.head = nn.Linear(2 * hidden_size, num_labels)

    def forward(self, batch: TextBatch) -> ModelOutput:
        # input_ids, attention_mask: (B, T), right-padded as `pad_batch` makes them
        input_ids, attention_mask = batch.input_ids, batch.attention_mask
        steps = input_ids.shape[1]
        lengths = attention_mask.sum(1).clamp(min=1)  # (B,); an empty row reads its first (padding) token
        mask = torch.arange(steps, device=input_ids.device)[None] < lengths[:, None]  # (B, T) bool
        embedded = self.dropout(self.embedding(input_ids))  # (B, T, E)
        # Packing runs the backward direction from each row's last real token, not from the padding.
        states = packed_lstm(self.lstm, embedded, lengths, steps)  # (B, T, 2H)
        pooled, weights = self.attention(states, mask)  # (B, 2H), (B, T)
        logits = self.head(self.dropout(pooled)).float()  # (B, C)
        return ModelOutput(logits, classification_loss(logits, batch), {"attention": weights.detach()})


def build_bilstm_attention(config: BiLSTMAttentionConfig, labels: LabelSet, runtime: Runtime) -> BiLSTMAttention:
    if config.vocab_size <= len(SPECIALS):
        raise ConfigError(
            f"model.vocab_size is {config.vocab_size}; bilstm-attn needs a vocabulary larger than its "
            f"{len(SPECIALS)} special tokens {SPECIALS}. `sentimentkit train` sets it from the training data "
            "(if it is still this small, lower model.min_freq or raise model.max_vocab); when building the "
            "model yourself, pass len(WordVocab.build(texts))"
        )
    for name in ("embedding_dim", "hidden_size", "num_layers", "attention_dim"):
        if getattr(config, name) < 1:
            raise ConfigError(f"model.{name} is {getattr(config, name)}; expected a positive integer")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"model.dropout is {config.dropout}; expected a probability in [0, 1)")
    return BiLSTMAttention(
        config.vocab_size,
        len(labels),
        config.embedding_dim,
        config.hidden_size,
        config.num_layers,
        config.attention_dim,
        config.dropout,
    )


MODELS.add(
    "bilstm-attn",
    ModelSpec(BiLSTMAttentionConfig, build_bilstm_attention, task=TASK, tokenizer="vocab"),
)
