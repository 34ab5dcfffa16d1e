"""Language detection: every prediction carries its text's language; clearly non-English text gets a warning,
English tweets with emoji and slang and short texts do not."""

from __future__ import annotations

import csv
import json

import pytest

import sentimentkit
from sentimentkit.inference.language import detect, detection_text, language_warning, letter_count
from sentimentkit.io import PredictionWriter
from sentimentkit.types import Prediction

ENGLISH = [
    "ngl the new update is mid, battery drains like crazy 😩",
    "lmaooo my cat just knocked the whole plant over 😂😂",
    "@united you lost my bag AGAIN. third time this year smh",
    "this coffee shop is my happy place ☕️❤️ #mondaymotivation https://t.co/xyz",
    "best pizza in town!!!",
    "The battery life is great but the screen is a bit dim.",
]
FOREIGN = {
    "zh": "质量太差了，用了两天就坏了，非常失望。",
    "ar": "المنتج وصل مكسورا ولم يرد أحد على رسائلي.",
    "es": "La comida estaba fría y el camarero fue muy grosero.",
    "ru": "Служба поддержки не отвечает на мои письма.",
}


def test_detection_reads_the_text_without_emoji_links_and_mentions():
    assert detection_text("@bob loved it 😍 https://x.y/z  ok") == "loved it ok"
    assert letter_count("ab 12 !") == 2 and letter_count("太差了") == 6  # CJK characters count twice
    [empty] = detect(["👍👍 123"])
    assert empty.code is None and language_warning(empty, "en") is None


def test_english_tweets_and_short_texts_are_not_flagged():
    for found, text in zip(detect(ENGLISH), ENGLISH, strict=True):
        assert found.code == "en", text
        assert language_warning(found, "en") is None, text
    for text in ("Muy malo", "太差了", "Sehr schlecht", "meh.", "nope 👎"):  # too short to judge either way
        assert language_warning(detect([text])[0], "en") is None, text


@pytest.mark.parametrize(("code", "text"), FOREIGN.items())
def test_clearly_foreign_text_is_flagged(code, text):
    [found] = detect([text])
    assert found.code == code
    warning = language_warning(found, "en")
    assert warning is not None and f"({code})" in warning and "reads English" in warning
    assert language_warning(found, code) is None  # a model of that language is not warned


def test_predictions_carry_the_language_and_the_warning(tiny_model_dir):
    pipeline = sentimentkit.load(str(tiny_model_dir))
    english, chinese, blank, emoji_only = pipeline([ENGLISH[0], FOREIGN["zh"], "  ", "👍"])
    assert english.language == "en" and english.warnings == ()
    assert chinese.language == "zh" and len(chinese.warnings) == 1 and "Chinese (zh)" in chinese.warnings[0]
    assert chinese.label is not None  # still scored: the warning says how far to trust it
    assert blank.language is None and blank.error is not None and blank.warnings == ()
    assert emoji_only.language is None and emoji_only.warnings == ()
    assert english.to_dict()["language"] == "en" and "language" not in blank.to_dict()
    skipped = pipeline([FOREIGN["zh"]], language=False)[0]
    assert skipped.language is None and skipped.warnings == ()


def test_aspect_predictions_get_one_language_warning(tiny_model_dir):
    """A document model with attached aspects warns once (the aspect part does not detect again)."""
    from sentimentkit.inference.pipeline import Pipeline, with_language

    pipeline = Pipeline.from_pretrained(tiny_model_dir)
    [p] = with_language(pipeline([FOREIGN["es"]], language=False), "en")
    assert p.language == "es" and len(p.warnings) == 1


def test_writers_have_a_language_column(tmp_path):
    prediction = Prediction(text="hola", label="neutral", probabilities={"neutral": 1.0}, language="es")
    path = tmp_path / "out.csv"
    from sentimentkit.labels import LabelSet

    with PredictionWriter(path, LabelSet.of(("neutral",))) as writer:
        writer.write(prediction)
    with path.open(newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["language"] == "es"
    jsonl = tmp_path / "out.jsonl"
    with PredictionWriter(jsonl) as writer:
        writer.write(prediction)
    assert json.loads(jsonl.read_text())["language"] == "es"
