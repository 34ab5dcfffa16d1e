"""Trainer: the one training loop with evaluation, early stopping, best checkpoint and exact resume.

Resuming after an interruption reproduces the uninterrupted run: the batch order is a function of
(seed, epoch), and the checkpoint stores the trainable tensors, optimizer, schedule, RNG and counters.
Any task trains here: the trainer asks the task to collate, to measure lengths and to score.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ..config import TrainConfig
from ..metrics import higher_is_better
from ..models.base import load_trainable_state, trainable_state
from ..tasks.base import Metrics, Task, forward_batches
from .loop import make_optimizer, make_schedule, train_steps

SaveFn = Callable[[nn.Module, Path, Metrics], None]


class Callback(Protocol):
    """Sees every evaluation. Raising stops the run (a hyper-parameter search prunes a trial this way).

    A callback may also define `on_start(total_steps, steps_per_epoch)`: called once before training, a resumed
    run included, with the run's length in optimizer steps."""

    def on_eval(self, step: int, metrics: Metrics) -> None: ...


@dataclass
class TrainState:
    """Counters that a resumed run must restore."""

    step: int = 0
    best_metric: float | None = None
    best_step: int = -1
    best_metrics: dict = field(default_factory=dict)
    bad_evals: int = 0
    stopped_early: bool = False
    seconds: float = 0.0  # training time up to the last checkpoint, summed over every call that resumed the run


@dataclass(frozen=True)
class TrainResult:
    best_metric: float
    best_step: int
    best_metrics: dict
    steps: int
    stopped_early: bool
    seconds: float  # the whole run's training time, summed over the calls that resumed it


class Trainer:
    """Fit `model` on a task's encoded items, selecting on `validation` by `args.metric`.

    `save_best(model, directory, metrics)` writes the best model (safetensors + manifest); every callback's
    `on_eval(step, metrics)` sees each evaluation. `head` are the parameters that train at `args.head_lr`
    (default: the model's `head` submodule).
    Output: `<run_dir>/best/`, `<run_dir>/last/` (resumable), `<run_dir>/log.jsonl`.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        train: Sequence[Any],
        validation: Sequence[Any],
        args: TrainConfig,
        run_dir: str | Path,
        callbacks: Sequence[Callback] = (),
        save_best: SaveFn | None = None,
        head: Iterable[nn.Parameter] | None = None,
        progress: bool = True,
    ) -> None:
        if not train:
            raise ValueError("no training examples")
        if not validation:
            raise ValueError("no validation examples: model selection needs a validation split")
        self.model, self.task, self.train, self.validation, self.args = model, task, train, validation, args
        self.output = Path(run_dir)
        self.callbacks, self.save_best, self.progress = list(callbacks), save_best, progress
        self.steps_per_epoch = math.ceil(len(train) / args.batch_size)
        self.total_steps = max(1, math.ceil(args.epochs * self.steps_per_epoch))
        self.eval_every = args.eval_every or self.steps_per_epoch
        self.higher_is_better = higher_is_better(args.metric)
        self.optimizer = make_optimizer(model, args, head)
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
        load_trainable_state(self.model, load_file(str(last / "model.safetensors")), str(last))
        saved = torch.load(last / "state.pt", weights_only=True)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.schedule.load_state_dict(saved["schedule"])
        torch.set_rng_state(saved["rng"])
        state = dict(saved["state"])
        if state.get("best_metric") == -math.inf:  # written before best_metric could be None
            state["best_metric"] = None
        self.state = TrainState(**state)
        return True

    def _log(self, row: dict) -> None:
        with open(self.output / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    # -- evaluation ----------------------------------------------------------------------------------
    def evaluate(self) -> Metrics:
        outputs = list(forward_batches(self.model, self.task, self.validation, self.args.eval_batch_size))
        return self.task.score(outputs, self.validation)

    def _improves(self, value: float) -> bool:
        best = self.state.best_metric
        if best is None:
            return True
        return value > best if self.higher_is_better else value < best

    def _after_eval(self, metrics: Metrics) -> None:
        if self.args.metric not in metrics:
            raise KeyError(
                f"train.metric {self.args.metric!r} is not among the validation metrics "
                f"{sorted(k for k, v in metrics.items() if isinstance(v, int | float))}"
            )
        value = float(metrics[self.args.metric])
        improved = self._improves(value)
        if improved:
            self.state.best_metric, self.state.best_step = value, self.state.step
            self.state.best_metrics = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
            self.state.bad_evals = 0
            if self.save_best is not None:
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
        for callback in self.callbacks:
            callback.on_eval(self.state.step, metrics)

    # -- the loop ------------------------------------------------------------------------------------
    def fit(self, resume: bool = True) -> TrainResult:
        """Train to the end (or early stop), resuming from `<run_dir>/last` when it exists and `resume`."""
        self.output.mkdir(parents=True, exist_ok=True)
        if not (resume and self._load_last()):
            torch.manual_seed(self.args.seed)
        start, before = time.time(), self.state.seconds  # time lost after the last checkpoint is not counted
        for callback in self.callbacks:
            if hasattr(callback, "on_start"):
                callback.on_start(self.total_steps, self.steps_per_epoch)
        with _progress(self.progress, self.total_steps, self.state.step) as advance:
            running, count = 0.0, 0
            steps = train_steps(
                self.model, self.task, self.train, self.args, self.optimizer, self.schedule,
                self.state.step, self.total_steps,
            )  # fmt: skip
            for step, loss in steps if not self.state.stopped_early else ():
                self.state.step = step
                running, count = running + loss, count + 1
                advance(running / count)
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
                if evaluated or step % self.args.checkpoint_every == 0:
                    self.state.seconds = before + time.time() - start
                    self._save_last()
                if self.state.stopped_early:
                    break
        s = self.state
        best = s.best_metric if s.best_metric is not None else math.nan
        return TrainResult(best, s.best_step, s.best_metrics, s.step, s.stopped_early, before + time.time() - start)


@contextlib.contextmanager
def _progress(enabled: bool, total: int, done: int) -> Iterator[Callable[[float], None]]:
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
