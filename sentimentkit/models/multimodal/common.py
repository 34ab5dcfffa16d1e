"""What the multimodal models share: their config fields, the text encoder with its per-clip memo for frozen
features, masked attention and pooling, and cutting or padding sequences to fixed lengths.

Shapes: B batch, L text tokens, T frames, D features, H text hidden size. Masks are bool, True on real positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ...config import ConfigError
from ...encoders.pool import Runtime
from ...encoders.text import DEFAULT_BACKBONE, EncoderSettings, build_encoder

TASK = "multimodal-regression.v1"
TEXT_ENCODERS = ("frozen", "full", "lora")
LOSSES = ("l1", "mse")
MEMO_LIMIT = 50_000  # clips; at MiniLM's H = 384 and 20 tokens a clip holds about 30 kB, so about 1.5 GB at most


@dataclass(frozen=True)
class MultimodalSettings:
    """Config fields every multimodal model shares.

    text_encoder: "frozen" (features only: MMSA's baselines use frozen BERT features; computed once per clip),
    "full" (fine-tuned end to end, as the ALMT reference does) or "lora". audio_dim, vision_dim: feature sizes
    (the task overrides them from the data). input_lengths: (L, T_a, T_v); longer sequences are cut at the end
    inside the model, and the models that need fixed lengths (positional embeddings, reference modes) use them.
    """

    type: str = ""
    backbone: str = DEFAULT_BACKBONE
    text_encoder: str = "frozen"
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    audio_dim: int = 5
    vision_dim: int = 20
    input_lengths: tuple[int, ...] = (50, 375, 500)
    loss: str = "l1"

    def __post_init__(self) -> None:
        where = f"model ({self.type})" if self.type else "model"
        if self.text_encoder not in TEXT_ENCODERS:
            raise ConfigError(f"{where}.text_encoder: {self.text_encoder!r}; expected one of {TEXT_ENCODERS}")
        if self.loss not in LOSSES:
            raise ConfigError(f"{where}.loss: {self.loss!r}; expected one of {LOSSES}")
        if len(self.input_lengths) != 3 or min(self.input_lengths) < 1:
            raise ConfigError(
                f"{where}.input_lengths: {list(self.input_lengths)}; expected three positive lengths [L, T_a, T_v]"
            )
        if self.audio_dim < 0 or self.vision_dim < 0:
            raise ConfigError(
                f"{where}: audio_dim and vision_dim must be >= 0, got {self.audio_dim}, {self.vision_dim}"
            )


def regression_loss(prediction: torch.Tensor, labels: torch.Tensor | None, kind: str) -> torch.Tensor | None:
    """L1 or MSE between prediction (B, 1) and labels (B,); None for an unlabelled batch."""
    if labels is None:
        return None
    target = labels.to(prediction.dtype)
    value = prediction.squeeze(-1)  # (B,)
    return F.l1_loss(value, target) if kind == "l1" else F.mse_loss(value, target)


class TextFeatures(nn.Module):
    """The text encoder: token ids (B, L) -> token states (B, L, H).

    In "frozen" mode the encoder runs under no_grad in eval mode (also while the model trains) and its outputs are
    memoised per clip, keyed by the clip's unpadded token ids: the memo caches a pure function of frozen weights, so
    a cached value is exactly what the encoder would compute again, and a frozen-text training run encodes each
    transcript once. The memo holds at most `memo_limit` clips (later clips are computed on every call); it is not
    part of the state dict. keep_padding_states: also keep the encoder's outputs at padding positions (a reference
    mode that attends to them); otherwise padding rows are zero in frozen mode and must be masked by the caller.
    """

    def __init__(
        self,
        settings: MultimodalSettings,
        runtime: Runtime,
        keep_padding_states: bool = False,
        memo_limit: int = MEMO_LIMIT,
    ) -> None:
        super().__init__()
        encoder_settings = EncoderSettings(
            backbone=settings.backbone,
            adapter=settings.text_encoder,
            lora_r=settings.lora_r,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
        )
        self.encoder = build_encoder(encoder_settings, "mean", runtime.implementation, runtime.encoders)
        self.hidden_size = self.encoder.hidden_size
        self.frozen = settings.text_encoder == "frozen"
        self.keep_padding_states = keep_padding_states
        self.memo_limit = memo_limit
        self.memo: dict[bytes, torch.Tensor] = {}
        if self.frozen:
            self.encoder.eval()

    def train(self, mode: bool = True) -> TextFeatures:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()  # frozen features: no dropout, so the memo stays valid
        return self

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # input_ids, attention_mask: (B, L), right-padded
        if not self.frozen:
            states, _ = self.encoder(input_ids, attention_mask)
            return states  # (B, L, H)
        return self._memoised(input_ids, attention_mask)

    def _memoised(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        batch, length = input_ids.shape
        lengths = attention_mask.sum(1).tolist()
        ids = input_ids.cpu().numpy()
        keys = [ids[i, : lengths[i]].tobytes() for i in range(batch)]
        rows = [length if self.keep_padding_states else lengths[i] for i in range(batch)]  # rows each clip needs
        out = torch.zeros(batch, length, self.hidden_size, device=input_ids.device)  # (B, L, H)
        missing = []
        for i, key in enumerate(keys):
            cached = self.memo.get(key)
            if cached is not None and cached.shape[0] >= rows[i]:
                out[i, : rows[i]] = cached[: rows[i]]
            else:
                missing.append(i)
        if missing:
            width = length if self.keep_padding_states else max(1, max(lengths[i] for i in missing))
            index = torch.tensor(missing, device=input_ids.device)
            with torch.no_grad():
                states, _ = self.encoder(input_ids[index, :width], attention_mask[index, :width])  # (M, W, H)
            for j, i in enumerate(missing):
                value = states[j, : rows[i]].float().clone()
                if keys[i] in self.memo or len(self.memo) < self.memo_limit:
                    self.memo[keys[i]] = value
                out[i, : rows[i]] = value
        return out


class SavedBatchNorm(nn.Module):
    """BatchNorm over channel axis 1 of (B, C) or (B, C, T), whose running statistics travel with the checkpoint.

    Checkpoints hold the tensors that require grad (`models.base.trainable_state`), so nn.BatchNorm1d's running
    statistics (buffers) would be lost and a reloaded model would normalise with fresh ones. Here they are
    parameters that never take a gradient: read detached, updated in place by batch_norm, so their .grad stays
    None and optimisers skip them. A one-clip training batch has no batch statistics: it is normalised with the
    running ones, which it leaves unchanged.
    """

    def __init__(self, channels: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.running_mean = nn.Parameter(torch.zeros(channels))
        self.running_var = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch_stats = self.training and x.shape[0] > 1
        mean, var = self.running_mean.detach(), self.running_var.detach()  # updated in place when batch_stats
        return F.batch_norm(x, mean, var, self.weight, self.bias, batch_stats, self.momentum, self.eps)


# --- attention and pooling ---------------------------------------------------------------------------------------


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_mask: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
    dropout: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """Scaled dot-product attention per head (torch's fused kernel). q (B, h, Tq, d), k and v (B, h, Tk, d)
    -> (B, h, Tq, d).

    key_mask (B, Tk) and allowed (Tq, Tk) or (B, Tq, Tk): bool, True where a query may look. A query with no
    allowed key gets a zero output, never NaN: it attends to every key and its output is then zeroed.
    """
    keep = None
    if key_mask is not None:
        keep = key_mask[:, None, None, :]  # (B, 1, 1, Tk)
    if allowed is not None:
        allowed = allowed[None, None] if allowed.dim() == 2 else allowed[:, None]  # (B | 1, 1, Tq, Tk)
        keep = allowed if keep is None else keep & allowed
    p = dropout if training else 0.0
    if keep is None:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    has_key = keep.any(-1, keepdim=True)  # (B | 1, 1, Tq | 1, 1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep | ~has_key, dropout_p=p)
    return out * has_key


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, h*d) -> (B, h, T, d)."""
    b, t, _ = x.shape
    return x.view(b, t, heads, -1).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, h, T, d) -> (B, T, h*d)."""
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over time of the real frames: x (B, T, D), mask (B, T) -> (B, D); zeros for a clip with none."""
    weights = mask.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def fit_length(x: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut x (B, T, ...) and its mask (B, T) at the end, or pad them with zeros / False, to exactly `length`."""
    t = x.shape[1]
    if t >= length:
        return x[:, :length], mask[:, :length]
    pad = x.new_zeros((x.shape[0], length - t, *x.shape[2:]))
    return torch.cat([x, pad], 1), torch.cat([mask, mask.new_zeros((mask.shape[0], length - t))], 1)


def cap_length(x: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut x (B, T, ...) and its mask (B, T) at the end to at most `length` positions (no padding)."""
    return x[:, :length], mask[:, :length]


def from_first_nonzero(x: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ALMT's paper-era cut (spec 1.4.1): `length` frames starting at each clip's first real frame that is not all
    zeros (the first frame if there is none). x (B, T, D), mask (B, T) -> (B, length, D), (B, length)."""
    nonzero = (x != 0).any(-1) & mask  # (B, T)
    t = x.shape[1]
    start = torch.where(nonzero.any(1), nonzero.float().argmax(1), torch.zeros_like(nonzero[:, 0], dtype=torch.long))
    index = start[:, None] + torch.arange(length, device=x.device)[None]  # (B, length)
    inside = index < t
    index = index.clamp(max=t - 1)
    kept = mask.gather(1, index) & inside  # (B, length)
    return x.gather(1, index[..., None].expand(-1, -1, x.shape[2])) * kept[..., None], kept


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed sine/cosine position codes (length, dim), as the original Transformer and MulT add them."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    codes = torch.zeros(length, dim, device=device)
    codes[:, 0::2] = torch.sin(position * rate)
    codes[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return codes


def count_parameters(module: nn.Module) -> int:
    """The number of scalar parameters of `module`."""
    return sum(p.numel() for p in module.parameters())


def check_build(config: MultimodalSettings, labels: Any, needs_av: bool = True) -> None:
    """A regression model predicts one value, so its label set has one name (["value"]); a model that reads audio
    and vision needs both feature sizes >= 1 (text-only data such as mosi-text has 0: use text-regressor)."""
    if len(labels) != 1:
        raise ValueError(
            f"model {config.type!r} predicts one value; its labels must be one name (e.g. ['value']), "
            f"got {list(labels.names)}"
        )
    if needs_av and min(config.audio_dim, config.vision_dim) < 1:
        raise ConfigError(
            f"model {config.type!r} reads audio and vision, but audio_dim = {config.audio_dim} and vision_dim = "
            f"{config.vision_dim}: the data has no such features; train text-regressor on text-only data"
        )


__all__ = [
    "LOSSES",
    "TASK",
    "TEXT_ENCODERS",
    "MultimodalSettings",
    "SavedBatchNorm",
    "TextFeatures",
    "attend",
    "cap_length",
    "check_build",
    "count_parameters",
    "fit_length",
    "from_first_nonzero",
    "masked_mean",
    "merge_heads",
    "regression_loss",
    "sinusoidal_positions",
    "split_heads",
]
