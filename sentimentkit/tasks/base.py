"""The task seam: a task reads its examples, encodes them, collates batches, scores outputs and decodes predictions.

Training (`training/`) and inference (`inference/`) are two task-agnostic consumers of a `Task`; neither branches
on task names. A task class is registered in `TASKS` under a versioned name ("text-classification.v1") that
model folders record (`hub.Manifest.task`) and model specs name (`models.base.ModelSpec.task`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from ..config import ConfigError
from ..registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from ..config import ExperimentConfig
    from ..hub import Manifest
    from ..labels import LabelSet
    from ..models.base import ModelOutput, Runtime
    from ..types import Prediction

Metrics = dict[str, Any]
# The outputs of a forward pass over items, batch by batch: (the items' indices, the batch's output).
Outputs = list[tuple[list[int], "ModelOutput"]]


class Task(Protocol):
    """What training and inference need from a task. Items are encoded examples; a batch is what models take."""

    name: ClassVar[str]
    labels: LabelSet
    metric: ClassVar[str]  # the default validation metric of this task

    def examples(self, source: str, split: str, data_dir: str | None = None) -> list[Any]:
        """The examples of `split` of a named dataset, or of a labelled file (`source`)."""
        ...

    def encode(self, examples: Sequence[Any]) -> list[Any]:
        """Examples -> items: the one place where this task's labels become target ids."""
        ...

    def length(self, item: Any) -> int:
        """The item's length, for length bucketing."""
        ...

    def collate(self, items: Sequence[Any]) -> Any:
        """Items -> one padded batch (a function of `data/collate.py`)."""
        ...

    def score(self, outputs: Outputs, items: Sequence[Any]) -> Metrics:
        """Metrics of the model outputs against the items' targets."""
        ...

    def preprocessing(self) -> dict[str, Any]:
        """The settings inference needs to encode as in training; written into the Manifest."""
        ...

    def predict(self, model: Any, inputs: Sequence[Any], batch_size: int, **options: Any) -> list[Prediction]:
        """One Prediction per input (in order)."""
        ...


class TaskFactory(Protocol):
    """A task class: built for training from a config (reading and encoding its data), or for inference from a
    model folder's manifest."""

    name: ClassVar[str]

    def for_training(self, config: ExperimentConfig, model_config: Any) -> tuple[Task, TrainingData]:
        """The task for a config (labels, tokenizer, window) and its encoded train and validation data."""
        ...

    def from_manifest(self, manifest: Manifest, runtime: Runtime) -> tuple[Task, Any]:
        """The task and the model it runs (a module, or for a bundle the object holding its parts)."""
        ...


TASKS: Registry[Any] = Registry("task")
BUILTIN_TASKS = {
    "text-classification.v1": "document",
    "aspect-polarity.v1": "aspect",
    "aspect-sentiment.v1": "aspect",
    "aspect-extraction.v1": "extraction",
    "multimodal-regression.v1": "multimodal",
    "sentiment-word-pretraining.v1": "pretraining",
    "masked-lm-pretraining.v1": "pretraining",
    "multimodal-sentiment-word-pretraining.v1": "pretraining_mm",
}


def _declare_builtin() -> None:
    for name, module in BUILTIN_TASKS.items():
        TASKS.add_lazy(name, f"{__package__}.{module}")


_declare_builtin()


@dataclass(frozen=True)
class TrainingData:
    """What a task hands the trainer: encoded train and validation items and their sizes."""

    train: list[Any]
    validation: list[Any]
    save_extra: Callable[[Path], None] | None = None  # e.g. a word vocabulary beside the weights
    model_overrides: dict[str, Any] = field(default_factory=dict)  # model settings the data fixes (vocab_size)
    train_examples: list[Any] | None = None  # the examples `train` encodes, in order (distillation reads their text)


@dataclass(frozen=True)
class ArrayOutput:
    """What an `ItemsModel` returns for a batch: logits as a numpy array, (B, C) or (B, T, C)."""

    logits: np.ndarray


@runtime_checkable
class ItemsModel(Protocol):
    """A model that is not a torch module (an exported ONNX graph): it pads the items itself, without torch."""

    def forward_items(self, items: Sequence[Any]) -> ArrayOutput: ...


def forward_batches(
    model: nn.Module | ItemsModel,
    task: Task,
    items: Sequence[Any],
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[tuple[list[int], ModelOutput | ArrayOutput]]:
    """Forward passes over `items` in batches of similar length (less padding), in eval mode, without targets.

    Yields (the items' indices, the batch's output: a ModelOutput, or an ArrayOutput for an `ItemsModel`); a torch
    model's train/eval mode is restored afterwards.
    """
    order = sorted(range(len(items)), key=lambda i: task.length(items[i]))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if isinstance(model, ItemsModel):
        for idx in batches:
            yield idx, model.forward_items([items[i] for i in idx])
            if on_batch is not None:
                on_batch(len(idx))
        return
    yield from _torch_batches(model, task, items, batches, on_batch)


def _torch_batches(
    model: nn.Module,
    task: Task,
    items: Sequence[Any],
    batches: list[list[int]],
    on_batch: Callable[[int], None] | None,
) -> Iterator[tuple[list[int], ModelOutput]]:
    import torch

    was_training = model.training
    model.eval()
    try:
        for idx in batches:
            with torch.inference_mode():
                output = model(task.collate([items[i] for i in idx]).without_labels())
            yield idx, output
            if on_batch is not None:
                on_batch(len(idx))
    finally:
        model.train(was_training)


def gather_logits(outputs: Outputs, n: int) -> np.ndarray:
    """Per-item logits (N, C) in item order, from batched outputs of one logit row per item."""
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    width = outputs[0][1].logits.shape[-1]
    result = np.empty((n, width), dtype=np.float32)
    for idx, out in outputs:
        logits = out.logits
        result[idx] = logits if isinstance(logits, np.ndarray) else logits.float().numpy()
    return result


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) logits (an empty array stays empty: a call whose inputs are all blank)."""
    if logits.size == 0:
        return logits
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def check_labels(examples: Sequence[Any], labels: LabelSet, field: str, what: str) -> None:
    """Every example's label is in `labels`, else ValueError naming the first offending example's source."""
    known = set(labels.names)
    unknown = sorted({getattr(x, field) for x in examples if getattr(x, field) is not None} - known)
    if unknown:
        where = next(x.source or x.id for x in examples if getattr(x, field) in unknown)
        raise ValueError(f"{what} has labels {unknown} outside {list(labels.names)} (first at {where})")


def refuse_class_weights(config: ExperimentConfig, task: str) -> None:
    """A task whose loss does not weigh classes refuses a `data.class_weights` other than "none": every task sees
    the data section, and ignoring the key would train a model other than the one the config asks for."""
    value = config.data.class_weights
    if value != "none":
        raise ConfigError(
            f"data.class_weights: {value!r} is not supported by {task} models (only aspect-polarity.v1 weighs its "
            "loss by class); remove data.class_weights or set it to none"
        )


def subset(examples: list[Any], n: int | None, seed: int) -> list[Any]:
    """The first `n` examples of a seeded shuffle (all of them when n is None)."""
    import random

    if n is None:
        return examples
    return random.Random(seed).sample(examples, min(n, len(examples)))


def batch_count(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


def option(options: Mapping[str, Any], name: str, default: Any) -> Any:
    """A predict option with its default (None counts as not given)."""
    value = options.get(name)
    return default if value is None else value
