"""Low-rank adapters (LoRA, Hu et al. 2021) for `nn.Linear`, named so that several share one frozen backbone.

A `LoRALinear` wraps a frozen Linear and holds any number of named adapters (A, B, scale). Which adapter a
forward pass applies is chosen per call with `use_adapter(name)`, a context variable: each thread (and each
asyncio task) has its own, so models that share one backbone can run concurrently without touching each
other's state. With no adapter chosen, a layer that holds exactly one adapter applies it.

We keep our own ~100 lines instead of importing peft on the inference path: importing peft costs about
3 s, which alone would break the 4 s cold-start budget of `sentimentkit analyze`.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

import torch
from torch import nn

DEFAULT_ADAPTER = "default"
_ACTIVE: ContextVar[str | None] = ContextVar("sentimentkit_lora_adapter", default=None)
# A parameter of a named adapter, "...query.lora_a.<name>", and its name in checkpoints, "...query.lora_a".
_NAMED_KEY = re.compile(r"\.lora_([ab])\.([^.]+)$")
_SAVED_KEY = re.compile(r"\.lora_([ab])$")


@contextlib.contextmanager
def use_adapter(name: str | None) -> Iterator[None]:
    """Apply adapter `name` in every LoRALinear during the block (in this thread or task only)."""
    token = _ACTIVE.set(name)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


class LoRALinear(nn.Module):
    """y = W x + b + (alpha / r) * B A dropout(x) for the active adapter, with W, b frozen.

    Each adapter has A (r x in) and B (out x r); B starts at zero, so training starts from the pretrained function.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float, name: str = DEFAULT_ADAPTER) -> None:
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        if self.base.bias is not None:
            self.base.bias.requires_grad_(False)
        self.lora_a = nn.ParameterDict()
        self.lora_b = nn.ParameterDict()
        self.dropouts = nn.ModuleDict()
        self.scales: dict[str, float] = {}
        self.add_adapter(name, r, alpha, dropout)

    def add_adapter(self, name: str, r: int, alpha: float, dropout: float) -> None:
        if r <= 0:
            raise ValueError(f"LoRA rank must be positive, got {r}")
        if name in self.scales:
            raise ValueError(f"adapter {name!r} is already on this layer")
        a = nn.Parameter(torch.empty(r, self.base.in_features, dtype=self.base.weight.dtype))
        nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        self.lora_a[name] = a
        self.lora_b[name] = nn.Parameter(torch.zeros(self.base.out_features, r, dtype=self.base.weight.dtype))
        self.dropouts[name] = nn.Dropout(dropout)
        self.scales[name] = alpha / r

    @property
    def adapters(self) -> list[str]:
        return list(self.scales)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., in) -> (..., out)
        name = _ACTIVE.get()
        if name is None and len(self.scales) == 1:
            name = next(iter(self.scales))
        out = self.base(x)
        if name not in self.scales:  # another model's layer, or the bare backbone
            return out
        a, b = self.lora_a[name], self.lora_b[name]
        return out + (self.dropouts[name](x) @ a.T @ b.T) * self.scales[name]

    def merged(self) -> nn.Linear:
        """A plain Linear with the (only) adapter folded into its weight (for fast inference)."""
        if len(self.scales) != 1:
            raise ValueError(f"cannot merge {len(self.scales)} adapters into one shared weight")
        (name,) = self.scales
        with torch.no_grad():
            self.base.weight += (self.lora_b[name] @ self.lora_a[name]) * self.scales[name]
        return self.base


def add_lora(
    module: nn.Module, targets: Sequence[str], r: int, alpha: float, dropout: float, name: str = DEFAULT_ADAPTER
) -> int:
    """Give every nn.Linear whose attribute name is in `targets` adapter `name` (wrapping it in a LoRALinear
    the first time). Returns the count."""
    count = 0
    for parent in list(module.modules()):
        for child_name, child in list(parent.named_children()):
            if child_name not in targets:
                continue
            if isinstance(child, LoRALinear):
                child.add_adapter(name, r, alpha, dropout)
                count += 1
            elif isinstance(child, nn.Linear):
                setattr(parent, child_name, LoRALinear(child, r, alpha, dropout, name))
                count += 1
    if count == 0:
        raise ValueError(f"no nn.Linear named any of {list(targets)} was found to adapt")
    return count


def merge_lora(module: nn.Module) -> int:
    """Fold every LoRALinear back into a plain Linear, in place. Returns the count."""
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, name, child.merged())
                count += 1
    return count


def saved_name(key: str, adapters: set[str]) -> str | None:
    """The checkpoint name of parameter `key`: a named adapter's "...lora_a.<name>" is saved as "...lora_a"
    (so checkpoints stay as they were before adapters had names); None for an adapter not in `adapters`."""
    match = _NAMED_KEY.search(key)
    if match is None:
        return key
    if match.group(2) not in adapters:
        return None
    return key[: match.start()] + f".lora_{match.group(1)}"


def live_name(key: str, adapter: str) -> str:
    """The parameter name of checkpoint key `key` in a model whose adapter is `adapter` (inverse of saved_name)."""
    return _SAVED_KEY.sub(lambda m: f".lora_{m.group(1)}.{adapter}", key)
