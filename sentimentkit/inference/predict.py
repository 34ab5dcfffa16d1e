"""Batched forward passes over encoded examples, shared by evaluation and the pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..data.collate import Encoded, pad_batch


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    items: Sequence[Encoded],
    batch_size: int = 64,
    on_batch: Callable[[int], None] | None = None,
    collate: Callable[[list], dict] = pad_batch,
) -> np.ndarray:
    """Logits (N, C) in the order of `items`. Batches are formed over length-sorted items (less padding)."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(items)), key=lambda i: len(items[i].input_ids))
    chunks: list[np.ndarray] = []
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = collate([items[i] for i in idx])
        batch.pop("labels", None)
        chunks.append(model(**batch)["logits"].float().numpy())
        if on_batch is not None:
            on_batch(len(idx))
    model.train(was_training)
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    logits = np.concatenate(chunks)
    result = np.empty_like(logits)
    result[order] = logits
    return result


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) logits."""
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)
