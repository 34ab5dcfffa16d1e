"""Every text-classifier preset: trains on a handful of examples, saves, reloads and predicts the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sentimentkit.config import TrainConfig
from sentimentkit.data.collate import Encoded
from sentimentkit.inference.predict import predict_logits
from sentimentkit.labels import BINARY
from sentimentkit.models import build_model, load_checkpoint, save_checkpoint
from sentimentkit.training.metrics import classification_metrics
from sentimentkit.training.trainer import Trainer

DATA = [Encoded([101, 2204 if i % 2 else 2919, *([1012] * (i % 3)), 102], i % 2) for i in range(12)]
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

    def score(logits, labels):
        return classification_metrics(labels.tolist(), logits.argmax(-1).tolist(), BINARY)

    saved = {}

    def save(module, directory, metrics):
        save_checkpoint(module, directory, {"model": section, "labels": list(BINARY.names)})
        saved["logits"] = predict_logits(module, DATA)

    result = Trainer(model, DATA, DATA, ARGS, tmp_path, score, save, progress=False).fit()
    assert result.best_metric == 1.0
    reloaded, _ = load_checkpoint(tmp_path / "best")
    logits = predict_logits(reloaded, DATA)
    assert np.allclose(logits, saved["logits"], atol=1e-5)
    assert (logits.argmax(-1) == [x.label for x in DATA]).all()


def test_preset_refuses_another_adapter(tiny_backbone):
    with pytest.raises(ValueError, match="trains with adapter 'full'"):
        build_model({"type": "full-ft", "backbone": tiny_backbone, "adapter": "lora"}, BINARY)
