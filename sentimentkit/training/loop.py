"""The pieces of the one training loop: batch order, optimizer, schedule."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..config import TrainConfig

SCHEDULES = ("linear", "cosine", "constant")


def batch_order(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, bucket: bool) -> list[list[int]]:
    """The batches of one epoch, a pure function of (seed, epoch): resuming recomputes the same order.

    With bucketing, windows of 50 batches are sorted by length before cutting, so each batch pads little,
    and the batches are then shuffled so that lengths do not drift through the epoch.
    """
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(len(lengths), generator=g).tolist()
    if not bucket:
        return [perm[i : i + batch_size] for i in range(0, len(perm), batch_size)]
    window = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(perm), window):
        chunk = sorted(perm[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffle = torch.randperm(len(batches), generator=g).tolist()
    return [batches[i] for i in shuffle]


def make_optimizer(model: nn.Module, args: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over trainable parameters; the head may get its own rate; no decay on biases and norms."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = name.startswith("head.")
        no_decay = param.ndim < 2  # biases and norm weights
        groups.setdefault((is_head, no_decay), []).append(param)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    head_lr = args.head_lr if args.head_lr is not None else args.lr
    param_groups = [
        {
            "params": params,
            "lr": head_lr if is_head else args.lr,
            "weight_decay": 0.0 if nd else args.weight_decay,
        }
        for (is_head, nd), params in sorted(groups.items())
    ]
    return torch.optim.AdamW(param_groups)


def make_schedule(optimizer: torch.optim.Optimizer, args: TrainConfig, total_steps: int):
    """Linear warmup to the base rate, then linear or cosine decay to zero (or constant)."""
    if args.schedule not in SCHEDULES:
        raise ValueError(f"train.schedule {args.schedule!r}: expected one of {SCHEDULES}")
    warmup = int(args.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if args.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        if args.schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
