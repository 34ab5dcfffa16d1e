"""Every text-classifier preset: trains on a handful of examples, saves, reloads and predicts the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentimentkit.config import TrainConfig
from sentimentkit.data.encoding import TextItem
from sentimentkit.labels import BINARY, IGNORE_INDEX
from sentimentkit.models import MODELS, build_model, load_checkpoint, save_checkpoint
from sentimentkit.training.trainer import Trainer
from tests.training.test_trainer import TASK, predict_logits

DATA = [TextItem((101, 2204 if i % 2 else 2919, *([1012] * (i % 3)), 102), i % 2) for i in range(12)]
ARGS = TrainConfig(epochs=15, batch_size=4, lr=1e-2, head_lr=1e-2, patience=None, warmup_ratio=0.0, seed=1)


@pytest.mark.parametrize(
    ("kind", "trainable"),
    [("full-ft", "all"), ("lora", "lora"), ("bitfit", "bias"), ("text-classifier", "lora")],
)
def test_preset_overfits_saves_and_reloads(tiny_backbone, tmp_path, kind, trainable):
    section = {"type": kind, "backbone": tiny_backbone}
    torch.manual_seed(0)
    model = build_model(section, BINARY)
    names = [n for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    if trainable == "all":
        assert len(names) == len(list(model.encoder.parameters()))
    elif trainable == "lora":
        assert names and all("lora_" in n for n in names)
    else:
        assert names and all(n.endswith(".bias") for n in names)

    saved = {}

    def save(module, directory, metrics):
        save_checkpoint(module, directory, {"model": section, "labels": list(BINARY.names)})
        saved["logits"] = predict_logits(module, DATA)

    head = MODELS.get(kind).head(model)
    result = Trainer(model, TASK, DATA, DATA, ARGS, tmp_path, save_best=save, head=head, progress=False).fit()
    assert result.best_metric == 1.0
    reloaded, manifest = load_checkpoint(tmp_path / "best")
    assert manifest.model["type"] == kind and manifest.task == "text-classification.v1"
    logits = predict_logits(reloaded, DATA)
    assert np.allclose(logits, saved["logits"], atol=1e-5)
    assert (logits.argmax(-1) == [x.label for x in DATA]).all()


def test_preset_refuses_another_adapter(tiny_backbone):
    with pytest.raises(ValueError, match="trains with adapter 'full'"):
        build_model({"type": "full-ft", "backbone": tiny_backbone, "adapter": "lora"}, BINARY)


def test_the_runtime_is_chosen_at_load_time_not_in_the_config(tiny_backbone, tiny_model_dir):
    from sentimentkit.config import ConfigError
    from sentimentkit.encoders.bert import NativeBert
    from sentimentkit.labels import SENTIMENT5
    from sentimentkit.models.base import Runtime

    with pytest.raises(ConfigError, match="implementation"):
        build_model({"type": "text-classifier", "backbone": tiny_backbone, "implementation": "native"}, BINARY)
    reference, _ = load_checkpoint(tiny_model_dir)
    native, manifest = load_checkpoint(tiny_model_dir, Runtime("native"))
    assert isinstance(native.encoder.model, NativeBert) and not isinstance(reference.encoder.model, NativeBert)
    assert manifest.labels == SENTIMENT5
    task = type(TASK)(SENTIMENT5)
    items = [TextItem(x.input_ids, IGNORE_INDEX) for x in DATA]
    expected = predict_logits(reference, items, task)
    assert not np.allclose(expected, expected[:1])  # rows differ: the comparison can fail
    np.testing.assert_allclose(predict_logits(native, items, task), expected, atol=1e-4)
