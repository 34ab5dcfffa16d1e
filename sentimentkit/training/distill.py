"""Knowledge distillation: a smaller student learns a document model's (the teacher's) probabilities.

The student is any document model config (`configs/distill-minilm3.yaml`: MiniLM cut to 3 layers and initialised
from alternate layers of the teacher; `configs/distill-bilstm.yaml`: the BiLSTM). Its training targets are soft:
on each labelled training text, alpha * the gold label + (1 - alpha) * the teacher's distribution (softened by
`temperature`); on each unlabelled text (optional `unlabelled` set), the teacher's distribution alone. The loss is
the cross-entropy against those targets (the models' own loss: torch's cross_entropy takes class probabilities).
Selection is on the config's validation split with gold labels, as for any training run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ExperimentConfig
from ..data.encoding import TextItem
from ..hub import read_manifest, resolve
from ..labels import IGNORE_INDEX
from ..tasks.base import TASKS
from ..types import TextExample
from .experiment import Prepared, prepare
from .trainer import Callback, TrainResult

TEACHER_FILE = "teacher.npz"  # the teacher's probabilities over the transfer texts, cached in the run folder


@dataclass(frozen=True)
class SoftItem:
    """A training text with a probability target over the labels instead of one label id."""

    item: TextItem
    target: tuple[float, ...]


class SoftTargets:
    """The student's task, collating SoftItems into batches whose `labels` are (B, C) probabilities; everything
    else (validation items, scoring, saving) is the wrapped task's."""

    def __init__(self, task: Any) -> None:
        self.task = task
        self.name, self.metric, self.labels = task.name, task.metric, task.labels

    def length(self, item: Any) -> int:
        return self.task.length(item.item if isinstance(item, SoftItem) else item)

    def collate(self, items: Sequence[Any]) -> Any:
        import torch

        if not all(isinstance(x, SoftItem) for x in items):
            return self.task.collate(items)
        batch = self.task.collate([replace(x.item, label=0) for x in items])
        batch.labels = torch.tensor([x.target for x in items], dtype=torch.float32)  # (B, C)
        return batch

    def score(self, outputs: Any, items: Sequence[Any]) -> Any:
        return self.task.score(outputs, items)

    def preprocessing(self) -> dict[str, Any]:
        return self.task.preprocessing()


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    """p^(1/T), renormalised: T > 1 flattens the teacher's distribution (more of its dark knowledge), T = 1 keeps it."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logp = np.log(np.clip(probs, 1e-12, 1.0)) / temperature
    logp -= logp.max(-1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(-1, keepdims=True)


def targets(gold: Sequence[int], teacher: np.ndarray, alpha: float) -> np.ndarray:
    """alpha * one-hot(gold) + (1 - alpha) * teacher for labelled rows; the teacher's row where gold is IGNORE_INDEX."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out = teacher.astype(np.float32).copy()
    for i, g in enumerate(gold):
        if g != IGNORE_INDEX:
            out[i] *= 1.0 - alpha
            out[i, g] += alpha
    return out


def teacher_probabilities(teacher: str, texts: Sequence[str], labels: Sequence[str], folder: Path) -> np.ndarray:
    """The teacher's probabilities over `texts` in the student's label order, cached in `folder` by content: the
    texts, the labels and the teacher's files (a shipped name that now means a newer model is a new teacher)."""
    content = hashlib.sha256(json.dumps([teacher, list(labels), list(texts)]).encode())
    for path in sorted(Path(resolve(teacher).path).iterdir()):
        if path.is_file() and path.suffix in (".json", ".safetensors", ".bin", ".pt"):
            with path.open("rb") as f:
                content.update(path.name.encode() + hashlib.file_digest(f, "sha256").digest())
    digest = content.hexdigest()
    cache = folder / TEACHER_FILE
    if cache.exists():
        saved = np.load(cache)
        if str(saved["digest"]) == digest:
            return saved["probs"]
    from ..models.base import Runtime

    manifest = read_manifest(resolve(teacher).path)
    task, model = TASKS.get(manifest.task).from_manifest(manifest, Runtime("native"))
    if list(task.labels.names) != list(labels):
        raise ValueError(
            f"teacher {teacher!r} predicts {list(task.labels.names)}; the student's labels are {list(labels)}"
        )
    predictions = task.predict(model, [TextExample(text=t) for t in texts], 64)
    bad = next((p for p in predictions if p.error), None)
    if bad is not None:
        raise ValueError(f"the teacher could not score a transfer text ({bad.error}): {bad.text[:60]!r}")
    probs = np.array([[p.probabilities[n] for n in labels] for p in predictions], dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(cache, probs=probs, digest=np.array(digest))
    return probs


def init_from_teacher(student: Any, teacher: str) -> list[int]:
    """Copy the teacher's weights into a student MiniLM cut with `keep_layers`: embeddings, the kept layers (the
    teacher's adapters merged in first) and the head. Returns the teacher layers copied."""
    from ..models.base import Runtime

    manifest = read_manifest(resolve(teacher).path)
    _, model = TASKS.get(manifest.task).from_manifest(manifest, Runtime("transformers"))
    model.encoder.merge_adapters()
    keep = list(student.encoder.kept_layers)
    if not keep:
        raise ValueError("init_from_teacher needs a student encoder cut with model.keep_layers")
    source, target = model.encoder.model, student.encoder.model
    target.embeddings.load_state_dict(source.embeddings.state_dict())
    for j, i in enumerate(keep):
        target.encoder.layer[j].load_state_dict(source.encoder.layer[i].state_dict())
    if student.head.weight.shape != model.head.weight.shape:
        raise ValueError("the student's head does not match the teacher's (different labels?)")
    student.head.load_state_dict(model.head.state_dict())
    return keep


def distill(
    teacher: str,
    config: ExperimentConfig,
    *,
    unlabelled: Sequence[str] = (),
    alpha: float = 0.5,
    temperature: float = 1.0,
    from_teacher: bool = True,
    resume: bool = True,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
) -> TrainResult:
    """Train the student `config` on `teacher`'s soft targets (see the module docstring) into its run folder.

    unlabelled: extra texts the teacher labels (e.g. in-domain reviews without labels). from_teacher: start a
    student with `keep_layers` from the teacher's layers (else from the pretrained backbone's).
    """
    prepared: Prepared = prepare(config)
    task, data = prepared.task, prepared.data
    if getattr(task, "name", None) != "text-classification.v1":
        raise ValueError(f"distillation covers document models; {config.model['type']} is a {task.name} model")
    if data.train_examples is None or len(data.train_examples) != len(data.train):
        raise ValueError(f"{task.name} does not hand over its training texts; the teacher needs them")
    train_texts = [x.text for x in data.train_examples]
    extra = [t for t in unlabelled if t.strip()]
    encoded_extra = task.encode([TextExample(text=t) for t in extra]) if extra else []
    probs = teacher_probabilities(teacher, train_texts + extra, task.labels.names, prepared.folder)
    gold = [x.label for x in data.train] + [IGNORE_INDEX] * len(encoded_extra)
    soft = targets(gold, soften(probs, temperature), alpha)
    items = [SoftItem(x, tuple(map(float, t))) for x, t in zip([*data.train, *encoded_extra], soft, strict=True)]
    copied = None
    if from_teacher and getattr(getattr(prepared.model, "encoder", None), "kept_layers", ()):
        copied = init_from_teacher(prepared.model, teacher)
    prepared.data = replace(data, train=items)
    prepared.extra["distilled_from"] = {
        "teacher": teacher,
        "alpha": alpha,
        "temperature": temperature,
        "unlabelled_texts": len(encoded_extra),
        "initialised_from_teacher_layers": copied,
    }
    return prepared.fit(resume=resume, callbacks=callbacks, progress=progress, task=SoftTargets(task))
