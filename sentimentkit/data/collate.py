"""Encoded items -> padded arrays, as typed batches: the only place batches are made from data.

A batch is as long as its longest member ("dynamic padding"); length bucketing in the training loop keeps the
members of a batch of similar length. Models take one batch object and read the fields they need. Padding is
done in numpy (`padded_arrays`: what an ONNX graph takes, no torch needed); the torch batches wrap those arrays,
and torch is imported only when one is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from ..labels import IGNORE_INDEX
from .align import project_to_subwords
from .encoding import AspectItem, MultimodalItem, TextItem
from .tagging import TagItem

if TYPE_CHECKING:
    import torch


@dataclass(kw_only=True)
class TextBatch:
    """input_ids, attention_mask: (B, T) long; labels: (B,) target ids, or None for inference. label_groups: (B, G)
    long, the classes each target allows (padded with -1), where a batch mixes coarse labels in; else None."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None = None
    label_groups: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: str | torch.device) -> TextBatch:
        """The same batch with every tensor on `device`."""
        import torch

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


Item = TextItem | AspectItem | TagItem


def padded_arrays(items: Sequence[Item], pad_id: int = 0) -> dict[str, np.ndarray]:
    """The model inputs of a batch of items, padded to the longest member, as int64 / float32 numpy arrays.

    Every item kind gives input_ids and attention_mask (B, T); aspect items add aspect_mask (B, T),
    position_weights (B, T) and, where the items have them, adjacency (B, T, T) and token_type_ids (B, T).
    Targets are not included (see the pad_* functions). The adjacency isolates padding positions except for
    their self-loop, so that every row of a graph convolution has a neighbour.
    """
    n, length = len(items), max(len(x.input_ids) for x in items)
    ids = np.full((n, length), pad_id, dtype=np.int64)
    mask = np.zeros((n, length), dtype=np.int64)
    for i, x in enumerate(items):
        ids[i, : len(x.input_ids)] = x.input_ids
        mask[i, : len(x.input_ids)] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if not all(isinstance(x, AspectItem) for x in items):
        return out
    aspect_mask = np.zeros((n, length), dtype=np.int64)
    weights = np.zeros((n, length), dtype=np.float32)
    for i, x in enumerate(items):
        aspect_mask[i, : len(x.input_ids)] = x.aspect_mask
        weights[i, : len(x.input_ids)] = x.position_weights
    out.update(aspect_mask=aspect_mask, position_weights=weights)
    if _all_or_none(items, "word_edges"):
        adjacency = np.repeat(np.eye(length, dtype=np.float32)[None], n, axis=0)  # (B, T, T)
        for i, x in enumerate(items):
            adjacency[i, : len(x.input_ids), : len(x.input_ids)] = _subword_adjacency(x)
        out["adjacency"] = adjacency
    if _all_or_none(items, "token_type_ids"):
        token_types = np.zeros((n, length), dtype=np.int64)
        for i, x in enumerate(items):
            token_types[i, : len(x.input_ids)] = x.token_type_ids
        out["token_type_ids"] = token_types
    return out


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    import torch

    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def _targets(items: Sequence[TextItem | AspectItem]) -> torch.Tensor | None:
    """(B,) target ids, or None when no item has a target (inference)."""
    import torch

    labels = [x.label for x in items]
    if all(label == IGNORE_INDEX for label in labels):
        return None
    return torch.tensor(labels, dtype=torch.long)


def pad_batch(items: Sequence[TextItem], pad_id: int = 0) -> TextBatch:
    """Pad text items to the longest member; label groups where some item's label allows several classes."""
    labels = _targets(items)
    groups = None
    if labels is not None and any(len(x.allowed) > 1 for x in items):
        import torch

        width = max(len(x.allowed) for x in items)
        groups = torch.full((len(items), width), -1, dtype=torch.long)
        for i, x in enumerate(items):
            allowed = x.allowed or (x.label,)
            groups[i, : len(allowed)] = torch.tensor(allowed)
    return TextBatch(**_tensors(padded_arrays(items, pad_id)), labels=labels, label_groups=groups)


def pad_tag_batch(items: Sequence[TagItem], pad_id: int = 0) -> TagBatch:
    """Pad tagged items to the longest member; tag ids pad with IGNORE_INDEX."""
    import torch

    inputs = _tensors(padded_arrays(items, pad_id))
    tags = torch.full(inputs["input_ids"].shape, IGNORE_INDEX, dtype=torch.long)
    for i, x in enumerate(items):
        tags[i, : len(x.labels)] = torch.tensor(x.labels)
    has_tags = bool((tags != IGNORE_INDEX).any())
    return TagBatch(**inputs, labels=tags if has_tags else None)


def pad_aspect_batch(items: Sequence[AspectItem], pad_id: int = 0) -> AspectBatch:
    """Pad aspect items to the longest member (see `padded_arrays` for the fields and the padding's graph)."""
    return AspectBatch(**_tensors(padded_arrays(items, pad_id)), labels=_targets(items))


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


@dataclass(kw_only=True)
class MultimodalBatch:
    """A batch of clips. input_ids, attention_mask: (B, L) long; audio: (B, T_a, D_a), vision: (B, T_v, D_v) float;
    audio_mask, vision_mask: (B, T) bool, True on real frames (a modality missing from a clip has no True);
    labels: (B,) float targets, or None for inference. Sequences are padded at the end, to the batch's longest
    (at least one frame) or to fixed lengths (`pad_multimodal_batch(pad_to=...)`)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    audio: torch.Tensor
    audio_mask: torch.Tensor
    vision: torch.Tensor
    vision_mask: torch.Tensor
    labels: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: str | torch.device) -> MultimodalBatch:
        import torch

        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in moved.items()})

    def without_labels(self) -> MultimodalBatch:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{**moved, "labels": None})


def multimodal_arrays(
    items: Sequence[MultimodalItem], pad_to: tuple[int, int, int] | None = None, pad_id: int = 0
) -> dict[str, np.ndarray]:
    """The numpy inputs of a MultimodalBatch (no targets). pad_to = (L, T_a, T_v): fixed lengths, longer
    sequences cut at the end; None: the batch's longest of each."""
    n = len(items)
    lengths = [
        max(1, *(len(x.input_ids) for x in items)),
        max(1, *(x.audio.shape[0] for x in items)),
        max(1, *(x.vision.shape[0] for x in items)),
    ]
    if pad_to is not None:
        lengths = [int(v) for v in pad_to]
    out: dict[str, np.ndarray] = {}
    ids = np.full((n, lengths[0]), pad_id, dtype=np.int64)
    mask = np.zeros((n, lengths[0]), dtype=np.int64)
    for i, x in enumerate(items):
        k = min(len(x.input_ids), lengths[0])
        ids[i, :k] = x.input_ids[:k]
        mask[i, :k] = 1
    out["input_ids"], out["attention_mask"] = ids, mask
    for name, length in (("audio", lengths[1]), ("vision", lengths[2])):
        dim = getattr(items[0], name).shape[1]
        values = np.zeros((n, length, dim), dtype=np.float32)
        frames = np.zeros((n, length), dtype=bool)
        for i, x in enumerate(items):
            seq = getattr(x, name)
            k = min(seq.shape[0], length)
            values[i, :k] = seq[:k]
            frames[i, :k] = True
        out[name], out[f"{name}_mask"] = values, frames
    return out


def pad_multimodal_batch(
    items: Sequence[MultimodalItem], pad_to: tuple[int, int, int] | None = None
) -> MultimodalBatch:
    """Pad clips into one batch (see `multimodal_arrays`); labels are float targets when every item has one."""
    import torch

    arrays = _tensors(multimodal_arrays(items, pad_to))
    values = [x.label for x in items]
    labels = None if any(v is None for v in values) else torch.tensor(values, dtype=torch.float32)
    return MultimodalBatch(**arrays, labels=labels)
