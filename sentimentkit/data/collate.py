"""Encoded items -> padded tensors, as typed batches: the only place tensors are made from data.

A batch is as long as its longest member ("dynamic padding"); length bucketing in the training loop keeps the
members of a batch of similar length. Models take one batch object and read the fields they need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from ..labels import IGNORE_INDEX
from .align import project_to_subwords
from .encoding import AspectItem, TextItem
from .tagging import TagItem


@dataclass(kw_only=True)
class TextBatch:
    """input_ids, attention_mask: (B, T) long; labels: (B,) target ids, or None for inference."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: str | torch.device) -> TextBatch:
        """The same batch with every tensor on `device`."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        moved = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in moved.items()}
        return type(self)(**moved)

    def without_labels(self) -> TextBatch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{**moved, "labels": None})


@dataclass(kw_only=True)
class AspectBatch(TextBatch):
    """Aspect polarity inputs. aspect_mask: (B, T) long, 1 on the aspect; position_weights: (B, T) float;
    adjacency: (B, T, T) float when the items have parses; token_type_ids: (B, T) for sentence-pair inputs."""

    aspect_mask: torch.Tensor
    position_weights: torch.Tensor
    adjacency: torch.Tensor | None = None
    token_type_ids: torch.Tensor | None = None


@dataclass(kw_only=True)
class TagBatch(TextBatch):
    """Token tagging: labels are (B, T) tag ids, IGNORE_INDEX off the first subword of each word and on padding."""


def _ids_and_mask(items: Sequence[TextItem | AspectItem | TagItem], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(x.input_ids) for x in items)
    ids = torch.full((len(items), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), length), dtype=torch.long)
    for i, x in enumerate(items):
        ids[i, : len(x.input_ids)] = torch.tensor(x.input_ids)
        mask[i, : len(x.input_ids)] = 1
    return ids, mask


def _targets(items: Sequence[TextItem | AspectItem]) -> torch.Tensor | None:
    """(B,) target ids, or None when no item has a target (inference)."""
    labels = [x.label for x in items]
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return torch.tensor(labels, dtype=torch.long)


def pad_batch(items: Sequence[TextItem], pad_id: int = 0) -> TextBatch:
    """Pad text items to the longest member."""
    ids, mask = _ids_and_mask(items, pad_id)
    return TextBatch(input_ids=ids, attention_mask=mask, labels=_targets(items))


def pad_tag_batch(items: Sequence[TagItem], pad_id: int = 0) -> TagBatch:
    """Pad tagged items to the longest member; tag ids pad with IGNORE_INDEX."""
    ids, mask = _ids_and_mask(items, pad_id)
    tags = torch.full(ids.shape, IGNORE_INDEX, dtype=torch.long)
    for i, x in enumerate(items):
        tags[i, : len(x.labels)] = torch.tensor(x.labels)
    has_tags = bool((tags != IGNORE_INDEX).any())
    return TagBatch(input_ids=ids, attention_mask=mask, labels=tags if has_tags else None)


def pad_aspect_batch(items: Sequence[AspectItem], pad_id: int = 0) -> AspectBatch:
    """Pad aspect items to the longest member. The adjacency isolates padding positions except for their
    self-loop, so that every row of a graph convolution has a neighbour."""
    ids, mask = _ids_and_mask(items, pad_id)
    n, length = ids.shape
    aspect_mask = torch.zeros((n, length), dtype=torch.long)
    weights = torch.zeros((n, length), dtype=torch.float)
    for i, x in enumerate(items):
        aspect_mask[i, : len(x.input_ids)] = torch.tensor(x.aspect_mask)
        weights[i, : len(x.input_ids)] = torch.tensor(x.position_weights)
    token_types = None
    if _all_or_none(items, "token_type_ids"):
        token_types = torch.zeros((n, length), dtype=torch.long)
        for i, x in enumerate(items):
            token_types[i, : len(x.input_ids)] = torch.tensor(x.token_type_ids)
    adjacency = None
    if _all_or_none(items, "word_edges"):
        adjacency = torch.eye(length).repeat(n, 1, 1)  # (B, T, T)
        for i, x in enumerate(items):
            adjacency[i, : len(x.input_ids), : len(x.input_ids)] = torch.from_numpy(_subword_adjacency(x))
    return AspectBatch(
        input_ids=ids,
        attention_mask=mask,
        labels=_targets(items),
        aspect_mask=aspect_mask,
        position_weights=weights,
        adjacency=adjacency,
        token_type_ids=token_types,
    )


def _all_or_none(items: Sequence[AspectItem], name: str) -> bool:
    present = [getattr(x, name) is not None for x in items]
    if any(present) and not all(present):
        raise ValueError(f"{sum(present)} of {len(items)} items in a batch have {name}; encode them all alike")
    return all(present)


def _subword_adjacency(item: AspectItem) -> np.ndarray:
    """The item's word graph on its own positions: (T, T)."""
    word_adj = np.zeros((item.n_words, item.n_words), dtype=np.float32)
    for i, j in item.word_edges or ():
        word_adj[i, j] = 1.0
    groups: list[list[int]] = [[] for _ in range(item.n_words)]
    for position, word in enumerate(item.subword_words):
        if word >= 0:
            groups[word].append(position)
    return project_to_subwords(word_adj, groups, len(item.input_ids))
