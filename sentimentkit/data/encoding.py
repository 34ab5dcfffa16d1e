"""Examples -> token-id items: the one encoding path for training and inference of every text task.

Encoding happens once per dataset; collate (`data/collate.py`) only pads. Text items are the document
classifiers' (ids cut to `max_length`, "head" or "head+tail"); aspect items add an aspect mask, ASGCN's
position weights and a compact word graph (the word-level arcs and the word of each subword), and over-long
sentences keep a window around the aspect, so the aspect is never cut out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..labels import IGNORE_INDEX
from ..types import AspectExample, DepParse
from .align import AlignmentError, WordAlignment, adjacency, align_words
from .preprocess import rewrite

TRUNCATIONS = ("head", "head+tail")


@runtime_checkable
class Tokenizer(Protocol):
    """What this project asks of a tokenizer: a Hugging Face fast tokenizer, `encoders.bert.FastTokenizer`, or a
    `WordVocab` (the first call form only). Called on a string or a batch of strings (or of word lists with
    `is_split_into_words`), it returns a mapping with "input_ids" (and "offset_mapping" on request)."""

    cls_token_id: int
    sep_token_id: int

    def __call__(self, texts: Any, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class TextItem:
    """One encoded text: token ids with special tokens, its target id, and whether the text was cut to fit.

    A text of a training mixture (`tasks/document.py`) also says which source it came from and, where that source's
    label is coarser than the model's (a polarity for a 5-point model), the model classes that make up its label
    (`allowed`; `label` is then the first of them): it trains on their summed probability.
    """

    input_ids: tuple[int, ...]
    label: int = IGNORE_INDEX
    truncated: bool = False
    source: int = 0
    allowed: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class MultimodalItem:
    """One encoded clip: the transcript's token ids (with special tokens), its audio (T_a, D_a) and vision
    (T_v, D_v) frames (real frames only), the float target (None for inference) and whether the text was cut."""

    input_ids: tuple[int, ...]
    audio: np.ndarray
    vision: np.ndarray
    label: float | None = None
    truncated: bool = False


def encode_texts(
    tokenizer: Tokenizer, texts: Sequence[str], max_length: int, truncation: str = "head", emoji: str = "keep"
) -> list[TextItem]:
    """Token ids with special tokens, cut to `max_length` (no targets: the task sets them).

    "head" keeps the first tokens; "head+tail" keeps the first quarter and the last three quarters of the
    budget, which suits long reviews whose verdict often comes at the end (Sun et al. 2019). emoji: "words"
    rewrites each emoji as its name first (`data/preprocess.py`); the text tasks pass their model's setting.
    """
    if truncation not in TRUNCATIONS:
        raise ValueError(f"truncation {truncation!r}: expected one of {TRUNCATIONS}")
    if max_length < 4:
        raise ValueError(f"max_length must be at least 4, got {max_length}")
    if emoji != "keep":
        texts = [rewrite(t, emoji).text for t in texts]
    budget = max_length - 2  # room for [CLS] and [SEP]
    pieces = tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"] if texts else []
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    out = []
    for ids in pieces:
        cut = len(ids) > budget
        if cut:
            if truncation == "head":
                ids = ids[:budget]
            else:
                head = budget // 4
                ids = ids[:head] + ids[len(ids) - (budget - head) :]
        out.append(TextItem((cls, *ids, sep), truncated=cut))
    return out


@dataclass(frozen=True)
class AspectItem:
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
    label: int = IGNORE_INDEX


def encode_aspect_examples(
    tokenizer: Tokenizer,
    examples: Sequence[AspectExample],
    parses: Sequence[DepParse | None] | None,
    label_ids: Sequence[int] | None,
    max_length: int,
    *,
    pair: bool = False,
    directed: bool = False,
    self_loops: bool = True,
) -> list[AspectItem]:
    """Encode aspect examples for a fast HF tokenizer.

    label_ids: one target id per example (the task maps labels to ids), or None for unlabelled examples.
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
    if label_ids is not None and len(label_ids) != len(examples):
        raise ValueError(f"{len(label_ids)} label ids for {len(examples)} examples")
    if max_length < 4:
        raise ValueError(f"max_length must be at least 4, got {max_length}")
    settings = _AspectSettings(max_length, pair, directed, self_loops)
    out = []
    for k, example in enumerate(examples):
        parse = parses[k] if parses is not None else example.parse
        where = example.source or (f"example {example.id}" if example.id is not None else f"example {k}")
        label = IGNORE_INDEX if label_ids is None else label_ids[k]
        out.append(replace(_encode_one(tokenizer, example, parse, settings, where), label=label))
    return out


@dataclass(frozen=True)
class _AspectSettings:
    max_length: int
    pair: bool
    directed: bool
    self_loops: bool


def _encode_one(
    tokenizer: Tokenizer, example: AspectExample, parse: DepParse | None, settings: _AspectSettings, where: str
) -> AspectItem:
    max_length, pair = settings.max_length, settings.pair
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
        rows, cols = np.nonzero(adjacency(parse, directed=settings.directed, self_loops=settings.self_loops))
        edges = tuple(zip(rows.tolist(), cols.tolist(), strict=True))
    return AspectItem(
        input_ids=(tokenizer.cls_token_id, *(alignment.subword_ids[i] for i in keep), tokenizer.sep_token_id, *tail),
        aspect_mask=sentence_aspect + (0,) * len(tail),
        position_weights=(0.0, *(weights[i] for i in keep), 0.0, *(0.0,) * len(tail)),
        subword_words=(-1, *(alignment.subword_words[i] for i in keep), -1, *(-1,) * len(tail)),
        n_words=len(alignment.words),
        word_edges=edges,
        token_type_ids=token_types,
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
