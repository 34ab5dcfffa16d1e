"""Aspect term extraction: words and BIO tags on hand-written sentences, span decoding and span F1, the
`sentimentkit train` / `evaluate` round trip on a toy dataset, and the SemEval-2014 restaurant data."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.data.align import term_spans, word_spans
from sentimentkit.data.datasets import ASPECT_BIO, DATASETS, DatasetSpec, load_dataset
from sentimentkit.data.tagging import bio_tags, decode_spans, encode_training
from sentimentkit.encoders.text import load_tokenizer
from sentimentkit.metrics import span_metrics
from sentimentkit.types import AspectSentence, AspectTerm


def sentence(text: str, *terms: str) -> AspectSentence:
    """A sentence with the first occurrence of each term marked."""
    marked = []
    for term in terms:
        start = text.index(term)
        marked.append(AspectTerm(term, start, start + len(term)))
    return AspectSentence(text, tuple(marked))


def words_and_tags(example: AspectSentence) -> list[tuple[str, str]]:
    spans = term_spans(example)
    words = word_spans(example.text, [x for span in spans for x in span])
    return [(example.text[a:b], tag) for (a, b), tag in zip(words, bio_tags(words, spans), strict=True)]


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (  # a multi-word term
            sentence("The battery life is great", "battery life"),
            [("The", "O"), ("battery", "B-ASP"), ("life", "I-ASP"), ("is", "O"), ("great", "O")],
        ),
        (  # a term at the very end
            sentence("I loved the fish", "fish"),
            [("I", "O"), ("loved", "O"), ("the", "O"), ("fish", "B-ASP")],
        ),
        (  # punctuation next to the terms, and two terms
            sentence("Great food, awful service!", "food", "service"),
            [("Great", "O"), ("food", "B-ASP"), (",", "O"), ("awful", "O"), ("service", "B-ASP"), ("!", "O")],
        ),
        (  # punctuation inside a term
            sentence("the Wi-Fi drops", "Wi-Fi"),
            [("the", "O"), ("Wi", "B-ASP"), ("-", "I-ASP"), ("Fi", "I-ASP"), ("drops", "O")],
        ),
        (  # a term inside a word (SemEval laptops: "freesecuritysoftware"): the word is cut at its boundary
            sentence("get freesecuritysoftware now", "securitysoftware"),
            [("get", "O"), ("free", "O"), ("securitysoftware", "B-ASP"), ("now", "O")],
        ),
        (  # the term's end inside a word ("dress cod" of "dress code")
            sentence("the dress code is relaxed", "dress cod"),
            [("the", "O"), ("dress", "B-ASP"), ("cod", "I-ASP"), ("e", "O"), ("is", "O"), ("relaxed", "O")],
        ),
        (sentence("Nothing to see here."), [("Nothing", "O"), ("to", "O"), ("see", "O"), ("here", "O"), (".", "O")]),
    ],
)
def test_bio_tags_on_hand_written_sentences(example, expected):
    assert words_and_tags(example) == expected
    spans = term_spans(example)
    words = word_spans(example.text, [x for span in spans for x in span])
    assert decode_spans(words, bio_tags(words, spans)) == spans  # gold tags decode back to the gold spans


def test_term_spans_drop_surrounding_whitespace_and_duplicates():
    text = "uninstall\xa0 it"
    example = AspectSentence(text, (AspectTerm("uninstall\xa0", 0, 10), AspectTerm("uninstall", 0, 9)))
    assert term_spans(example) == [(0, 9)]


def test_a_term_that_is_not_a_whole_word_needs_cut_words():
    text = "get freesecuritysoftware now"
    with pytest.raises(ValueError, match="does not cover whole words"):
        bio_tags(word_spans(text), [(8, 24)])


def test_decode_spans():
    words = [(0, 3), (4, 8), (9, 12), (13, 17), (18, 20)]
    assert decode_spans(words, ["B-ASP", "I-ASP", "O", "B-ASP", "B-ASP"]) == [(0, 8), (13, 17), (18, 20)]
    assert decode_spans(words, ["O", "I-ASP", "I-ASP", "O", "I-ASP"]) == [(4, 12), (18, 20)]  # I after O starts
    assert decode_spans(words, ["O"] * 5) == []


def test_span_metrics_by_hand():
    gold = [[(0, 4), (10, 15)], [(3, 8)], []]
    predicted = [[(0, 4), (10, 14)], [(3, 8), (20, 25)], []]
    metrics = span_metrics(predicted, gold)
    # 2 correct of 4 predicted and 3 gold: P = 1/2, R = 2/3, F1 = 2PR / (P + R) = 4/7
    assert (metrics["correct"], metrics["predicted"], metrics["gold"]) == (2, 4, 3)
    assert metrics["precision_ate"] == 0.5
    assert metrics["recall_ate"] == pytest.approx(2 / 3)
    assert metrics["f1_ate"] == pytest.approx(4 / 7)
    assert span_metrics([[]], [[(0, 1)]])["f1_ate"] == 0.0


def toy_sentences() -> list[AspectSentence]:
    rows = [
        sentence("The pizza was great.", "pizza"),
        sentence("Slow service, but good coffee", "service", "coffee"),
        sentence("The battery life is short", "battery life"),
        sentence("Nothing more to say."),
    ]
    return rows * 3


def test_train_and_evaluate_ate_through_the_cli(tiny_backbone, tmp_path, monkeypatch):
    examples = toy_sentences()
    spec = DatasetSpec("toy-ate", "aspect-extraction", ASPECT_BIO, lambda split, root: examples, False, "toy")
    monkeypatch.setitem(DATASETS._items, "toy-ate", spec)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"model: {{type: ate, backbone: {tiny_backbone}, dropout: 0.0}}\n"
        f"data: {{train: toy-ate, max_length: 32, data_dir: {tmp_path}}}\n"
        "train: {epochs: 30, batch_size: 4, lr: 0.001, head_lr: 0.01, patience: null, warmup_ratio: 0.0,"
        " metric: f1_ate}\n"
        f"output: {tmp_path / 'run'}\n"
    )
    runner = CliRunner()
    trained = runner.invoke(app, ["train", str(config), "--no-progress"])
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["validation"]["f1_ate"] == 1.0
    meta = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert meta["task"] == "aspect-extraction.v1" and meta["labels"] == ["O", "B-ASP", "I-ASP"]
    assert meta["format"] == 2 and "max_length" not in meta
    assert meta["preprocessing"] == {"max_length": 32, "emoji": "words"}
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "run" / "best"), "toy-ate", "--data-dir", str(tmp_path)])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)
    assert metrics["f1_ate"] == 1.0 and metrics["gold"] == 12


@pytest.mark.data
def test_restaurant14_ate_splits_and_gold_round_trip(data_dir, tiny_backbone):
    splits = {split: load_dataset("restaurant14-ate", split, data_dir) for split in ("train", "validation", "test")}
    assert len(splits["train"]) + len(splits["validation"]) == 3041
    assert len(splits["validation"]) == 304 and len(splits["test"]) == 800
    assert not {x.id for x in splits["train"]} & {x.id for x in splits["validation"]}
    assert sum(not x.terms for x in splits["test"]) > 0  # sentences without terms are kept
    sentences = [x for split in splits.values() for x in split]
    items = encode_training(load_tokenizer(tiny_backbone), sentences, ASPECT_BIO, 128)
    for example, item in zip(sentences, items, strict=True):
        assert -1 not in item.word_starts, example.id  # nothing truncated at 128
        tags = ASPECT_BIO.decode([item.labels[p] for p in item.word_starts])
        assert decode_spans(item.word_spans, tags) == term_spans(example), example.id
        assert {(t.start, t.end) for t in example.terms} == set(term_spans(example)), example.id
