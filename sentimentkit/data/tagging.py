"""Aspect term extraction as BIO tagging: word tags <-> term spans, and sentences -> subword items.

A sentence is cut into words (`align.word_spans`: runs of letters and digits, and single punctuation marks) with
character offsets into its own text. For training, words are also cut at every gold term boundary, so that each
term is a whole number of words ("freesecuritysoftware" with the term "securitysoftware" becomes "free" +
"securitysoftware"). Evaluation and inference see the plain words only: the gold terms must not shape the input
of the model being scored, and a gold term that is not a whole number of plain words counts as a miss.
Each word is tagged on its first subword; the other subwords and the special tokens carry IGNORE_INDEX.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..labels import IGNORE_INDEX, LabelSet
from ..types import AspectSentence, Span
from .align import term_spans, word_spans
from .encoding import Tokenizer
from .preprocess import rewrite


def bio_tags(words: Sequence[Span], spans: Sequence[Span]) -> list[str]:
    """Word tags for term spans: B-ASP on a term's first word, I-ASP on the rest, O elsewhere.

    Every span must cover whole words (cut the words at the span boundaries) and spans must not overlap.
    """
    tags = ["O"] * len(words)
    for start, end in spans:
        inside = [k for k, (a, b) in enumerate(words) if start <= a and b <= end]
        partial = [k for k, (a, b) in enumerate(words) if a < end and start < b and k not in inside]
        if not inside or partial:
            raise ValueError(
                f"term span [{start}, {end}) does not cover whole words {words}; cut the words at term boundaries"
            )
        if any(tags[k] != "O" for k in inside):
            raise ValueError(f"term span [{start}, {end}) overlaps another term; BIO tags cannot hold both")
        tags[inside[0]] = "B-ASP"
        for k in inside[1:]:
            tags[k] = "I-ASP"
    return tags


def decode_spans(words: Sequence[Span], tags: Sequence[str]) -> list[Span]:
    """Character spans of the terms in a word tag sequence. An I-ASP after O starts a term (as B-ASP would)."""
    spans: list[Span] = []
    current: list[int] | None = None
    for (a, b), tag in zip(words, tags, strict=True):
        if tag == "B-ASP" or (tag == "I-ASP" and current is None):
            if current is not None:
                spans.append(Span(current[0], current[1]))
            current = [a, b]
        elif tag == "I-ASP":
            current[1] = b
        elif current is not None:
            spans.append(Span(current[0], current[1]))
            current = None
    if current is not None:
        spans.append(Span(current[0], current[1]))
    return spans


@dataclass(frozen=True)
class TagItem:
    """One encoded sentence. `labels` and `input_ids` are per subword position ([CLS] ... [SEP]).

    `word_starts[k]` is the position of word k's first subword (-1 when truncation dropped the word).
    """

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    word_starts: tuple[int, ...]
    word_spans: tuple[Span, ...]
    gold: tuple[Span, ...] = ()


def encode_words(
    tokenizer: Tokenizer,
    texts: Sequence[str],
    words: Sequence[Sequence[Span]],
    tags: Sequence[Sequence[str]] | None,
    labels: LabelSet,
    max_length: int,
    gold: Sequence[Sequence[Span]] | None = None,
    emoji: str = "keep",
) -> list[TagItem]:
    """Subword-encode worded sentences (a fast tokenizer, words given); tag ids go on each word's first subword.

    emoji: "words" gives the tokenizer each emoji word as its name (`data/preprocess.py`); the word spans, and
    so every decoded span, stay in the caller's text.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"{type(tokenizer).__name__} is not a fast tokenizer; tagging needs word_ids()")
    pieces = [
        [rewrite(text[a:b], emoji).text for a, b in spans] or [""] for text, spans in zip(texts, words, strict=True)
    ]
    encoding = tokenizer(pieces, is_split_into_words=True, truncation=True, max_length=max_length)
    items = []
    for i, spans in enumerate(words):
        word_ids = encoding.word_ids(i)
        starts = [-1] * len(spans)
        item_labels = [IGNORE_INDEX] * len(word_ids)
        for position, k in enumerate(word_ids):
            if k is None or k >= len(spans) or starts[k] != -1:
                continue  # special token, the stand-in for an empty sentence, or a later subword
            starts[k] = position
            if tags is not None:
                item_labels[position] = labels.id(tags[i][k])
        items.append(
            TagItem(
                input_ids=tuple(encoding["input_ids"][i]),
                labels=tuple(item_labels),
                word_starts=tuple(starts),
                word_spans=tuple(spans),
                gold=tuple(gold[i]) if gold is not None else (),
            )
        )
    return items


def encode_training(
    tokenizer: Tokenizer, sentences: Sequence[AspectSentence], labels: LabelSet, max_length: int, emoji: str = "keep"
) -> list[TagItem]:
    """Sentences -> items with BIO labels, the words cut at term boundaries."""
    golds = [term_spans(s) for s in sentences]
    words = [word_spans(s.text, [x for span in g for x in span]) for s, g in zip(sentences, golds, strict=True)]
    tags = [bio_tags(w, g) for w, g in zip(words, golds, strict=True)]
    return encode_words(tokenizer, [s.text for s in sentences], words, tags, labels, max_length, golds, emoji)


def encode_evaluation(
    tokenizer: Tokenizer, sentences: Sequence[AspectSentence], labels: LabelSet, max_length: int, emoji: str = "keep"
) -> list[TagItem]:
    """Sentences -> items on plain words (what `extract_aspects` sees), with the gold spans to score against."""
    words = [word_spans(s.text) for s in sentences]
    golds = [term_spans(s) for s in sentences]
    return encode_words(tokenizer, [s.text for s in sentences], words, None, labels, max_length, golds, emoji)
