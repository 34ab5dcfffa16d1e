"""Aspect examples -> subword ids with an aspect mask, position weights and a word graph -> padded tensors.

The one encoding path for training and inference of every aspect-polarity model. An item keeps its graph
compact (the word-level arcs and the word of each subword); `pad_aspect_batch` builds the dense subword
adjacency per batch. Over-long sentences keep a window around the aspect: the aspect is never cut out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..labels import LabelSet
from ..types import AspectExample, DepParse
from .align import AlignmentError, WordAlignment, adjacency, align_words, project_to_subwords


@dataclass(frozen=True)
class AspectEncoded:
    """One encoded (sentence, aspect) pair; every per-position field has one entry per token of `input_ids`.

    aspect_mask: 1 on the subwords of every occurrence of the aspect in the sentence.
    position_weights: ASGCN's weight, 0 on the aspect and 1 - d / n on a context subword whose word lies d words
        from the nearest aspect word (n: the number of context words); 0 on special tokens.
    subword_words: the word of each position, -1 on special tokens and on the appended aspect of a pair input.
    word_edges: the nonzero (i, j) of the word adjacency (None without a parse); n_words: the number of words.
    token_type_ids: 0 on "[CLS] sentence [SEP]", 1 on "aspect [SEP]" for pair inputs whose encoder uses them.
    """

    input_ids: tuple[int, ...]
    aspect_mask: tuple[int, ...]
    position_weights: tuple[float, ...]
    subword_words: tuple[int, ...]
    n_words: int
    word_edges: tuple[tuple[int, int], ...] | None = None
    token_type_ids: tuple[int, ...] | None = None
    label: int = -100


def encode_aspect_examples(
    tokenizer,
    examples: Sequence[AspectExample],
    parses: Sequence[DepParse | None] | None,
    labels: LabelSet,
    max_length: int,
    *,
    pair: bool = False,
    directed: bool = False,
    self_loops: bool = True,
) -> list[AspectEncoded]:
    """Encode aspect examples for a fast HF tokenizer.

    parses: one per example (None: each example's own `parse`, if any). With a parse, the words are the parse's
    words and must spell the example's text (else AlignmentError naming the example); without one, the words are
    the text's whitespace tokens and the item has no graph. pair: the input is "[CLS] sentence [SEP] aspect [SEP]"
    (the `spc` baseline). directed / self_loops: how the parse becomes a graph (see `align.adjacency`); a model
    checkpoint must record them with max_length so that inference encodes the same way.
    Longer sentences keep the `max_length` window centred on the aspect; when the occurrences of the aspect lie
    too far apart to share one window, ValueError names the example and the length that would fit.
    """
    if parses is not None and len(parses) != len(examples):
        raise ValueError(f"{len(parses)} parses for {len(examples)} examples; pass one per example (or None)")
    if max_length < 4:
        raise ValueError(f"max_length must be at least 4, got {max_length}")
    out = []
    for k, example in enumerate(examples):
        parse = parses[k] if parses is not None else example.parse
        where = example.source or (f"example {example.id}" if example.id is not None else f"example {k}")
        out.append(_encode_one(tokenizer, example, parse, labels, max_length, pair, directed, self_loops, where))
    return out


def _encode_one(
    tokenizer,
    example: AspectExample,
    parse: DepParse | None,
    labels: LabelSet,
    max_length: int,
    pair: bool,
    directed: bool,
    self_loops: bool,
    where: str,
) -> AspectEncoded:
    if not example.spans:
        raise ValueError(f"{where}: aspect {example.aspect!r} has no span in the text")
    try:
        alignment = align_words(tokenizer, example.text, parse.words if parse is not None else None)
    except AlignmentError as err:
        raise AlignmentError(f"{where}: {err}") from None
    aspect_subwords = sorted({i for a, b in example.spans for i in alignment.subword_indices(a, b)})
    if not aspect_subwords:
        raise ValueError(f"{where}: aspect {example.aspect!r} at {list(example.spans)} covers no subword")
    weights = _position_weights(alignment, example.spans, set(aspect_subwords))

    aspect_ids = list(tokenizer(example.aspect, add_special_tokens=False)["input_ids"]) if pair else []
    budget = max_length - 2 - (len(aspect_ids) + 1 if pair else 0)  # room left for the sentence's subwords
    lo, hi = _window(len(alignment.subword_ids), aspect_subwords, budget, max_length, where)

    # "[CLS] sentence [SEP]" then, for pair inputs, "aspect [SEP]" (the `tail`, outside the sentence's graph)
    keep = range(lo, hi)
    tail = (*aspect_ids, tokenizer.sep_token_id) if pair else ()
    aspect_set = set(aspect_subwords)
    sentence_aspect = (0, *(int(i in aspect_set) for i in keep), 0)
    token_types = None
    if pair and "token_type_ids" in tokenizer.model_input_names:
        token_types = (0,) * len(sentence_aspect) + (1,) * len(tail)
    edges = None
    if parse is not None:
        rows, cols = np.nonzero(adjacency(parse, directed=directed, self_loops=self_loops))
        edges = tuple(zip(rows.tolist(), cols.tolist(), strict=True))
    label = -100
    if example.polarity is not None:
        try:
            label = labels.id(example.polarity)
        except KeyError as err:
            raise KeyError(f"{where}: {err.args[0]}") from None
    return AspectEncoded(
        input_ids=(tokenizer.cls_token_id, *(alignment.subword_ids[i] for i in keep), tokenizer.sep_token_id, *tail),
        aspect_mask=sentence_aspect + (0,) * len(tail),
        position_weights=(0.0, *(weights[i] for i in keep), 0.0, *(0.0,) * len(tail)),
        subword_words=(-1, *(alignment.subword_words[i] for i in keep), -1, *(-1,) * len(tail)),
        n_words=len(alignment.words),
        word_edges=edges,
        token_type_ids=token_types,
        label=label,
    )


def _position_weights(
    alignment: WordAlignment, spans: Sequence[tuple[int, int]], aspect_subwords: set[int]
) -> list[float]:
    """ASGCN's position weight of each subword, from word distances to the nearest aspect word."""
    aspect_words = sorted({w for a, b in spans for w in alignment.word_indices(a, b)})
    n_context = max(1, len(alignment.words) - len(aspect_words))
    word_weights = [1.0 - min(abs(w - a) for a in aspect_words) / n_context for w in range(len(alignment.words))]
    return [0.0 if i in aspect_subwords else word_weights[w] for i, w in enumerate(alignment.subword_words)]


def _window(n: int, aspect: list[int], budget: int, max_length: int, where: str) -> tuple[int, int]:
    """The [lo, hi) range of subwords to keep: all of them, or `budget` of them centred on the aspect."""
    if n <= budget:
        return 0, n
    first, last = aspect[0], aspect[-1]
    needed = last - first + 1
    if needed > budget:
        raise ValueError(
            f"{where}: the aspect's occurrences span {needed} subwords but max_length={max_length} leaves room "
            f"for {budget}; raise max_length to at least {max_length + needed - budget}"
        )
    lo = max(0, min(first - (budget - needed) // 2, n - budget))
    return lo, lo + budget


def pad_aspect_batch(items: Sequence[AspectEncoded], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member.

    Returns input_ids, attention_mask, aspect_mask (B, T) long; position_weights (B, T) float; labels (B,);
    token_type_ids (B, T) when the items have them; adjacency (B, T, T) float when the items have parses,
    with padding positions isolated except for their self-loop.
    """
    length = max(len(x.input_ids) for x in items)
    batch = {
        "input_ids": torch.full((len(items), length), pad_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(items), length), dtype=torch.long),
        "aspect_mask": torch.zeros((len(items), length), dtype=torch.long),
        "position_weights": torch.zeros((len(items), length), dtype=torch.float),
    }
    for i, x in enumerate(items):
        n = len(x.input_ids)
        batch["input_ids"][i, :n] = torch.tensor(x.input_ids)
        batch["attention_mask"][i, :n] = 1
        batch["aspect_mask"][i, :n] = torch.tensor(x.aspect_mask)
        batch["position_weights"][i, :n] = torch.tensor(x.position_weights)
    with_types = _all_or_none(items, "token_type_ids")
    if with_types:
        batch["token_type_ids"] = torch.zeros((len(items), length), dtype=torch.long)
        for i, x in enumerate(items):
            batch["token_type_ids"][i, : len(x.input_ids)] = torch.tensor(x.token_type_ids)
    if _all_or_none(items, "word_edges"):
        batch["adjacency"] = torch.eye(length).repeat(len(items), 1, 1)  # (B, T, T)
        for i, x in enumerate(items):
            batch["adjacency"][i, : len(x.input_ids), : len(x.input_ids)] = torch.from_numpy(_subword_adjacency(x))
    batch["labels"] = torch.tensor([x.label for x in items], dtype=torch.long)
    return batch


def _all_or_none(items: Sequence[AspectEncoded], name: str) -> bool:
    present = [getattr(x, name) is not None for x in items]
    if any(present) and not all(present):
        raise ValueError(f"{sum(present)} of {len(items)} items in a batch have {name}; encode them all alike")
    return all(present)


def _subword_adjacency(item: AspectEncoded) -> np.ndarray:
    """The item's word graph on its own positions: (T, T)."""
    word_adj = np.zeros((item.n_words, item.n_words), dtype=np.float32)
    for i, j in item.word_edges or ():
        word_adj[i, j] = 1.0
    groups: list[list[int]] = [[] for _ in range(item.n_words)]
    for position, word in enumerate(item.subword_words):
        if word >= 0:
            groups[word].append(position)
    return project_to_subwords(word_adj, groups, len(item.input_ids))
