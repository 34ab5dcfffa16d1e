"""Report: aspects by polarity, mean scores, the most negative aspects with their sentences, and the PNG chart."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from sentimentkit.store import StoreError
from sentimentkit.store.report import build_report, sentence_around, write_chart
from sentimentkit.types import Prediction

from .conftest import fake_prediction

TEXTS = [
    "I love this phone. The screen is bad and freezes on touch. Great battery though.",
    "The Screen is broken after a week.",
    "Excellent camera. Great battery.",
    "The speaker is awful.",
    "",
]


@pytest.fixture
def filled(store):
    predictions = [fake_prediction(t, f"d{i}", (("product_id", "PHONE_X"),)) for i, t in enumerate(TEXTS, 1)]
    predictions.append(fake_prediction("The screen is bad.", "other", (("product_id", "PHONE_Y"),)))
    store.write(predictions, model="fake", source="t")
    return store


def test_report_counts_means_and_examples(filled):
    report = build_report(filled, "PHONE_X", top=5, examples=2)
    assert (report.documents, report.scored_documents, report.mentions) == (5, 4, 6)
    by_term = {a.term: a for a in report.aspects}
    assert set(by_term) == {"screen", "battery", "camera", "speaker"}  # "Screen" and "screen" are one aspect
    assert by_term["screen"].mentions == 2 and by_term["screen"].polarity == {
        "negative": 2,
        "neutral": 0,
        "positive": 0,
    }
    assert by_term["battery"].polarity["positive"] == 2 and by_term["battery"].mean_score == pytest.approx(0.85)
    assert report.aspects[0].mentions == 2  # most mentioned first
    assert [a.term for a in report.most_negative] == ["screen", "speaker"]  # lowest mean first (ties: most mentions)
    screen = report.most_negative[0]
    assert {e.review_id for e in screen.examples} == {"d1", "d2"}
    # the example is the sentence around the aspect, not the whole review
    assert "The screen is bad and freezes on touch." in [e.sentence for e in screen.examples]
    assert "The Screen is broken after a week." in [e.sentence for e in screen.examples]
    # document scores: the fake gives +0.85 / -0.85; d1 mixes both words and counts as negative
    assert report.mean_document_score == pytest.approx((-0.85 - 0.85 + 0.85 - 0.85) / 4)
    assert report.to_dict()["most_negative"][0]["examples"][0]["sentence"]


def test_report_of_one_model_and_of_an_unknown_product(filled):
    assert build_report(filled, "PHONE_X", model="other").mentions == 0
    empty = build_report(filled, "NOPE")
    assert (empty.documents, empty.aspects, empty.mean_aspect_score) == (0, [], None)


def test_report_counts_documents_by_language(store):
    def scored(id: str, text: str, language: str | None) -> Prediction:
        return replace(fake_prediction(text, id, (("product_id", "P"),)), language=language)

    batch = [
        scored("en1", "The screen is bad.", "en"),
        scored("en2", "Great battery.", "en"),
        scored("de1", "Der Akku ist schlecht.", "de"),
        scored("old", "The camera is good.", None),  # stored before the store kept languages
        scored("blank", "", None),
    ]
    store.write(batch, model="fake", source="t")
    store.write(batch[:1], model="other", source="t")  # a second model's prediction of en1: still one document
    report = build_report(store, "P")
    assert report.languages == {"en": 2, "de": 1} and list(report.languages) == ["en", "de"]  # most first
    assert report.to_dict()["languages"] == {"en": 2, "de": 1}
    assert build_report(store, "P", model="other").languages == {"en": 1}
    assert build_report(store, "NOPE").languages == {}


def test_chart_is_a_png(filled, tmp_path):
    path = write_chart(build_report(filled, "PHONE_X"), tmp_path / "chart.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 300 and height > 100
    from matplotlib.image import imread

    assert imread(path).shape[:2] == (height, width)  # the whole file decodes
    empty = write_chart(build_report(filled, "NOPE"), tmp_path / "empty.png")
    assert empty.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(StoreError, match=r"\.png"):
        write_chart(build_report(filled, "PHONE_X"), tmp_path / "chart.jpg")


def test_sentence_around():
    text = "First one. The screen is bad. Last."
    start = text.index("screen")
    assert sentence_around(text, start, start + 6) == "The screen is bad."
    long = "word " * 100 + "screen" + " word" * 100
    start = long.index("screen")
    cut = sentence_around(long, start, start + 6, width=40)
    assert "screen" in cut and len(cut) < 60 and cut.startswith("…") and cut.endswith("…")
