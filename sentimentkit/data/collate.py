"""Texts -> token ids (once, with the same code for training and inference) -> padded tensors.

Encoding happens once per dataset; batches are only padded ("dynamic padding"), so a batch is as long
as its longest member, and length bucketing keeps members of a batch of similar length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

TRUNCATIONS = ("head", "head+tail")


def encode_texts(tokenizer, texts: Sequence[str], max_length: int, truncation: str = "head") -> list[list[int]]:
    """Token ids with special tokens, cut to `max_length`.

    "head" keeps the first tokens; "head+tail" keeps the first quarter and the last three quarters of the
    budget, which suits long reviews whose verdict often comes at the end (Sun et al. 2019).
    """
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation {truncation!r}: expected one of {TRUNCATIONS}")
    if max_length < 4:
        raise ValueError(f"max_length must be at least 4, got {max_length}")
    budget = max_length - 2  # room for [CLS] and [SEP]
    pieces = tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    out = []
    for ids in pieces:
        if len(ids) > budget:
            if truncation == "head":
                ids = ids[:budget]
            else:
                head = budget // 4
                ids = ids[:head] + ids[len(ids) - (budget - head) :]
        out.append([cls, *ids, sep])
    return out


@dataclass(frozen=True)
class Encoded:
    """One encoded example: token ids and, for training, a label id."""

    input_ids: list[int]
    label: int = -100


def pad_batch(items: Sequence[Encoded], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member: input_ids and attention_mask (B, T), labels (B,)."""
    length = max(len(x.input_ids) for x in items)
    ids = torch.full((len(items), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), length), dtype=torch.long)
    for i, x in enumerate(items):
        ids[i, : len(x.input_ids)] = torch.tensor(x.input_ids)
        mask[i, : len(x.input_ids)] = 1
    labels = torch.tensor([x.label for x in items], dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
