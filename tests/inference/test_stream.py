"""`Pipeline.stream` scores an iterable of any length chunk by chunk, in input order, with the same predictions
as one call; ids given with TextExamples come back on their predictions."""

from __future__ import annotations

import itertools

import pytest

from sentimentkit.inference.pipeline import Pipeline
from sentimentkit.types import TextExample


def test_stream_is_lazy_ordered_and_equal_to_one_call(tiny_model_dir):
    pipeline = Pipeline.load(str(tiny_model_dir), batch_size=2)
    texts = [f"text number {i} " + "word " * (i % 7) for i in range(40)]
    pulled = []

    def source():
        for i, text in enumerate(texts):
            pulled.append(i)
            yield TextExample(text=text, id=f"r{i}")

    stream = pipeline.stream(source())
    first = list(itertools.islice(stream, 3))
    assert len(pulled) < len(texts)  # only the first chunk was read to give the first predictions
    streamed = first + list(stream)
    together = pipeline([TextExample(text=t, id=f"r{i}") for i, t in enumerate(texts)])
    assert [p.id for p in streamed] == [p.id for p in together] == [f"r{i}" for i in range(40)]
    for a, b in zip(streamed, together, strict=True):  # batches differ (other padding): equal up to float noise
        assert a.text == b.text and a.label == b.label
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)


def test_a_call_of_blank_texts_only_gives_error_rows(tiny_model_dir):
    predictions = Pipeline.load(str(tiny_model_dir))(["", "   "])
    assert [p.error is not None and p.label is None for p in predictions] == [True, True]
