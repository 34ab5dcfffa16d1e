"""The one training loop: overfitting, best checkpoint, early stopping, and exact resume."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pytest
import torch

from sentimentkit.config import TrainConfig
from sentimentkit.data.encoding import TextItem
from sentimentkit.labels import BINARY
from sentimentkit.models import MODELS, build_model, load_checkpoint, save_checkpoint
from sentimentkit.models.base import trainable_state
from sentimentkit.tasks.base import forward_batches, gather_logits
from sentimentkit.tasks.document import TextClassification
from sentimentkit.training.loop import batch_order
from sentimentkit.training.trainer import Trainer

ARGS = TrainConfig(
    epochs=6, batch_size=4, lr=3e-3, warmup_ratio=0.1, patience=None, checkpoint_every=3, log_every=2, seed=3
)


# The binary text-classification task: it collates, measures lengths and scores (no tokenizer: items are encoded).
TASK = TextClassification(BINARY)


def toy_data(n: int = 16) -> list[TextItem]:
    """Token 2001 ('good'-ish) marks positives, 2002 negatives; lengths vary for bucketing."""
    return [TextItem((101, 2001 if i % 2 else 2002, *([1010] * (i % 5)), 102), i % 2) for i in range(n)]


def predict_logits(model, items, task=TASK) -> np.ndarray:
    """The model's logits (N, C) for `items`, in item order (eval mode, no targets)."""
    return gather_logits(list(forward_batches(model, task, items, 64)), len(items))


def make(backbone: str, adapter: str = "full"):
    torch.manual_seed(0)
    return build_model({"type": "text-classifier", "backbone": backbone, "adapter": adapter, "dropout": 0.1}, BINARY)


def trainer(model, data, args, run_dir, backbone: str, **kwargs) -> Trainer:
    """A Trainer on the binary task, the head at head_lr as the experiment runner sets it."""
    head = MODELS.get("text-classifier").head(model)
    return Trainer(
        model, TASK, data, data, args, run_dir, save_best=saver(backbone), head=head, progress=False, **kwargs
    )


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
    result = trainer(make(tiny_backbone), data, ARGS, tmp_path, tiny_backbone).fit()
    assert result.best_metric == 1.0
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert any("loss" in row for row in log) and any("eval" in row for row in log)
    reloaded, manifest = load_checkpoint(tmp_path / "best")
    assert manifest.labels.names == ("negative", "positive")
    assert manifest.task == "text-classification.v1" and manifest.preprocessing["max_length"] == 16
    logits = predict_logits(reloaded, data)
    assert (logits.argmax(-1) == np.array([x.label for x in data])).all()


def test_resume_after_interruption_matches_an_uninterrupted_run(tiny_backbone, tmp_path):
    data = toy_data()
    full = trainer(make(tiny_backbone), data, ARGS, tmp_path / "full", tiny_backbone)
    full.fit()
    reference = trainable_state(full.model)

    # Kill the run at step 10 (checkpoints every 3 steps: resumption restarts from step 9).
    model = make(tiny_backbone)
    calls = {"n": 0}
    original = model.forward

    def dying_forward(*args, **kwargs):
        if model.training:  # training steps only: evaluations run in eval mode
            calls["n"] += 1
            if calls["n"] == 10:
                raise KeyboardInterrupt
        return original(*args, **kwargs)

    model.forward = dying_forward
    interrupted = trainer(model, data, ARGS, tmp_path / "cut", tiny_backbone)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    assert interrupted.state.step == 9 < full.state.step
    assert torch.load(tmp_path / "cut" / "last" / "state.pt", weights_only=True)["state"]["step"] == 9

    resumed = trainer(make(tiny_backbone), data, ARGS, tmp_path / "cut", tiny_backbone)
    resumed.fit(resume=True)
    assert resumed.state.step == full.state.step
    for name, tensor in trainable_state(resumed.model).items():
        assert torch.equal(tensor, reference[name]), name


def test_training_time_is_summed_over_the_calls_that_resumed_the_run(tiny_backbone, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from sentimentkit.training import trainer as trainer_module

    clock = {"now": 0.0}  # a clock that only moves when a training step runs: 10 s per step
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(time=lambda: clock["now"]))
    data = toy_data()

    def timed(model, die_at=None):
        calls, original = {"n": 0}, model.forward

        def forward(*args, **kwargs):
            if model.training:
                calls["n"] += 1
                if calls["n"] == die_at:
                    raise KeyboardInterrupt
                clock["now"] += 10.0
            return original(*args, **kwargs)

        model.forward = forward
        return model

    interrupted = trainer(timed(make(tiny_backbone), die_at=10), data, ARGS, tmp_path / "cut", tiny_backbone)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit()
    assert torch.load(tmp_path / "cut" / "last" / "state.pt", weights_only=True)["state"]["seconds"] == 90.0
    result = trainer(timed(make(tiny_backbone)), data, ARGS, tmp_path / "cut", tiny_backbone).fit(resume=True)
    assert result.steps > 9
    assert result.seconds == 10.0 * result.steps  # steps 1-9 before the cut, the rest after; none counted twice


def test_early_stopping_stops_after_patience(tiny_backbone, tmp_path):
    data = toy_data()
    # A constant zero rate never improves after the first evaluation.
    args = dataclasses.replace(ARGS, lr=0.0, head_lr=0.0, patience=2, epochs=20)
    stopping = trainer(make(tiny_backbone), data, args, tmp_path, tiny_backbone)
    result = stopping.fit()
    assert result.stopped_early
    assert result.steps == 3 * stopping.steps_per_epoch


def test_trainer_refuses_empty_validation(tiny_backbone, tmp_path):
    with pytest.raises(ValueError, match="validation"):
        Trainer(make(tiny_backbone), TASK, toy_data(), [], ARGS, tmp_path, save_best=saver(tiny_backbone))


def test_callbacks_see_every_evaluation_and_raising_stops_the_run(tiny_backbone, tmp_path):
    data = toy_data()
    seen = []

    class Record:
        def on_start(self, total_steps, steps_per_epoch):  # optional: told the run's length once
            seen.append(("start", total_steps, steps_per_epoch))

        def on_eval(self, step, metrics):
            seen.append((step, metrics["accuracy"]))

    class Prune:
        def on_eval(self, step, metrics):
            if step == 8:
                raise RuntimeError("pruned")

    args = dataclasses.replace(ARGS, epochs=3)
    first = trainer(make(tiny_backbone), data, args, tmp_path / "all", tiny_backbone, callbacks=[Record()])
    assert first.state.best_metric is None  # nothing measured yet
    first.fit()
    assert seen[0] == ("start", 12, 4)
    assert [step for step, _ in seen[1:]] == [4, 8, 12]  # every epoch of 4 steps
    assert all(0.0 <= accuracy <= 1.0 for _, accuracy in seen[1:])
    pruned = trainer(make(tiny_backbone), data, args, tmp_path / "pruned", tiny_backbone, callbacks=[Prune()])
    with pytest.raises(RuntimeError, match="pruned"):
        pruned.fit()
    assert pruned.state.step == 8


class ScriptedLoss:
    """The binary task, but validation reports a scripted "loss" (a metric that is better lower)."""

    def __init__(self, values: list[float]) -> None:
        self.values = list(values)

    def length(self, item):
        return TASK.length(item)

    def collate(self, items):
        return TASK.collate(items)

    def score(self, outputs, items):
        return {"loss": self.values.pop(0)}


def test_a_lower_is_better_metric_selects_the_lowest_value(tiny_backbone, tmp_path):
    data = toy_data()
    saved_at = []

    def save(model, directory, metrics):
        saved_at.append(metrics["loss"])

    args = dataclasses.replace(ARGS, lr=0.0, head_lr=0.0, epochs=5, metric="loss")
    task = ScriptedLoss([0.5, 0.7, 0.3, 0.4, 0.35])
    result = Trainer(make(tiny_backbone), task, data, data, args, tmp_path, save_best=save, progress=False).fit()
    assert (result.best_metric, result.best_step) == (0.3, 12)
    assert result.best_metrics == {"loss": 0.3}
    assert saved_at == [0.5, 0.3]  # the first evaluation, then each improvement only
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [row["improved"] for row in log if "eval" in row] == [True, False, True, False, False]


def test_a_metric_the_task_does_not_report_is_named(tiny_backbone, tmp_path):
    args = dataclasses.replace(ARGS, metric="f1_ate")
    with pytest.raises(KeyError, match="train.metric 'f1_ate' is not among the validation metrics"):
        trainer(make(tiny_backbone), toy_data(), args, tmp_path, tiny_backbone).fit()


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_native_bfloat16_warns_and_still_trains(tiny_backbone, tmp_path, monkeypatch, native):
    from sentimentkit.training import loop

    monkeypatch.setattr(loop, "native_bf16", lambda: native)
    args = dataclasses.replace(ARGS, epochs=1, bf16=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = trainer(make(tiny_backbone), toy_data(8), args, tmp_path, tiny_backbone).fit()
    slow = [w for w in caught if "no native bfloat16" in str(w.message)]
    assert len(slow) == (0 if native else 1)
    assert result.steps == 2  # bf16 runs as asked either way
