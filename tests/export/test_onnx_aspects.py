"""ONNX export of the aspect models: the extraction tagger, IAGCN (dependency graph as an input tensor), SPC
(sentence pair with segment ids) and the bundle of extractor and polarity model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import sentimentkit
from sentimentkit.data.datasets import ASPECT_BIO
from sentimentkit.hub import read_manifest
from sentimentkit.inference.export import SAMPLE_ITEMS, export_onnx
from sentimentkit.labels import POLARITY3
from sentimentkit.models import build_model, save_checkpoint
from sentimentkit.tasks.aspect import AspectSentiment

from .test_onnx import batch_logits

pytest.importorskip("spacy", reason="iagcn reads dependency trees from the shipped spaCy parser")

TEXTS = [
    "Great food, slow service. The wine list was short!",
    "The battery life is excellent but the keyboard feels cheap.",
    "",
    "Nothing to see.",
]


def _randomize(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_b" in name:
                param.normal_(0, 0.5)


@pytest.fixture(scope="module")
def bundle_dir(tiny_backbone, tmp_path_factory):
    """A tiny aspect bundle with random weights: an `ate` extractor with LoRA, an `iagcn` polarity model, and an
    `spc` polarity model beside them."""
    root = tmp_path_factory.mktemp("absa-export")
    torch.manual_seed(0)
    ate = {"type": "ate", "backbone": tiny_backbone, "adapter": "lora", "lora_r": 2}
    extractor = build_model(ate, ASPECT_BIO)
    _randomize(extractor)
    save_checkpoint(extractor, root / "extractor", {"model": ate, "labels": list(ASPECT_BIO.names), "max_length": 32})
    meta = {"max_length": 64, "parser": "parser-en", "graph_directed": False, "graph_self_loops": True}
    for folder, section in (
        ("polarity", {"type": "iagcn", "backbone": tiny_backbone, "lstm_hidden": 8, "adapter": "lora", "lora_r": 2}),
        ("spc", {"type": "spc", "backbone": tiny_backbone}),
    ):
        model = build_model(section, POLARITY3)
        _randomize(model)
        save_checkpoint(model, root / folder, {"model": section, "labels": list(POLARITY3.names), **meta})
    config = {
        "format": 2,
        "task": AspectSentiment.name,
        "labels": list(POLARITY3.names),
        "components": {"extractor": "extractor", "polarity": "polarity"},
    }
    (root / "config.json").write_text(json.dumps(config))
    return root


@pytest.fixture(scope="module")
def exported(bundle_dir, tmp_path_factory):
    return export_onnx(str(bundle_dir), tmp_path_factory.mktemp("absa-onnx") / "absa")


def _parity(torch_pipeline, onnx_pipeline) -> float:
    items = SAMPLE_ITEMS[torch_pipeline.task.name](torch_pipeline.task)
    expected, got = batch_logits(torch_pipeline, items), batch_logits(onnx_pipeline, items)
    assert (expected.argmax(-1) == got.argmax(-1)).all()
    one = np.abs(batch_logits(torch_pipeline, items[1:2]) - batch_logits(onnx_pipeline, items[1:2])).max()
    return float(max(np.abs(expected - got).max(), one))  # a batch of one too: the graph has no fixed batch size


def test_bundle_exports_each_component(exported):
    manifest = read_manifest(exported)
    assert manifest.kind == "bundle" and manifest.onnx["precision"] == "fp32"
    for role in ("extractor", "polarity"):
        part = read_manifest(exported / role)
        assert part.onnx is not None and (exported / role / "model.onnx").exists()
        assert part.onnx["check"]["max_abs_logit_diff"] < 1e-4
    polarity = read_manifest(exported / "polarity")
    assert polarity.onnx["inputs"] == ["input_ids", "attention_mask", "aspect_mask", "position_weights", "adjacency"]
    assert polarity.preprocessing["uses_graph"] is True and polarity.preprocessing["input_format"] == "sentence"


@pytest.mark.parametrize("role", ["extractor", "polarity"])
def test_component_logits_match_torch(bundle_dir, exported, role):
    assert _parity(sentimentkit.load(str(bundle_dir / role)), sentimentkit.load(str(exported / role))) < 1e-4


def test_bundle_predictions_match_torch(bundle_dir, exported):
    ours, theirs = sentimentkit.load(str(exported)), sentimentkit.load(str(bundle_dir))
    assert ours.can_extract
    for a, b in zip(ours(TEXTS), theirs(TEXTS), strict=True):
        assert a.error == b.error
        assert [(x.aspect, x.start, x.end, x.polarity) for x in a.aspects] == [
            (x.aspect, x.start, x.end, x.polarity) for x in b.aspects
        ]
        for x, y in zip(a.aspects, b.aspects, strict=True):
            assert x.confidence == pytest.approx(y.confidence, abs=1e-4)
    given = ours(TEXTS[:2], aspects=["food", "keyboard"])
    assert [x.aspect for x in given[0].aspects] == ["food"] and [x.aspect for x in given[1].aspects] == ["keyboard"]


def test_sentence_pair_model_exports_segment_ids(bundle_dir, tmp_path):
    folder = export_onnx(str(bundle_dir / "spc"), tmp_path / "spc")
    assert read_manifest(folder).onnx["inputs"][-1] == "token_type_ids"
    assert _parity(sentimentkit.load(str(bundle_dir / "spc")), sentimentkit.load(str(folder))) < 1e-4
