"""The text-only floor: the same text encoder as the multimodal models, masked mean over tokens, an MLP, one value.

Every multimodal result is read against it (a model's multimodal gain is its metric minus this one's). It ignores
audio and vision, so it also trains and predicts on text-only data such as `mosi-text` (clips with 0-frame arrays).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ...data.collate import MultimodalBatch
from ...encoders.pool import Runtime
from ...labels import LabelSet
from ..base import MODELS, ModelOutput, ModelSpec
from .common import TASK, MultimodalSettings, TextFeatures, check_build, masked_mean, regression_loss


@dataclass(frozen=True)
class TextRegressorConfig(MultimodalSettings):
    """Masked mean of the token states -> Linear(H, hidden) -> GELU -> Dropout -> Linear(hidden, 1); L1 loss."""

    type: str = "text-regressor"
    hidden: int = 128
    dropout: float = 0.1


class TextRegressor(nn.Module):
    def __init__(self, config: TextRegressorConfig, text: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.text = text
        self.head = nn.Sequential(
            nn.Linear(text.hidden_size, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, 1),
        )

    def forward(self, batch: MultimodalBatch) -> ModelOutput:
        length = self.config.input_lengths[0]
        ids, mask = batch.input_ids[:, :length], batch.attention_mask[:, :length]
        pooled = masked_mean(self.text(ids, mask), mask.bool())  # (B, H)
        value = self.head(pooled).float()  # (B, 1)
        return ModelOutput(value, regression_loss(value, batch.labels, self.config.loss))


def build_text_regressor(config: TextRegressorConfig, labels: LabelSet, runtime: Runtime) -> TextRegressor:
    check_build(config, labels, needs_av=False)
    return TextRegressor(config, TextFeatures(config, runtime))


MODELS.add("text-regressor", ModelSpec(TextRegressorConfig, build_text_regressor, task=TASK))
