"""`train.warm_start`: a run may continue from a trained model (a shipped name, a model folder, or the one matching
component of a bundle); a model of another type, other labels or other trainable tensors is refused by name."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.config import ConfigError
from sentimentkit.data.datasets import DATASETS, DatasetSpec
from sentimentkit.hub import PRETRAINED_DIR
from sentimentkit.labels import BINARY, SENTIMENT5
from sentimentkit.models.base import trainable_state
from sentimentkit.training.experiment import load_experiment, prepare
from sentimentkit.types import TextExample

runner = CliRunner()
FIVE = ["very negative", "negative", "neutral", "positive", "very positive"]


def _five(split: str, root) -> list[TextExample]:
    n = {"train": 6, "validation": 2, "test": 2}[split]
    words = ["awful", "bad", "okay", "good", "superb"]
    return [TextExample(f"{w} film {split} {i}", FIVE[k]) for i in range(n) for k, w in enumerate(words)]


def _two(split: str, root) -> list[TextExample]:
    n = {"train": 8, "validation": 3, "test": 2}[split]
    return [
        TextExample(f"{w} {split} {i}", y) for i in range(n) for w, y in (("loved", "positive"), ("hated", "negative"))
    ]


@pytest.fixture
def sources(monkeypatch):
    monkeypatch.setitem(DATASETS._items, "ws-five", DatasetSpec("ws-five", "sentiment-5", SENTIMENT5, _five, False, ""))
    monkeypatch.setitem(DATASETS._items, "ws-two", DatasetSpec("ws-two", "sentiment-2", BINARY, _two, False, ""))


def _config(path, backbone: str, train: str, out, adapter: str = "full", start: str | None = None) -> str:
    warm = f", warm_start: '{start}'" if start else ""
    path.write_text(
        f"model: {{type: text-classifier, backbone: {backbone}, adapter: {adapter}}}\n"
        f"data: {{train: '{train}', max_length: 12}}\n"
        f"train: {{epochs: 1, batch_size: 8, patience: null, lr: 0.001, seed: 3{warm}}}\n"
        f"output: {out}\n"
    )
    return str(path)


@pytest.fixture
def trained(tiny_backbone, tmp_path, sources):
    """A tiny 5-point model trained on ws-five: the model the other runs start from."""
    config = _config(tmp_path / "base.yaml", tiny_backbone, "ws-five", tmp_path / "base")
    result = runner.invoke(app, ["train", config, "--no-progress"])
    assert result.exit_code == 0, result.output
    return tmp_path / "base" / "best"


def test_a_mixture_continues_from_a_trained_model(trained, tiny_backbone, tmp_path):
    config = _config(tmp_path / "mix.yaml", tiny_backbone, "ws-five + ws-two", tmp_path / "mix", start=str(trained))
    prepared = prepare(load_experiment(config))
    saved = load_file(str(trained / "model.safetensors"))
    state = trainable_state(prepared.model)
    assert set(state) == set(saved)
    for name, tensor in saved.items():  # every trained tensor, not a fresh initialisation
        assert torch.equal(state[name], tensor.to(state[name].dtype)), name
    cold = prepare(load_experiment(_config(tmp_path / "cold.yaml", tiny_backbone, "ws-five + ws-two", tmp_path / "c")))
    assert any(not torch.equal(cold_t, state[k]) for k, cold_t in trainable_state(cold.model).items())
    assert prepared.extra["warm_start"]["model"] == str(trained)
    result = runner.invoke(app, ["train", config, "--no-progress"])
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "mix" / "best" / "config.json").read_text())
    assert recorded["warm_start"]["model"] == str(trained)  # the saved model says where it started


def test_a_model_that_does_not_fit_is_refused_naming_what_differs(trained, tiny_backbone, tmp_path):
    lora = _config(tmp_path / "lora.yaml", tiny_backbone, "ws-five", tmp_path / "l", adapter="lora", start=str(trained))
    with pytest.raises(ConfigError, match=r"do not fit this model.*'adapter': \('full', 'lora'\)"):
        prepare(load_experiment(lora))
    binary = _config(tmp_path / "two.yaml", tiny_backbone, "ws-two", tmp_path / "t", start=str(trained))
    with pytest.raises(ConfigError, match=r"its labels \['very negative'.*differ from this task's \['negative'"):
        prepare(load_experiment(binary))
    missing = _config(tmp_path / "m.yaml", tiny_backbone, "ws-five", tmp_path / "m", start=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="train.warm_start .*nowhere"):
        prepare(load_experiment(missing))


def test_a_bundle_starts_its_matching_component_or_says_which_to_pass(tiny_backbone, tmp_path, sources):
    bundle = PRETRAINED_DIR / "absa-en"
    config = _config(tmp_path / "b.yaml", tiny_backbone, "ws-five", tmp_path / "b", start=str(bundle))
    with pytest.raises(ConfigError, match="needs exactly one text-classifier component to start from; found none"):
        prepare(load_experiment(config))


def test_the_shipped_model_is_a_start(tmp_path, sources):
    shipped = json.loads((PRETRAINED_DIR / "sentiment-en" / "config.json").read_text())["model"]
    config = tmp_path / "s.yaml"
    config.write_text(
        f"model: {json.dumps(shipped)}\n"
        "data: {train: 'ws-five + ws-two', max_length: 12}\n"
        f"train: {{epochs: 1, warm_start: sentiment-en}}\noutput: {tmp_path / 's'}\n"
    )
    model = prepare(load_experiment(str(config))).model
    saved = load_file(str(PRETRAINED_DIR / "sentiment-en" / "model.safetensors"))
    state = trainable_state(model)
    assert set(state) == set(saved) and all(torch.equal(state[k], v.float()) for k, v in saved.items())
