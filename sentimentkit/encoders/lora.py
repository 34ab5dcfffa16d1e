"""Low-rank adapters (LoRA, Hu et al. 2021) for `nn.Linear`, small enough to read and to merge.

We keep our own ~60 lines instead of importing peft on the inference path: importing peft costs about
3 s, which alone would break the 4 s cold-start budget of `sentimentkit analyze`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class LoRALinear(nn.Module):
    """y = W x + b + (alpha / r) * B A dropout(x), with W, b frozen and A (r x in), B (out x r) trained.

    B starts at zero, so training starts from the pretrained function.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float) -> None:
        super().__init__()
        if r <= 0:
            raise ValueError(f"LoRA rank must be positive, got {r}")
        self.base = base
        self.base.weight.requires_grad_(False)
        if self.base.bias is not None:
            self.base.bias.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scale = alpha / r
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., in) -> (..., out)
        return self.base(x) + (self.dropout(x) @ self.lora_a.T @ self.lora_b.T) * self.scale

    def merged(self) -> nn.Linear:
        """A plain Linear with the adapter folded into its weight (for fast inference)."""
        with torch.no_grad():
            self.base.weight += (self.lora_b @ self.lora_a) * self.scale
        return self.base


def add_lora(module: nn.Module, targets: Sequence[str], r: int, alpha: float, dropout: float) -> int:
    """Replace every nn.Linear whose attribute name is in `targets` with a LoRALinear. Returns the count."""
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and name in targets:
                setattr(parent, name, LoRALinear(child, r, alpha, dropout))
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
