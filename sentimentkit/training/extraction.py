"""The aspect-extraction task for the one training recipe: words, BIO tags, subwords, and span F1.

A sentence is cut into words (runs of letters and digits, and single punctuation marks) with character offsets
into its own text. For training, words are also cut at every gold term boundary, so that each term is a whole
number of words ("freesecuritysoftware" with the term "securitysoftware" becomes "free" + "securitysoftware").
Evaluation and `extract_aspects` see the plain words only: the gold terms must not shape the input of the model
being scored, and a gold term that is not a whole number of plain words counts as a miss.

Each word is tagged on its first subword; predicted word tags decode into character spans, which are compared
with the gold spans by exact match (precision, recall and F1 over all terms of a split: `f1_ate`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import ExperimentConfig
from ..data.datasets import ASPECT_BIO, DATASETS, load_dataset
from ..encoders.text import load_tokenizer
from ..labels import LabelSet
from ..models.base import model_config
from ..models.extraction import IGNORE
from ..types import AspectSentence, AspectTerm

Span = tuple[int, int]  # character offsets [start, end)
_WORD = re.compile(r"\w+|[^\w\s]")


def word_spans(text: str, boundaries: Sequence[int] = ()) -> list[Span]:
    """Character spans of the words of `text`, each word also cut at every offset in `boundaries`."""
    cuts = sorted(set(boundaries))
    spans: list[Span] = []
    for match in _WORD.finditer(text):
        start, end = match.span()
        for cut in cuts:
            if start < cut < end:
                spans.append((start, cut))
                start = cut
        spans.append((start, end))
    return spans


def term_spans(sentence: AspectSentence) -> list[Span]:
    """The sentence's distinct term spans, sorted, without surrounding whitespace (one laptop term ends in \\xa0)."""
    spans = set()
    for term in sentence.terms:
        start, end = term.start, term.end
        while start < end and sentence.text[start].isspace():
            start += 1
        while end > start and sentence.text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.add((start, end))
    return sorted(spans)


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
                spans.append((current[0], current[1]))
            current = [a, b]
        elif tag == "I-ASP":
            current[1] = b
        elif current is not None:
            spans.append((current[0], current[1]))
            current = None
    if current is not None:
        spans.append((current[0], current[1]))
    return spans


def span_metrics(predicted: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> dict[str, float]:
    """Exact-match span precision, recall and F1 over all sentences (micro-averaged), with the counts."""
    correct = sum(len(set(p) & set(g)) for p, g in zip(predicted, gold, strict=True))
    n_predicted, n_gold = sum(len(set(p)) for p in predicted), sum(len(set(g)) for g in gold)
    precision = correct / n_predicted if n_predicted else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "f1_ate": f1,
        "precision_ate": precision,
        "recall_ate": recall,
        "correct": correct,
        "predicted": n_predicted,
        "gold": n_gold,
    }


# --- encoding -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaggedItem:
    """One encoded sentence. `labels` and `input_ids` are per subword position ([CLS] ... [SEP]).

    `word_starts[k]` is the position of word k's first subword (-1 when truncation dropped the word).
    """

    input_ids: list[int]
    labels: list[int]
    word_starts: tuple[int, ...]
    word_spans: tuple[Span, ...]
    gold: tuple[Span, ...] = ()


def encode_words(
    tokenizer,
    texts: Sequence[str],
    words: Sequence[Sequence[Span]],
    tags: Sequence[Sequence[str]] | None,
    labels: LabelSet,
    max_length: int,
    gold: Sequence[Sequence[Span]] | None = None,
) -> list[TaggedItem]:
    """Subword-encode worded sentences (a fast tokenizer, words given); tag ids go on each word's first subword."""
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"{type(tokenizer).__name__} is not a fast tokenizer; tagging needs word_ids()")
    pieces = [[text[a:b] for a, b in spans] or [""] for text, spans in zip(texts, words, strict=True)]
    encoding = tokenizer(pieces, is_split_into_words=True, truncation=True, max_length=max_length)
    items = []
    for i, spans in enumerate(words):
        word_ids = encoding.word_ids(i)
        starts = [-1] * len(spans)
        item_labels = [IGNORE] * len(word_ids)
        for position, k in enumerate(word_ids):
            if k is None or k >= len(spans) or starts[k] != -1:
                continue  # special token, the stand-in for an empty sentence, or a later subword
            starts[k] = position
            if tags is not None:
                item_labels[position] = labels.id(tags[i][k])
        items.append(
            TaggedItem(
                input_ids=list(encoding["input_ids"][i]),
                labels=item_labels,
                word_starts=tuple(starts),
                word_spans=tuple(spans),
                gold=tuple(gold[i]) if gold is not None else (),
            )
        )
    return items


def encode_training(tokenizer, sentences: Sequence[AspectSentence], labels: LabelSet, max_length: int):
    """Sentences -> items with BIO labels, the words cut at term boundaries."""
    golds = [term_spans(s) for s in sentences]
    words = [word_spans(s.text, [x for span in g for x in span]) for s, g in zip(sentences, golds, strict=True)]
    tags = [bio_tags(w, g) for w, g in zip(words, golds, strict=True)]
    return encode_words(tokenizer, [s.text for s in sentences], words, tags, labels, max_length, golds)


def encode_evaluation(tokenizer, sentences: Sequence[AspectSentence], labels: LabelSet, max_length: int):
    """Sentences -> items on plain words (what `extract_aspects` sees), with the gold spans to score against."""
    words = [word_spans(s.text) for s in sentences]
    golds = [term_spans(s) for s in sentences]
    return encode_words(tokenizer, [s.text for s in sentences], words, None, labels, max_length, golds)


def pad_tagged_batch(items: Sequence[TaggedItem], pad_id: int = 0) -> dict[str, torch.Tensor]:
    """Pad to the longest member: input_ids, attention_mask and labels (B, T); labels pad with -100."""
    length = max(len(x.input_ids) for x in items)
    ids = torch.full((len(items), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), length), dtype=torch.long)
    tags = torch.full((len(items), length), IGNORE, dtype=torch.long)
    for i, x in enumerate(items):
        ids[i, : len(x.input_ids)] = torch.tensor(x.input_ids)
        mask[i, : len(x.input_ids)] = 1
        tags[i, : len(x.labels)] = torch.tensor(x.labels)
    return {"input_ids": ids, "attention_mask": mask, "labels": tags}


# --- prediction and evaluation --------------------------------------------------------------------


@torch.inference_mode()
def predict_spans(
    model: nn.Module, items: Sequence[TaggedItem], labels: LabelSet, batch_size: int = 64
) -> list[list[Span]]:
    """Predicted term spans per item: the argmax tag of each word's first subword, decoded (truncated words: O)."""
    was_training = model.training
    model.eval()
    order = sorted(range(len(items)), key=lambda i: len(items[i].input_ids))
    out: list[list[Span]] = [[] for _ in items]
    for begin in range(0, len(order), batch_size):
        idx = order[begin : begin + batch_size]
        batch = pad_tagged_batch([items[i] for i in idx])
        batch.pop("labels")
        best = model(**batch)["logits"].argmax(-1).tolist()  # (B, T)
        for row, i in enumerate(idx):
            item = items[i]
            tags = [labels.name(best[row][p]) if p >= 0 else "O" for p in item.word_starts]
            out[i] = decode_spans(item.word_spans, tags)
    model.train(was_training)
    return out


def evaluate_items(model: nn.Module, items: Sequence[TaggedItem], labels: LabelSet, batch_size: int = 64) -> dict:
    """Span metrics of the model's predictions against each item's gold spans."""
    return span_metrics(predict_spans(model, items, labels, batch_size), [x.gold for x in items])


def extract_aspects(
    model: nn.Module, tokenizer, texts: Sequence[str], max_length: int = 128, labels: LabelSet = ASPECT_BIO
) -> list[list[AspectTerm]]:
    """Aspect terms of each text, with character spans into that text (no polarity)."""
    words = [word_spans(text) for text in texts]
    items = encode_words(tokenizer, texts, words, None, labels, max_length)
    spans = predict_spans(model, items, labels)
    return [
        [AspectTerm(term=text[a:b], start=a, end=b) for a, b in found] for text, found in zip(texts, spans, strict=True)
    ]


# --- the recipe -----------------------------------------------------------------------------------


def _sentences(name: str, split: str, data_dir: str | None) -> list[Any]:
    spec = DATASETS.get(name)
    if spec.task != "aspect-extraction":
        raise ValueError(f"dataset {name!r} ({spec.task}) is not an aspect-extraction dataset")
    return load_dataset(name, split, data_dir)


def prepare_extraction(config: ExperimentConfig):
    """Extraction datasets -> tagged items; selection by span F1 on the dataset's validation split."""
    from .experiment import Prepared

    data = config.data
    model_cfg = model_config(config.model)
    train = _sentences(data.train, "train", data.data_dir)
    validation = _sentences(data.validation or data.train, "validation", data.data_dir)
    if data.train_subset is not None:
        train = random.Random(config.train.seed).sample(train, min(data.train_subset, len(train)))
    labels = DATASETS.get(data.train).labels
    tokenizer = load_tokenizer(model_cfg.backbone)

    def evaluate(model: nn.Module, items: Sequence[TaggedItem]) -> dict:
        return evaluate_items(model, items, labels, config.train.eval_batch_size)

    return Prepared(
        encode_training(tokenizer, train, labels, data.max_length),
        encode_evaluation(tokenizer, validation, labels, data.max_length),
        labels,
        dict(config.model),
        {"task": "aspect-extraction", "max_length": data.max_length},
        collate=pad_tagged_batch,
        evaluate=evaluate,
    )


def evaluate_extraction_model(
    model_dir: str | Path, dataset: str, split: str = "test", data_dir: str | None = None
) -> dict:
    """Span metrics of a saved `ate` model on a named extraction dataset split."""
    from ..models import load_checkpoint

    model, meta = load_checkpoint(model_dir)
    labels = LabelSet(tuple(meta["labels"]))
    sentences = _sentences(dataset, split, data_dir)
    tokenizer = load_tokenizer(meta["model"]["backbone"])
    return evaluate_items(model, encode_evaluation(tokenizer, sentences, labels, meta["max_length"]), labels)
