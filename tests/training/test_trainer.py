"""The one training loop: overfitting, best checkpoint, early stopping, and exact resume."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from sentimentkit.config import TrainConfig
from sentimentkit.data.collate import Encoded
from sentimentkit.labels import BINARY
from sentimentkit.models import build_model, load_checkpoint, save_checkpoint
from sentimentkit.models.base import trainable_state
from sentimentkit.training.loop import batch_order
from sentimentkit.training.metrics import classification_metrics
from sentimentkit.training.trainer import Trainer

ARGS = TrainConfig(
    epochs=6, batch_size=4, lr=3e-3, warmup_ratio=0.1, patience=None, checkpoint_every=3, log_every=2, seed=3
)


def toy_data(n: int = 16) -> list[Encoded]:
    """Token 2001 ('good'-ish) marks positives, 2002 negatives; lengths vary for bucketing."""
    return [Encoded([101, 2001 if i % 2 else 2002, *([1010] * (i % 5)), 102], i % 2) for i in range(n)]


def make(backbone: str, adapter: str = "full"):
    torch.manual_seed(0)
    return build_model({"type": "text-classifier", "backbone": backbone, "adapter": adapter, "dropout": 0.1}, BINARY)


def score(logits: np.ndarray, labels: np.ndarray) -> dict:
    return classification_metrics(labels.tolist(), logits.argmax(-1).tolist(), BINARY)


def saver(backbone: str):
    def save(model, directory, metrics):
        meta = {
            "model": {"type": "text-classifier", "backbone": backbone, "adapter": "full"},
            "labels": list(BINARY.names),
            "max_length": 16,
        }
        save_checkpoint(model, directory, meta)

    return save


def test_batch_order_is_a_function_of_seed_and_epoch_and_covers_everything():
    lengths = [i % 7 for i in range(100)]
    a = batch_order(lengths, 8, seed=1, epoch=0, bucket=True)
    assert a == batch_order(lengths, 8, seed=1, epoch=0, bucket=True)
    assert a != batch_order(lengths, 8, seed=1, epoch=1, bucket=True)
    assert sorted(i for b in a for i in b) == list(range(100))


def test_overfits_saves_best_and_reloads_identically(tiny_backbone, tmp_path):
    data = toy_data()
    trainer = Trainer(make(tiny_backbone), data, data, ARGS, tmp_path, score, saver(tiny_backbone), progress=False)
    result = trainer.fit()
    assert result.best_metric == 1.0
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert any("loss" in row for row in log) and any("eval" in row for row in log)
    reloaded, meta = load_checkpoint(tmp_path / "best")
    assert meta["labels"] == ["negative", "positive"]
    from sentimentkit.inference.predict import predict_logits

    logits = predict_logits(reloaded, data)
    assert (logits.argmax(-1) == np.array([x.label for x in data])).all()


def test_resume_after_interruption_matches_an_uninterrupted_run(tiny_backbone, tmp_path):
    data = toy_data()
    full = Trainer(make(tiny_backbone), data, data, ARGS, tmp_path / "full", score, saver(tiny_backbone), False)
    full.fit()
    reference = trainable_state(full.model)

    # Kill the run at step 10 (checkpoints every 3 steps: resumption restarts from step 9).
    model = make(tiny_backbone)
    calls = {"n": 0}
    original = model.forward

    def dying_forward(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 11 and model.training:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    model.forward = dying_forward
    interrupted = Trainer(model, data, data, ARGS, tmp_path / "cut", score, saver(tiny_backbone), False)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    assert 0 < interrupted.state.step < full.state.step

    resumed = Trainer(make(tiny_backbone), data, data, ARGS, tmp_path / "cut", score, saver(tiny_backbone), False)
    resumed.fit(resume=True)
    assert resumed.state.step == full.state.step
    for name, tensor in trainable_state(resumed.model).items():
        assert torch.equal(tensor, reference[name]), name


def test_early_stopping_stops_after_patience(tiny_backbone, tmp_path):
    data = toy_data()
    # A constant zero rate never improves after the first evaluation.
    args = dataclasses.replace(ARGS, lr=0.0, head_lr=0.0, patience=2, epochs=20)
    trainer = Trainer(make(tiny_backbone), data, data, args, tmp_path, score, saver(tiny_backbone), False)
    result = trainer.fit()
    assert result.stopped_early
    assert result.steps == 3 * trainer.steps_per_epoch


def test_trainer_refuses_empty_validation(tiny_backbone, tmp_path):
    with pytest.raises(ValueError, match="validation"):
        Trainer(make(tiny_backbone), toy_data(), [], ARGS, tmp_path, score, saver(tiny_backbone), False)
