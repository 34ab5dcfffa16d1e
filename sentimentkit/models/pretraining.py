"""Encoder pretraining models: SKESL's sentiment-intensity regressor and the masked-language-model control.

Both are a text encoder (MiniLM, "full" or "lora" by config) and a head that is thrown away after pretraining: the
encoder is what later configs start from (`model.init_from`). Shapes: B batch, T tokens, K masked positions, H
hidden size, V vocabulary.

- `skesl-text`: the output at the masked sentiment word -> fc1 (H -> 256) -> ReLU -> Dropout -> fc2 (256 -> 1),
  L1 loss against the word's rescaled valence (the reference's head, `../shared/MULTIMODAL.md` section 4.3).
- `mlm-text`: BERT's prediction head (dense, GELU, LayerNorm, a decoder tied to the word embeddings plus a bias)
  at the masked positions, cross-entropy against the original tokens. MiniLM ships without one, so it starts
  fresh, as the SKESL head does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..config import ConfigError
from ..data.masking import MATCHES, MaskedBatch
from ..encoders.pool import Runtime
from ..encoders.text import EncoderSettings, build_encoder
from ..labels import LabelSet
from .base import MODELS, ModelOutput, ModelSpec

SKESL_TASK = "sentiment-word-pretraining.v1"
MLM_TASK = "masked-lm-pretraining.v1"
PRETRAINING_LABELS = LabelSet(("intensity",))
PRETRAIN_ADAPTERS = ("full", "lora")


@dataclass(frozen=True)
class PretrainSettings(EncoderSettings):
    """What both pretraining models share. min_words: sentences with fewer words are not used; heldout: sentences
    held out for selection (at most 5 % of the pool), the same slice for every run on the same text."""

    min_words: int = 3
    heldout: int = 2000

    def __post_init__(self) -> None:
        if self.adapter not in PRETRAIN_ADAPTERS:
            raise ConfigError(
                f"model ({self.type}).adapter: {self.adapter!r}; pretraining trains the encoder, so one of "
                f"{PRETRAIN_ADAPTERS}"
            )
        if self.min_words < 1 or self.heldout < 1:
            raise ConfigError(f"model ({self.type}): min_words and heldout must be >= 1")


@dataclass(frozen=True)
class SkeslTextConfig(PretrainSettings):
    """lexicon: a VADER-format lexicon file, or "vader" (the data folder's copy, else the vaderSentiment package's).
    match: "word" (runs of up to max_words words, split words included) or "wordpiece" (the reference rule)."""

    type: str = "skesl-text"
    lexicon: str = "vader"
    match: str = "word"
    max_words: int = 3
    head_hidden: int = 256
    dropout: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.match not in MATCHES:
            raise ConfigError(f"model ({self.type}).match: {self.match!r}; expected one of {MATCHES}")


@dataclass(frozen=True)
class MlmTextConfig(PretrainSettings):
    type: str = "mlm-text"


class IntensityRegressor(nn.Module):
    """Encoder + the SKESL head read at the masked word."""

    def __init__(self, config: SkeslTextConfig, runtime: Runtime) -> None:
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config, "mean", runtime.implementation, runtime.encoders)
        hidden = self.encoder.hidden_size
        fc1, fc2 = nn.Linear(hidden, config.head_hidden), nn.Linear(config.head_hidden, 1)
        self.head = nn.Sequential(fc1, nn.ReLU(), nn.Dropout(config.dropout), fc2)

    def forward(self, batch: MaskedBatch) -> ModelOutput:
        states, _ = self.encoder(batch.input_ids, batch.attention_mask)  # (B, T, H)
        rows = torch.arange(states.shape[0], device=states.device)
        at_word = states[rows, batch.positions[:, 0]]  # (B, H)
        value = self.head(at_word).float()  # (B, 1)
        loss = None if batch.labels is None else F.l1_loss(value.squeeze(-1), batch.labels.float())
        return ModelOutput(value, loss)


class MaskedLanguageModel(nn.Module):
    """Encoder + BERT's MLM head at the masked positions only (K per sentence, not T: less compute)."""

    def __init__(self, config: MlmTextConfig, runtime: Runtime) -> None:
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config, "mean", runtime.implementation, runtime.encoders)
        hidden = self.encoder.hidden_size
        embeddings = self.encoder.model.get_input_embeddings()
        self.head = nn.ModuleDict(
            {
                "dense": nn.Linear(hidden, hidden),
                "norm": nn.LayerNorm(hidden, eps=1e-12),
            }
        )
        self.decoder_bias = nn.Parameter(torch.zeros(embeddings.weight.shape[0]))
        self._embeddings = [embeddings]  # tied, not registered twice

    def forward(self, batch: MaskedBatch) -> ModelOutput:
        states, _ = self.encoder(batch.input_ids, batch.attention_mask)  # (B, T, H)
        positions = batch.positions.clamp(min=0)  # (B, K); -1 marks padding
        picked = torch.gather(states, 1, positions.unsqueeze(-1).expand(-1, -1, states.shape[-1]))  # (B, K, H)
        h = self.head["norm"](F.gelu(self.head["dense"](picked)))
        logits = (h @ self._embeddings[0].weight.T + self.decoder_bias).float()  # (B, K, V)
        loss = None
        if batch.labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.labels.reshape(-1), ignore_index=-100)
        return ModelOutput(logits, loss)


def _check(labels: LabelSet, what: str) -> None:
    if labels.names != PRETRAINING_LABELS.names:
        raise ValueError(f"{what} is a pretraining model; it has no labels to predict")


def build_skesl_text(config: SkeslTextConfig, labels: LabelSet, runtime: Runtime) -> IntensityRegressor:
    _check(labels, config.type)
    return IntensityRegressor(config, runtime)


def build_mlm_text(config: MlmTextConfig, labels: LabelSet, runtime: Runtime) -> MaskedLanguageModel:
    _check(labels, config.type)
    return MaskedLanguageModel(config, runtime)


def _mlm_head(model: nn.Module) -> list[nn.Parameter]:
    return [*model.head.parameters(), model.decoder_bias]


MODELS.add("skesl-text", ModelSpec(SkeslTextConfig, build_skesl_text, task=SKESL_TASK))
MODELS.add("mlm-text", ModelSpec(MlmTextConfig, build_mlm_text, task=MLM_TASK, head=_mlm_head))
