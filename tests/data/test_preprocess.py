"""Emoji as words: the rewrite and its offset maps, aspect spans carried through it, the tasks that apply it, and the
shipped model reading emoji as sentiment."""

from __future__ import annotations

import pytest

from sentimentkit.data.encoding import encode_texts
from sentimentkit.data.preprocess import emoji_words, rewrite
from sentimentkit.data.tagging import encode_words
from sentimentkit.labels import POLARITY3
from sentimentkit.tasks.aspect import AspectPolarity
from sentimentkit.types import AspectExample, Span


@pytest.fixture(scope="module")
def tokenizer():
    from sentimentkit.encoders.text import load_tokenizer

    return load_tokenizer("minilm")


def test_emoji_become_their_names_in_parentheses():
    assert emoji_words("I love it 😀") == "I love it (grinning face)"
    assert emoji_words("great😡ok") == "great (enraged face) ok"  # words never touch the name
    assert emoji_words("👍🏽 nice") == "(thumbs up medium skin tone) nice"  # a sequence is one emoji
    assert emoji_words("😀😀") == "(grinning face) (grinning face)"
    assert emoji_words("café, naïve") == "café, naïve"  # non-ASCII text without emoji is left alone
    plain = rewrite("no emoji here")
    assert plain.text == plain.source and plain.edits == ()
    assert rewrite("I love it 😀", "keep").text == "I love it 😀"
    with pytest.raises(ValueError, match="expected one of"):
        rewrite("x", "drop")


def test_rewriting_twice_changes_nothing():
    once = emoji_words("so good 🔥🔥 but 👎 delivery")
    assert emoji_words(once) == once


def test_offsets_map_both_ways():
    text = "it😀😡 great"
    rw = rewrite(text)
    assert rw.text == "it (grinning face) (enraged face) great"
    assert rw.new_span((0, 2)) == (0, 2) and rw.text[slice(*rw.new_span((0, 2)))] == "it"
    assert rw.text[slice(*rw.new_span((2, 3)))] == "(grinning face)"
    assert rw.text[slice(*rw.new_span((2, 4)))] == "(grinning face) (enraged face)"
    assert rw.text[slice(*rw.new_span((5, 10)))] == "great"
    # every offset outside an emoji comes back to itself
    for i in (0, 1, 2, 4, 5, 7, 10):
        assert rw.old_offset(rw.new_offset(i)) == i and rw.old_offset(rw.new_offset(i, True), True) == i
    # a token inside the emoji's words maps to the emoji's whole span
    face = rw.text.index("face")
    assert rw.old_span((face, face + 4)) == Span(2, 3)


def test_aspect_spans_follow_the_rewrite(tokenizer):
    task = AspectPolarity(POLARITY3, tokenizer, uses_graph=False, pair=False, max_length=64)
    text = "😍 the battery life is great but 😡 the screen 📱 is dim"
    battery, screen = text.index("battery life"), text.index("screen")
    example = AspectExample(text=text, aspect="screen", spans=((screen, screen + 6),), polarity="negative")
    prepared, rw = task.prepare(example)
    (a, b) = prepared.spans[0]
    assert prepared.text[a:b] == "screen" and prepared.aspect == "screen"
    assert "(smiling face with heart-eyes)" in prepared.text and "📱" not in prepared.text
    assert rw.old_span((a, b)) == (screen, screen + 6)
    assert task.prepare(prepared)[0] == prepared  # preparing twice changes nothing
    (item,) = task.encode([example])
    marked = [t for t, m in zip(item.input_ids, item.aspect_mask, strict=True) if m]
    assert tokenizer.convert_ids_to_tokens(marked) == ["screen"]
    assert tokenizer.unk_token_id not in item.input_ids  # the emoji were read as words, not [UNK]
    # an aspect that is itself an emoji becomes its words, and stays marked
    thumbs = AspectExample(text="battery 👍 screen 👎", aspect="👎", spans=((17, 18),))
    prepared, _ = task.prepare(thumbs)
    assert prepared.aspect == "(thumbs down)" and prepared.text[slice(*prepared.spans[0])] == "(thumbs down)"
    assert text[battery : battery + 12] == "battery life"


def test_a_dataset_parse_keeps_its_text(tokenizer):
    task = AspectPolarity(POLARITY3, tokenizer, uses_graph=True, pair=False, max_length=64, parser="dataset")
    example = AspectExample(text="great 😀 food", aspect="food", spans=((8, 12),))
    assert task.prepare(example)[0] == example  # its parse's words spell the text as it is
    assert task.prepare(example, raw_text=True)[0].text == "great (grinning face) food"


def test_document_and_extraction_encodings_read_emoji(tokenizer):
    words = encode_texts(tokenizer, ["so good 🔥"], 32, emoji="words")[0]
    kept = encode_texts(tokenizer, ["so good 🔥"], 32)[0]
    assert tokenizer.unk_token_id in kept.input_ids and tokenizer.unk_token_id not in words.input_ids
    assert words == encode_texts(tokenizer, ["so good (fire)"], 32)[0]
    text = "pizza 🍕 was cold"
    spans = [Span(0, 5), Span(6, 7), Span(8, 11), Span(12, 16)]
    (item,) = encode_words(tokenizer, [text], [spans], None, POLARITY3, 32, emoji="words")
    assert item.word_spans == tuple(spans)  # spans stay in the caller's text
    assert tokenizer.convert_ids_to_tokens(item.input_ids[item.word_starts[1]]) == "("
    assert tokenizer.unk_token_id not in item.input_ids


def test_shipped_model_reads_emoji_as_sentiment():
    import sentimentkit

    pipeline = sentimentkit.load("sentiment-en")
    assert pipeline.task.emoji == "words"
    love_happy, love_angry, up, down = pipeline(["I love it 😀", "I love it 😡", "this is 👍", "this is 👎"])
    assert love_happy.score > love_angry.score
    assert up.score > 0 > down.score
