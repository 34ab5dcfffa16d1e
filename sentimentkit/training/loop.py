"""The one training loop (`train_steps`, a generator of optimizer steps) and its pieces: batch order,
optimizer, schedule. `Trainer` drives it and adds evaluation, early stopping, checkpoints and resume."""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import TrainConfig
from ..models.base import default_head

SCHEDULES = ("linear", "cosine", "constant")


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX; Arm's BF16 extension), as torch's fast
    kernels need.

    Without it, autocast to bfloat16 falls back to reference kernels: measured here on an AVX2-only CPU, an IAGCN
    training step took several times longer under bf16 than in float32, at the same losses where compared.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:  # not Linux: ask torch what it dispatches to instead
        return torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16", "bf16"))  # "bf16": Arm's feature name


def warn_if_slow_bf16(bf16: bool) -> None:
    """A RuntimeWarning when bf16 autocast is asked for on a CPU without native bfloat16 (it is run as asked)."""
    if bf16 and not native_bf16():
        warnings.warn(
            "train.bf16 is true but this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16): autocast runs "
            "reference kernels, several times slower than float32; set train.bf16=false on this machine",
            RuntimeWarning,
            stacklevel=3,
        )


def batch_order(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, bucket: bool) -> list[list[int]]:
    """The batches of one epoch, a pure function of (seed, epoch): resuming recomputes the same order.

    With bucketing, windows of 50 batches are sorted by length before cutting, so each batch pads little,
    and the batches are then shuffled so that lengths do not drift through the epoch.
    """
    # one generator per (seed, epoch); the prime keeps (seed, epoch) pairs from colliding for any epoch < 100003
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


def make_optimizer(
    model: nn.Module, args: TrainConfig, head: Iterable[nn.Parameter] | None = None
) -> torch.optim.Optimizer:
    """AdamW over trainable parameters; the head (`ModelSpec.head`; default: the model's `head` submodule) may get
    its own rate; no decay on biases and norms."""
    head_ids = {id(p) for p in (default_head(model) if head is None else head)}
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for _, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = id(param) in head_ids
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


def make_schedule(
    optimizer: torch.optim.Optimizer, args: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
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


def train_steps(
    model: nn.Module,
    task: Any,
    items: Sequence[Any],
    args: TrainConfig,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LambdaLR,
    start_step: int,
    total_steps: int,
) -> Iterator[tuple[int, float]]:
    """Optimizer steps from `start_step` to `total_steps`, yielding (step, loss) after each.

    The batches of an epoch are a pure function of (seed, epoch), so a run resumed at any step continues with the
    batches the uninterrupted run would have seen. The caller may evaluate between steps (and must leave the model
    in train mode again), or stop by closing the generator.
    """
    lengths = [task.length(x) for x in items]
    steps_per_epoch = math.ceil(len(items) / args.batch_size)
    warn_if_slow_bf16(args.bf16)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else contextlib.nullcontext()
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.train()
    step = start_step
    while step < total_steps:
        epoch, offset = divmod(step, steps_per_epoch)
        for idx in batch_order(lengths, args.batch_size, args.seed, epoch, args.bucket)[offset:]:
            batch = task.collate([items[i] for i in idx])
            with autocast:
                loss = model(batch).loss
            if loss is None:
                raise ValueError("the model returned no loss: the training batch carries no targets")
            loss.backward()
            if args.grad_clip:
                nn.utils.clip_grad_norm_(trainable, args.grad_clip)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            yield step, loss.item()
            if step >= total_steps:
                return
