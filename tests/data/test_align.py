"""Alignment of characters, words and subwords; dependency graphs on subword positions; aspect encoding and
collate: contractions (raw and PTB-split), punctuation, multi-word aspects, aspects occurring twice or at the end,
truncation around the aspect, and parses that belong to another tokenization."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sentimentkit.data.align import (
    AlignmentError,
    adjacency,
    align_parse,
    align_words,
    project_to_subwords,
    word_char_spans,
)
from sentimentkit.data.collate import AspectBatch, pad_aspect_batch
from sentimentkit.data.encoding import AspectItem, encode_aspect_examples
from sentimentkit.data.readers import read_absa_lines
from sentimentkit.encoders.text import load_tokenizer
from sentimentkit.labels import IGNORE_INDEX, POLARITY3
from sentimentkit.tasks.aspect import AspectPolarity
from sentimentkit.types import AspectExample, DepParse


@pytest.fixture(scope="module")
def tokenizer(tiny_backbone):
    return load_tokenizer(tiny_backbone)


def pieces(tokenizer, alignment, indices) -> list[str]:
    return tokenizer.convert_ids_to_tokens([alignment.subword_ids[i] for i in indices])


def example(text: str, aspect: str, polarity: str = "positive", occurrence: int = 0) -> AspectExample:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(aspect, start + 1)
    return AspectExample(text, aspect, ((start, start + len(aspect)),), polarity, source="test:1")


def polarity_ids(examples: list[AspectExample]) -> list[int]:
    return [POLARITY3.id(x.polarity) for x in examples]


def chain_parse(words: tuple[str, ...]) -> DepParse:
    """Each word headed by the next; the last word is the root."""
    n = len(words)
    return DepParse(words=words, heads=(*range(2, n + 1), 0), deprels=("dep",) * (n - 1) + ("root",))


# --- words <-> characters <-> subwords ------------------------------------------------------------------


def test_raw_contraction_is_one_word_of_several_subwords(tokenizer):
    a = align_words(tokenizer, "I don't like the food.")
    assert a.words == ("I", "don't", "like", "the", "food.")
    assert a.word_spans[1] == (2, 7)
    assert pieces(tokenizer, a, a.word_to_subwords[1]) == ["don", "'", "t"]
    assert [a.text[s:e] for s, e in (a.subword_spans[i] for i in a.word_to_subwords[1])] == ["don", "'", "t"]


@pytest.mark.parametrize(
    ("text", "words", "negation"),
    [
        ("I don't like it", ("I", "do", "n't", "like", "it"), 2),  # a raw text with a PTB-split parse
        ("I do n't like it", ("I", "do", "n't", "like", "it"), 2),  # the PTB-split text of the ABSA files
        ("you can't miss it", ("you", "ca", "n't", "miss", "it"), 2),
        ("you ca n't miss it", None, 2),
    ],
)
def test_ptb_contractions_map_each_subword_to_its_own_word(tokenizer, text, words, negation):
    a = align_words(tokenizer, text, words)
    assert a.words[negation] == "n't"
    start, end = a.word_spans[negation]
    assert text[start:end] == "n't"
    assert pieces(tokenizer, a, a.word_to_subwords[negation]) == ["n", "'", "t"]
    assert a.word_indices(start, end) == [negation]
    assert all(start <= s < e <= end for s, e in (a.subword_spans[i] for i in a.word_to_subwords[negation]))


def test_punctuation_attached_to_a_word_stays_out_of_the_aspect_subwords(tokenizer):
    text = "The food, however, was great!"
    a = align_words(tokenizer, text)
    span = (4, 8)  # "food"
    assert a.word_indices(*span) == [1]  # the whitespace token "food,"
    assert pieces(tokenizer, a, a.subword_indices(*span)) == ["food"]
    assert pieces(tokenizer, a, a.word_to_subwords[1]) == ["food", ","]
    split = align_words(tokenizer, text, ("The", "food", ",", "however", ",", "was", "great", "!"))
    assert split.word_indices(*span) == [1]
    assert split.word_spans[2] == (8, 9) and split.word_spans[-1] == (28, 29)


def test_multi_word_aspect_covers_all_its_words(tokenizer):
    text = "the battery life is great"
    a = align_words(tokenizer, text)
    assert a.word_indices(4, 16) == [1, 2]
    assert pieces(tokenizer, a, a.subword_indices(4, 16)) == ["battery", "life"]


def test_words_may_differ_from_the_text_only_by_whitespace(tokenizer):
    text = "a 3\xa01/2  star\tmeal"
    a = align_words(tokenizer, text, ("a", "3 1/2", "star", "meal"))
    assert a.word_spans == ((0, 1), (2, 7), (9, 13), (14, 18))
    assert [text[s:e] for s, e in a.subword_spans] == ["a", "3", "1", "/", "2", "star", "meal"]
    assert a.subword_words == (0, 1, 1, 1, 1, 2, 3)


def test_a_word_may_span_a_space_of_the_text(tokenizer):
    text = "a cute interior deco r ."  # SemEval's text where the CoreNLP parse has "decor"
    a = align_words(tokenizer, text, ("a", "cute", "interior", "decor", "."))
    assert a.word_spans[3] == (16, 22) and a.word_indices(16, 20) == [3]
    assert [text[s:e] for s, e in (a.subword_spans[i] for i in a.word_to_subwords[3])] == ["deco r"]


def test_parse_without_text_aligns_on_its_joined_words(tokenizer):
    parse = chain_parse(("Do", "n't", "go", "alone", "."))  # CoreNLP tokens carry no text of their own
    a = align_parse(tokenizer, parse)
    assert a.text == "Do n't go alone ."
    assert len(a.word_to_subwords) == 5 and all(a.word_to_subwords)


@pytest.mark.parametrize(
    ("text", "words", "message"),
    [
        ("the food was great", ("the", "meal", "was", "great"), r"word 1 'meal' does not match .* character 4"),
        ("I don't like it", ("I", "do", "not", "like", "it"), r"word 2 'not' does not match"),
        ("the food was great", ("the", "food"), r"the text goes on after the last of 2 words: 'was great'"),
        ("the food", ("the", "food", "."), r"word 2 '\.' does not match .*\(the end of the text\)"),
    ],
)
def test_words_of_another_tokenization_raise(tokenizer, text, words, message):
    with pytest.raises(AlignmentError, match=message):
        align_words(tokenizer, text, words)


def test_word_char_spans_skip_any_whitespace():
    assert word_char_spans("  big\n\nfan ", ("big", "fan")) == [(2, 5), (7, 10)]


# --- dependency graphs -----------------------------------------------------------------------------------

PARSE = DepParse(words=("the", "food", "was", "great"), heads=(2, 4, 4, 0), deprels=("det", "nsubj", "cop", "root"))


def test_adjacency_is_symmetric_with_self_loops_by_default():
    a = adjacency(PARSE)
    expected = np.array([[1, 1, 0, 0], [1, 1, 0, 1], [0, 0, 1, 1], [0, 1, 1, 1]], dtype=np.float32)
    assert np.array_equal(a, expected)
    assert np.array_equal(a, a.T)


def test_directed_adjacency_points_from_head_to_dependent():
    a = adjacency(PARSE, directed=True, self_loops=False)
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[1, 0] = expected[3, 1] = expected[3, 2] = 1.0  # food->the, great->food, great->was
    assert np.array_equal(a, expected)
    assert np.array_equal(adjacency(PARSE, directed=True), expected + np.eye(4, dtype=np.float32))


def test_projection_to_subwords_matches_a_hand_computed_matrix():
    # positions: 0 [CLS] | 1 w0 | 2, 3 w1 (two subwords) | 4 w2 | 5 [SEP]; arcs w0-w1, w1-w2; no self-loop on w2
    word_adj = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=np.float32)
    expected = np.array(
        [
            [1, 0, 0, 0, 0, 0],
            [0, 1, 1, 1, 0, 0],
            [0, 1, 1, 1, 1, 0],
            [0, 1, 1, 1, 1, 0],
            [0, 0, 1, 1, 0, 0],
            [0, 0, 0, 0, 0, 1],
        ],
        dtype=np.float32,
    )
    assert np.array_equal(project_to_subwords(word_adj, [[1], [2, 3], [4]], 6), expected)


def test_subwords_of_one_word_link_to_each_other_even_without_self_loops():
    word_adj = np.zeros((2, 2), dtype=np.float32)
    projected = project_to_subwords(word_adj, [[0, 1], [2]], 3)
    assert np.array_equal(projected, np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32))


# --- encoding aspect examples ------------------------------------------------------------------------------

ABSA = "$T$ is so good . i love $T$ !\nthe weeknd\n1\nthe wait was long but the $T$\nservice\n-1\n"


def test_tweet_with_the_target_twice_marks_both_occurrences(tokenizer, tmp_path: Path):
    path = tmp_path / "tweets.raw"
    path.write_text(ABSA, encoding="utf-8")
    twice, _ = list(read_absa_lines(path))
    assert twice.spans == ((0, 10), (31, 41))
    # the task maps the polarity to its target id; the encoder only carries it
    (item,) = AspectPolarity(POLARITY3, tokenizer, uses_graph=False, pair=False, max_length=64).encode([twice])
    marked = [i for i, m in enumerate(item.aspect_mask) if m]
    assert tokenizer.convert_ids_to_tokens([item.input_ids[i] for i in marked]) == ["the", "week", "##nd"] * 2
    assert item.label == POLARITY3.id("positive")
    (unlabelled,) = encode_aspect_examples(tokenizer, [twice], None, None, 64)
    assert unlabelled.label == IGNORE_INDEX and replace(item, label=IGNORE_INDEX) == unlabelled
    assert item.word_edges is None and item.token_type_ids is None
    assert all(item.position_weights[i] == 0.0 for i in marked)


def test_aspect_at_the_sentence_end(tokenizer, tmp_path: Path):
    path = tmp_path / "end.raw"
    path.write_text(ABSA, encoding="utf-8")
    _, at_end = list(read_absa_lines(path))
    (item,) = encode_aspect_examples(tokenizer, [at_end], [chain_parse(tuple(at_end.text.split()))], None, 64)
    assert item.aspect_mask[-2:] == (1, 0)  # the last subword before [SEP]
    assert item.input_ids[-1] == tokenizer.sep_token_id
    # 7 words, the aspect is the last: context word k lies 6 - k words away among 6 context words
    assert item.position_weights[1:-2] == pytest.approx([1 - (6 - k) / 6 for k in range(6)])


def test_truncation_keeps_a_window_around_the_aspect(tokenizer):
    text = " ".join(["very"] * 40) + " and the pizza was good " + " ".join(["yes"] * 40)
    item = encode_aspect_examples(tokenizer, [example(text, "pizza")], None, None, 16)[0]
    assert len(item.input_ids) == 16
    tokens = tokenizer.convert_ids_to_tokens(item.input_ids)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "pizza" in tokens
    assert sum(item.aspect_mask) == 1 and tokens[item.aspect_mask.index(1)] == "pizza"
    at_end = encode_aspect_examples(tokenizer, [example(text + " pasta", "pasta")], None, None, 16)[0]
    assert at_end.aspect_mask[-2] == 1 and len(at_end.input_ids) == 16
    at_start = encode_aspect_examples(tokenizer, [example("pasta " + text, "pasta")], None, None, 16)[0]
    assert at_start.aspect_mask[1] == 1 and len(at_start.input_ids) == 16


def test_occurrences_too_far_apart_for_one_window_raise(tokenizer):
    text = "pizza " + " ".join(["yes"] * 30) + " pizza"
    spans = ((0, 5), (len(text) - 5, len(text)))
    far = AspectExample(text, "pizza", spans, "positive", source="tweets.raw:7")
    with pytest.raises(ValueError, match=r"tweets.raw:7: .* span 32 subwords .* at least 34"):
        encode_aspect_examples(tokenizer, [far], None, None, 16)
    assert sum(encode_aspect_examples(tokenizer, [far], None, None, 34)[0].aspect_mask) == 2


def test_a_parse_of_another_sentence_raises_naming_the_example(tokenizer):
    parse = chain_parse(("the", "food", "was", "great"))
    wrong = example("the service was great", "service")
    with pytest.raises(AlignmentError, match=r"test:1: word 1 'food' does not match"):
        encode_aspect_examples(tokenizer, [wrong], [parse], None, 32)


def test_pair_input_appends_the_aspect_as_a_second_segment(tokenizer):
    item = encode_aspect_examples(
        tokenizer, [example("the battery life is short", "battery life")], None, None, 32, pair=True
    )[0]
    tokens = tokenizer.convert_ids_to_tokens(item.input_ids)
    assert tokens == ["[CLS]", "the", "battery", "life", "is", "short", "[SEP]", "battery", "life", "[SEP]"]
    assert item.token_type_ids == (0,) * 7 + (1,) * 3
    assert item.aspect_mask == (0, 0, 1, 1, 0, 0, 0, 0, 0, 0)
    assert item.subword_words[-4:] == (-1, -1, -1, -1)


# --- collate -------------------------------------------------------------------------------------------------


def test_pad_aspect_batch_builds_subword_graphs_with_isolated_specials_and_padding(tokenizer):
    short = example("the food was great", "food")
    long = example("the cheesecake was great", "cheesecake")  # "cheesecake" is two subwords
    parses = [chain_parse(tuple(x.text.split())) for x in (short, long)]
    items = encode_aspect_examples(tokenizer, [short, long], parses, polarity_ids([short, long]), 32)
    batch = pad_aspect_batch(items)
    assert isinstance(batch, AspectBatch)
    assert batch.input_ids.shape == (2, 7) and batch.adjacency.shape == (2, 7, 7)
    assert batch.attention_mask.tolist() == [[1] * 6 + [0], [1] * 7]
    assert batch.aspect_mask.tolist() == [[0, 0, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0]]
    assert batch.labels.tolist() == [2, 2]
    assert batch.token_type_ids is None
    assert pad_aspect_batch(encode_aspect_examples(tokenizer, [short, long], parses, None, 32)).labels is None
    adj = batch.adjacency
    assert torch.equal(adj, adj.transpose(1, 2))
    for b, n in ((0, 6), (1, 7)):  # [CLS], [SEP] and padding: only their self-loop
        for p in (0, n - 1, *range(n, 7)):
            assert adj[b, p].tolist() == [float(q == p) for q in range(7)]
    # item 1: the=1, cheese/cake=2,3, was=4, great=5; chain arcs the-cheesecake, cheesecake-was, was-great
    assert adj[1, 2].tolist() == [0, 1, 1, 1, 1, 0, 0]
    assert adj[1, 5].tolist() == [0, 0, 0, 0, 1, 1, 0]


def test_pad_aspect_batch_refuses_items_encoded_differently(tokenizer):
    x = example("the food was great", "food")
    with_graph = encode_aspect_examples(tokenizer, [x], [chain_parse(tuple(x.text.split()))], None, 32)
    without = encode_aspect_examples(tokenizer, [x], None, None, 32)
    with pytest.raises(ValueError, match="1 of 2 items in a batch have word_edges"):
        pad_aspect_batch(with_graph + without)
    assert isinstance(without[0], AspectItem)
    with pytest.raises(ValueError, match="2 label ids for 1 examples"):
        encode_aspect_examples(tokenizer, [x], None, [0, 1], 32)


def test_directed_graphs_reach_the_batch_and_unknown_labels_name_the_example(tokenizer):
    x = example("the food was great", "food")
    parse = DepParse(words=("the", "food", "was", "great"), heads=(2, 4, 4, 0), deprels=("det", "nsubj", "cop", "root"))
    (item,) = encode_aspect_examples(tokenizer, [x], [parse], None, 32, directed=True, self_loops=False)
    adj = pad_aspect_batch([item]).adjacency[0]  # positions: [CLS] the food was great [SEP]
    assert adj[2, 1] == 1 and adj[1, 2] == 0  # food -> the, not back
    assert adj[4].tolist() == [0, 0, 1, 1, 0, 0]  # great -> food, was; no self-loop
    assert adj[0, 0] == adj[5, 5] == 1  # specials keep theirs
    conflict = AspectExample(x.text, "food", ((4, 8),), "conflict", source="train.xml:sentence 7")
    task = AspectPolarity(POLARITY3, tokenizer, uses_graph=False, pair=False, max_length=32)
    with pytest.raises(KeyError, match="train.xml:sentence 7: unknown label 'conflict'"):
        task.encode([conflict])
