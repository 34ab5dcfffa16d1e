"""The pretrained text encoder wrapper: loading, pooling, and how much of it trains.

Adapters: "full" (everything trains), "lora" (low-rank adapters, the rest frozen), "bitfit" (only biases),
"frozen" (nothing in the encoder trains).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..data.encoding import Tokenizer
from ..hub import resolve
from .lora import DEFAULT_ADAPTER, add_lora, merge_lora, use_adapter
from .pool import IMPLEMENTATIONS, EncoderPool

ADAPTERS = ("full", "lora", "bitfit", "frozen")
SHAREABLE_ADAPTERS = ("lora", "frozen")  # adapters that leave the backbone's own weights untouched
POOLINGS = ("mean", "cls")
DEFAULT_BACKBONE = "minilm"


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings and progress bars off while it loads a backbone, then as the user had them: loading a
    model must not change the user's process (their logging, their environment)."""
    from transformers.utils import logging

    verbosity, bars_off = logging.get_verbosity(), logging.is_progress_bar_enabled() is False
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if not bars_off:
            logging.enable_progress_bar()


def load_backbone(name: str, implementation: str = "transformers") -> nn.Module:
    """Load a pretrained encoder (shipped backbone, local directory or cached hub id) with AutoModel.

    implementation "native" loads a BERT-architecture backbone into the plain-torch `NativeBert` instead
    (same weights and outputs, a fraction of the import time); other architectures fall back to AutoModel.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation {implementation!r}: expected one of {IMPLEMENTATIONS}")
    path = resolve(name).path
    if implementation == "native":
        from .bert import NativeBert, supports

        if supports(path):
            return NativeBert.from_pretrained(path)
    with quiet_transformers():
        from transformers import AutoModel

        return AutoModel.from_pretrained(path)


def load_tokenizer(name: str, implementation: str = "transformers") -> Tokenizer:
    """Load the tokenizer that belongs to backbone `name` (for "native", through `tokenizers` alone)."""
    path = resolve(name).path
    if implementation == "native":
        from .bert import FastTokenizer, supports

        if supports(path):
            return FastTokenizer(path)
    with quiet_transformers():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(path)


class TextEncoder(nn.Module):
    """Pretrained encoder -> token states (B, T, H) and a pooled vector (B, H)."""

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        pooling: str = "mean",
        adapter: str = "lora",
        lora_r: int = 8,
        lora_alpha: float = 16.0,
        lora_dropout: float = 0.1,
        lora_targets: Sequence[str] = ("query", "key", "value", "dense"),
        gradient_checkpointing: bool = False,
        implementation: str = "transformers",
        pool: EncoderPool | None = None,
        keep_layers: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if adapter not in ADAPTERS:
            raise ValueError(f"adapter {adapter!r}: expected one of {ADAPTERS}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r}: expected one of {POOLINGS}")
        self.pooling = pooling
        # checkpointing is a training matter: the native (inference) BERT ignores the setting
        checkpointing = gradient_checkpointing and implementation == "transformers"
        # a backbone cut to fewer layers is this encoder's own: never the pool's
        self.shared = pool is not None and adapter in SHAREABLE_ADAPTERS and not checkpointing and not keep_layers
        # the adapter this encoder applies; a frozen encoder on a shared backbone gets a name no layer holds
        self.adapter_name = pool.adapter_name() if self.shared else DEFAULT_ADAPTER
        if self.shared:
            self.model = pool.backbone(backbone, implementation)
        else:
            self.model = load_backbone(backbone, implementation)
        self.kept_layers = tuple(keep_layers)
        if keep_layers:
            keep_backbone_layers(self.model, keep_layers)
        if getattr(self.model, "pooler", None) is not None:
            self.model.pooler = None  # we pool ourselves; an unused pooler would only be saved and carried
        self.hidden_size = int(self.model.config.hidden_size)
        if checkpointing:
            enable_checkpointing(self.model)
        if adapter != "full" and not self.shared:
            self.model.requires_grad_(False)
        if adapter == "lora":
            add_lora(self.model, lora_targets, lora_r, lora_alpha, lora_dropout, self.adapter_name)
        elif adapter == "bitfit":
            for name, param in self.model.named_parameters():
                if name.endswith(".bias"):
                    param.requires_grad_(True)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # input_ids, attention_mask, token_type_ids (segment ids, optional): (B, T)
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        with use_adapter(self.adapter_name):
            states = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        # states: (B, T, H)
        if self.pooling == "cls":
            return states, states[:, 0]
        mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, H)
        return states, pooled

    def merge_adapters(self) -> bool:
        """Fold LoRA adapters into the weights: same outputs, plain-Linear speed. Irreversible. A shared
        backbone serves other adapters too, so it is left as it is (returns False)."""
        if self.shared:
            return False
        merge_lora(self.model)
        return True


def keep_backbone_layers(model: nn.Module, keep: Sequence[int]) -> None:
    """Cut a BERT backbone to the transformer layers `keep` (0-based, in order, no repeats), in place: a smaller
    student initialised from chosen layers of a pretrained (or teacher) model."""
    layers = model.encoder.layer
    n = len(layers)
    keep = list(keep)
    if not keep or any(not 0 <= i < n for i in keep) or keep != sorted(set(keep)):
        raise ValueError(f"keep_layers {keep}: expected increasing layer indices in [0, {n - 1}]")
    model.encoder.layer = nn.ModuleList(layers[i] for i in keep)
    model.config.num_hidden_layers = len(keep)


def enable_checkpointing(model: nn.Module, context_fn: Any = None) -> None:
    """Recompute each layer's activations in the backward pass instead of keeping them (training only: transformers
    checkpoints when the module is in train mode). Non-reentrant, so that frozen inputs still pass gradients on to
    adapters inside the layers. context_fn: torch.utils.checkpoint's (forward context, recompute context) factory,
    for layers that read per-call state (MoE)."""
    kwargs: dict[str, Any] = {"use_reentrant": False}
    if context_fn is not None:
        kwargs["context_fn"] = context_fn
    if getattr(model.config, "use_cache", None):
        model.config.use_cache = False  # no key/value cache in training: say so instead of letting transformers warn
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 renamed it
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    else:
        raise ValueError(f"{type(model).__name__} cannot checkpoint activations; set gradient_checkpointing: false")


@dataclass(frozen=True)
class EncoderSettings:
    """The config fields every encoder-based model shares: which backbone, and how much of it trains."""

    type: str = ""
    backbone: str = DEFAULT_BACKBONE
    adapter: str = "full"
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = ("query", "key", "value", "dense")
    gradient_checkpointing: bool = False
    keep_layers: tuple[int, ...] = ()  # empty: every layer of the backbone; else only these (0-based)


def build_encoder(
    settings: EncoderSettings,
    pooling: str = "mean",
    implementation: str = "transformers",
    pool: EncoderPool | None = None,
) -> TextEncoder:
    """The TextEncoder that a model config's shared settings describe, on the given implementation (and pool)."""
    return TextEncoder(
        backbone=settings.backbone,
        pooling=pooling,
        adapter=settings.adapter,
        lora_r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        lora_targets=settings.lora_targets,
        gradient_checkpointing=settings.gradient_checkpointing,
        implementation=implementation,
        pool=pool,
        keep_layers=settings.keep_layers,
    )
