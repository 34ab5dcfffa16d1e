"""Model folders: `read_manifest` reads every format this project has written, the shipped models load unchanged,
and one `load` with aspects holds one backbone."""

from __future__ import annotations

import json

import pytest
import torch

import sentimentkit
from sentimentkit.hub import PRETRAINED_DIR, ManifestError, read_manifest, write_manifest
from sentimentkit.labels import POLARITY3, SENTIMENT5
from sentimentkit.models import build_model, load_checkpoint, save_checkpoint


def test_shipped_manifests_are_typed():
    document = read_manifest(PRETRAINED_DIR / "sentiment-en")
    assert document.kind == "model" and document.task == "text-classification.v1"
    assert document.labels == SENTIMENT5 and document.labels.polarity_map is not None
    assert document.preprocessing == {"max_length": 96, "truncation": "head", "emoji": "words"}
    assert document.language == "en" and document.temperature > 0.0  # calibrated on validation
    assert document.metrics["sst5_test_accuracy"] > 0.45
    assert read_manifest(PRETRAINED_DIR / "sentiment-en-sst5").metrics["sst5_test_accuracy"] == pytest.approx(0.5226)
    bundle = read_manifest(PRETRAINED_DIR / "absa-en")
    assert bundle.kind == "bundle" and bundle.task == "aspect-sentiment.v1" and bundle.model is None
    assert bundle.component("extractor") == PRETRAINED_DIR / "absa-en" / "extractor"
    polarity = read_manifest(bundle.component("polarity"))
    assert polarity.task == "aspect-polarity.v1" and polarity.labels == POLARITY3
    assert "implementation" not in polarity.model  # a runtime choice, dropped from the first format's section
    assert polarity.preprocessing["parser"] == "parser-en" and polarity.preprocessing["graph_self_loops"] is True


def test_every_shipped_model_loads_and_predicts():
    document = sentimentkit.load("sentiment-en")(["A joy from start to finish.", "I hated every minute."])
    assert [p.polarity for p in document] == ["positive", "negative"]
    assert document[0].score > 0.3 > -0.3 > document[1].score
    assert all(p.label in SENTIMENT5.names for p in document)
    aspects = sentimentkit.load("absa-en")(["The battery life is great but the screen is dim."])
    assert [(a.aspect, a.polarity) for a in aspects[0].aspects] == [
        ("battery life", "positive"),
        ("screen", "negative"),
    ]
    from sentimentkit.data.syntax import load_parser

    parse = load_parser("parser-en").parse("The screen is dim.")
    assert parse.words == ("The", "screen", "is", "dim", ".") and parse.heads.count(0) == 1


def test_a_first_format_checkpoint_loads(tiny_backbone, tmp_path):
    torch.manual_seed(0)
    section = {"type": "text-classifier", "backbone": tiny_backbone, "adapter": "lora", "lora_r": 2}
    model = build_model(section, SENTIMENT5)
    save_checkpoint(model, tmp_path, {"model": section, "labels": list(SENTIMENT5.names), "task": "sentiment-5"})
    # rewrite config.json as the first release wrote it: flat preprocessing keys, a runtime key in the section
    old = {
        "model": {**section, "implementation": "transformers"},
        "labels": list(SENTIMENT5.names),
        "task": "sentiment-5",
        "max_length": 40,
        "truncation": "head+tail",
    }
    (tmp_path / "config.json").write_text(json.dumps(old))
    manifest = read_manifest(tmp_path)
    assert manifest.task == "text-classification.v1" and "implementation" not in manifest.model
    assert manifest.preprocessing == {"max_length": 40, "truncation": "head+tail"}
    loaded, _ = load_checkpoint(tmp_path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    pipeline = sentimentkit.load(str(tmp_path))
    assert pipeline.task.max_length == 40 and pipeline.task.truncation == "head+tail"
    # written back, it is the current format and reads the same
    write_manifest(manifest, tmp_path / "again")
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert again["format"] == 2 and again["preprocessing"]["max_length"] == 40
    assert read_manifest(tmp_path / "again").preprocessing == manifest.preprocessing


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"task": "sentiment-5", "model": {"type": "lora"}}', "'labels' is missing"),
        ('{"labels": ["a"], "task": "sentiment-5"}', "'model'"),
        ('{"labels": ["a"], "model": {"type": "lora"}}', "'task' is missing"),
        ('{"format": 99, "labels": ["a"], "task": "x", "model": {"type": "lora"}}', "newer than this"),
    ],
)
def test_a_broken_config_json_names_the_file_and_key(tmp_path, content, message):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(ManifestError, match=message) as err:
        read_manifest(tmp_path)
    assert str(tmp_path / "config.json") in str(err.value)


def test_analyze_with_aspects_holds_one_backbone():
    pipeline = sentimentkit.load("sentiment-en", aspects="absa-en", backend="torch")
    backbones = {
        id(pipeline.model.encoder.model),
        id(pipeline.aspect_pipeline.model.polarity.encoder.model),
        id(pipeline.aspect_pipeline.model.extractor.encoder.model),
    }
    assert len(backbones) == 1
    separate = sentimentkit.load("sentiment-en", aspects="absa-en", merge_adapters=True, backend="torch")
    assert separate.model.encoder.model is not separate.aspect_pipeline.model.polarity.encoder.model
    texts = ["The battery life is great but the screen is dim.", "Slow service, lovely food."]
    shared, merged = pipeline(texts), separate(texts)
    for a, b in zip(shared, merged, strict=True):
        assert a.label == b.label and a.probabilities == pytest.approx(b.probabilities, abs=1e-4)
        assert [(x.aspect, x.polarity) for x in a.aspects] == [(x.aspect, x.polarity) for x in b.aspects]


def test_a_hand_written_bundle_without_labels_takes_its_polarity_components(tmp_path):
    import shutil

    shutil.copytree(PRETRAINED_DIR / "absa-en", tmp_path / "bundle")
    (tmp_path / "bundle" / "config.json").write_text(
        json.dumps({"task": "aspect-sentiment", "components": {"extractor": "extractor", "polarity": "polarity"}})
    )
    manifest = read_manifest(tmp_path / "bundle")
    assert manifest.kind == "bundle" and manifest.labels == POLARITY3
