"""Trainer: the one training loop with evaluation, early stopping, best checkpoint and exact resume.

Resuming after an interruption reproduces the uninterrupted run: the batch order is a function of
(seed, epoch), and the checkpoint stores the trainable tensors, optimizer, schedule, RNG and counters.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import TrainConfig
from ..data.collate import Encoded, pad_batch
from ..inference.predict import predict_logits
from ..models.base import trainable_state
from .loop import batch_order, make_optimizer, make_schedule

ScoreFn = Callable[[np.ndarray, np.ndarray], dict]
SaveFn = Callable[[nn.Module, Path, dict], None]


@dataclass
class TrainState:
    """Counters that a resumed run must restore."""

    step: int = 0
    best_metric: float = -math.inf
    best_step: int = -1
    best_metrics: dict = field(default_factory=dict)
    bad_evals: int = 0
    stopped_early: bool = False


@dataclass(frozen=True)
class TrainResult:
    best_metric: float
    best_step: int
    best_metrics: dict
    steps: int
    stopped_early: bool
    seconds: float


class Trainer:
    """Fit `model` on encoded examples, selecting on `validation` by `args.metric` (higher is better).

    `score(logits, label_ids)` returns a metrics dict; `save_best(model, directory, metrics)` writes the
    best model (safetensors + JSON); `on_eval(step, metrics)`, if given, sees every evaluation (a
    hyper-parameter search uses it to prune a trial by raising). Items need `input_ids` (for length
    bucketing) and `label`; `collate` turns a list of them into the model's keyword arguments.
    `evaluate(model, validation)`, if given, returns the metrics instead of `score` over `predict_logits`
    (for outputs that are not one row of logits per item, such as token tags; then items need no `label`).
    Output: `<output>/best/`, `<output>/last/` (resumable), `<output>/log.jsonl`.
    """

    def __init__(
        self,
        model: nn.Module,
        train: Sequence[Encoded],
        validation: Sequence[Encoded],
        args: TrainConfig,
        output_dir: str | Path,
        score: ScoreFn,
        save_best: SaveFn,
        progress: bool = True,
        on_eval: Callable[[int, dict], None] | None = None,
        collate: Callable[[list], dict] = pad_batch,
        evaluate: Callable[[nn.Module, Sequence], dict] | None = None,
    ) -> None:
        if not train:
            raise ValueError("no training examples")
        if not validation:
            raise ValueError("no validation examples: model selection needs a validation split")
        self.model, self.train, self.validation, self.args = model, train, validation, args
        self.output = Path(output_dir)
        self.score, self.save_best, self.progress, self.on_eval = score, save_best, progress, on_eval
        self.collate = collate
        self.evaluate_fn = evaluate
        self.lengths = [len(x.input_ids) for x in train]
        self.steps_per_epoch = math.ceil(len(train) / args.batch_size)
        self.total_steps = max(1, math.ceil(args.epochs * self.steps_per_epoch))
        self.eval_every = args.eval_every or self.steps_per_epoch
        self.optimizer = make_optimizer(model, args)
        self.schedule = make_schedule(self.optimizer, args, self.total_steps)
        self.state = TrainState()

    # -- checkpoints ---------------------------------------------------------------------------------
    def _save_last(self) -> None:
        from safetensors.torch import save_file

        tmp, last, old = self.output / "last.tmp", self.output / "last", self.output / "last.old"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file(trainable_state(self.model), str(tmp / "model.safetensors"))
        torch.save(
            {
                "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(),
                "rng": torch.get_rng_state(),
                "state": self.state.__dict__,
            },
            tmp / "state.pt",
        )
        shutil.rmtree(old, ignore_errors=True)
        if last.exists():
            last.rename(old)
        tmp.rename(last)
        shutil.rmtree(old, ignore_errors=True)

    def _load_last(self) -> bool:
        from safetensors.torch import load_file

        last = self.output / "last"
        if not (last / "state.pt").exists():
            last = self.output / "last.old"  # interrupted between the two renames
        if not (last / "state.pt").exists():
            return False
        self.model.load_state_dict(load_file(str(last / "model.safetensors")), strict=False)
        saved = torch.load(last / "state.pt", weights_only=True)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["schedule"])
        torch.set_rng_state(saved["rng"])
        self.state = TrainState(**saved["state"])
        return True

    def _log(self, row: dict) -> None:
        with open(self.output / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    # -- evaluation ----------------------------------------------------------------------------------
    def evaluate(self) -> dict:
        if self.evaluate_fn is not None:
            return self.evaluate_fn(self.model, self.validation)
        logits = predict_logits(self.model, self.validation, self.args.eval_batch_size, collate=self.collate)
        labels = np.array([x.label for x in self.validation])
        return self.score(logits, labels)

    def _after_eval(self, metrics: dict) -> None:
        value = float(metrics[self.args.metric])
        improved = value > self.state.best_metric
        if improved:
            self.state.best_metric, self.state.best_step = value, self.state.step
            self.state.best_metrics = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
            self.state.bad_evals = 0
            self.save_best(self.model, self.output / "best", metrics)
        else:
            self.state.bad_evals += 1
        if self.args.patience is not None and self.state.bad_evals >= self.args.patience:
            self.state.stopped_early = True
        self._log(
            {
                "step": self.state.step,
                "eval": self.state.best_metrics if improved else metrics,
                "improved": improved,
                "time": time.time(),
            }
        )

    # -- the loop ------------------------------------------------------------------------------------
    def fit(self, resume: bool = True) -> TrainResult:
        """Train to the end (or early stop), resuming from `<output>/last` when it exists and `resume`."""
        start = time.time()
        self.output.mkdir(parents=True, exist_ok=True)
        if not (resume and self._load_last()):
            torch.manual_seed(self.args.seed)
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.args.bf16 else contextlib.nullcontext()
        self.model.train()
        with _progress(self.progress, self.total_steps, self.state.step) as advance:
            running, count = 0.0, 0
            while self.state.step < self.total_steps and not self.state.stopped_early:
                epoch, offset = divmod(self.state.step, self.steps_per_epoch)
                batches = batch_order(self.lengths, self.args.batch_size, self.args.seed, epoch, self.args.bucket)
                for idx in batches[offset:]:
                    batch = self.collate([self.train[i] for i in idx])
                    with autocast:
                        loss = self.model(**batch)["loss"]
                    loss.backward()
                    if self.args.grad_clip:
                        nn.utils.clip_grad_norm_(
                            [p for p in self.model.parameters() if p.requires_grad], self.args.grad_clip
                        )
                    self.optimizer.step()
                    self.schedule.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    self.state.step += 1
                    running, count = running + loss.item(), count + 1
                    advance(running / count)
                    step = self.state.step
                    if step % self.args.log_every == 0:
                        self._log(
                            {
                                "step": step,
                                "epoch": step / self.steps_per_epoch,
                                "loss": running / count,
                                "lr": self.schedule.get_last_lr()[0],
                                "time": time.time(),
                            }
                        )
                        running, count = 0.0, 0
                    evaluated = step % self.eval_every == 0 or step == self.total_steps
                    if evaluated:
                        self._after_eval(self.evaluate())
                        self.model.train()
                    if evaluated or step % self.args.checkpoint_every == 0:
                        self._save_last()
                    if step >= self.total_steps or self.state.stopped_early:
                        break
        s = self.state
        return TrainResult(s.best_metric, s.best_step, s.best_metrics, s.step, s.stopped_early, time.time() - start)


@contextlib.contextmanager
def _progress(enabled: bool, total: int, done: int):
    """A rich progress bar with ETA and the running loss; a no-op when disabled."""
    if not enabled:
        yield lambda loss: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [
        TextColumn("train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
    ]
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("train", total=total, completed=done, loss=float("nan"))
        yield lambda loss: bar.update(task, advance=1, loss=loss)
