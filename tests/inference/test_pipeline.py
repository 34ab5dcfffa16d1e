from __future__ import annotations

import numpy as np
import pytest

import sentimentkit
from sentimentkit.data.encoding import encode_texts
from sentimentkit.inference.pipeline import Pipeline
from sentimentkit.labels import SENTIMENT5
from sentimentkit.models import load_checkpoint
from sentimentkit.tasks.base import forward_batches, gather_logits
from sentimentkit.types import Prediction, TextExample

TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "It is a movie."]


def test_pipeline_returns_consistent_typed_predictions(tiny_model_dir):
    pipeline = Pipeline.from_pretrained(tiny_model_dir)
    assert pipeline.task.name == "text-classification.v1" and pipeline.manifest.task == "text-classification.v1"
    assert pipeline.labels.names == SENTIMENT5.names and not pipeline.can_extract
    predictions = pipeline(TEXTS)
    assert [p.text for p in predictions] == TEXTS
    for p in predictions:
        assert isinstance(p, Prediction)
        probs = np.array(list(p.probabilities.values()))
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert p.label == max(p.probabilities, key=p.probabilities.get)
        assert p.score == pytest.approx(float(probs @ np.array([-1, -0.5, 0, 0.5, 1])), abs=1e-6)
        neg = p.probabilities["very negative"] + p.probabilities["negative"]
        pos = p.probabilities["very positive"] + p.probabilities["positive"]
        three = {"negative": neg, "neutral": p.probabilities["neutral"], "positive": pos}
        assert p.polarity == max(three, key=three.get)


def test_merged_adapters_predict_like_the_trained_model(tiny_model_dir):
    model, manifest = load_checkpoint(tiny_model_dir)
    assert manifest.preprocessing["max_length"] == 32
    pipeline = Pipeline.from_pretrained(tiny_model_dir, merge_adapters=True)
    items = encode_texts(pipeline.task.tokenizer, TEXTS, manifest.preprocessing["max_length"], "head")
    assert items == pipeline.task.encode([TextExample(t) for t in TEXTS])  # the task encodes as training did
    unmerged = gather_logits(list(forward_batches(model, pipeline.task, items, 2)), len(items))
    merged = gather_logits(list(forward_batches(pipeline.model, pipeline.task, items, 2)), len(items))
    assert unmerged.shape == (len(TEXTS), 5)
    assert np.allclose(unmerged, merged, atol=1e-4)
    assert not any("lora" in name for name, _ in pipeline.model.named_parameters())
    assert any("lora" in name for name, _ in model.named_parameters())  # the trained model still has them


def test_single_string_empty_and_wrong_types(tiny_model_dir):
    pipeline = Pipeline.from_pretrained(tiny_model_dir)
    assert len(pipeline("just one")) == 1
    assert pipeline([]) == []
    with pytest.raises(TypeError, match="input 1 is a int"):
        pipeline(["fine", 3])


def test_blank_input_gets_an_error_and_keeps_its_place(tiny_model_dir):
    pipeline = Pipeline.from_pretrained(tiny_model_dir)
    first, blank, last = pipeline(["fine", "   ", "bad"])
    assert (first.text, blank.text, last.text) == ("fine", "   ", "bad")
    assert blank.error is not None and blank.error.startswith("blank input")
    assert blank.label is None and blank.probabilities == {} and blank.score is None
    assert first.error is None and first.label in first.probabilities and last.label in last.probabilities
    assert blank.to_dict() == {"id": None, "text": "   ", "error": blank.error}


def test_load_refuses_a_bare_backbone():
    with pytest.raises(sentimentkit.hub.ModelNotFoundError, match="not a sentiment model"):
        sentimentkit.load("minilm")


def test_shipped_default_model_is_small_documented_and_sensible():
    assert "sentiment-en" in sentimentkit.available_models()
    from sentimentkit.hub import PRETRAINED_DIR

    folder = PRETRAINED_DIR / "sentiment-en"
    assert (folder / "model.safetensors").stat().st_size < 8 * 2**20
    card = (folder / "README.md").read_text()
    assert "Retrain" in card and "SST-5" in card
    predictions = sentimentkit.load("sentiment-en")(
        [
            "An absolute triumph: moving, funny and beautifully acted.",
            "A tedious, incoherent mess and a complete waste of time.",
        ]
    )
    assert [p.polarity for p in predictions] == ["positive", "negative"]
    assert predictions[0].score > 0.3 > -0.3 > predictions[1].score
