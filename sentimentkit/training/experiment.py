"""Run an experiment config: read data, build the registered model, train, keep the best on validation.

Also `evaluate_model`, which scores a saved model on one split of a named dataset. Together these are
what `sentimentkit train` and `sentimentkit evaluate` call.
"""

from __future__ import annotations

import json
import platform
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DataConfig, ExperimentConfig
from ..data.collate import Encoded, encode_texts, pad_batch
from ..data.datasets import DATASETS, carve_validation, load_dataset
from ..encoders.text import load_tokenizer
from ..labels import LabelSet
from ..models import MODELS, build_model, load_checkpoint, save_checkpoint
from ..models.base import config_dict, load_model_tokenizer, model_config, read_meta
from .metrics import classification_metrics
from .trainer import Trainer, TrainResult

TEXT_TASKS = {"sentiment-5", "sentiment-2", "emotion-4"}


def environment() -> dict[str, str]:
    """What a result was measured on (recorded with every result file)."""
    import datetime

    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__.split("+")[0],
        "cpu": platform.processor() or platform.machine(),
        "threads": str(torch.get_num_threads()),
        "date": datetime.date.today().isoformat(),
    }


def encode_examples(
    tokenizer, examples: list[Any], labels: LabelSet, max_length: int, truncation: str
) -> list[Encoded]:
    """Typed text examples -> encoded items with label ids (the one place labels become ids for training)."""
    ids = encode_texts(tokenizer, [x.text for x in examples], max_length, truncation)
    return [Encoded(i, labels.id(x.label) if x.label is not None else -100) for i, x in zip(ids, examples, strict=True)]


def _text_examples(name: str, split: str, data_dir: str | None) -> list[Any]:
    spec = DATASETS.get(name)
    if spec.task not in TEXT_TASKS:
        raise ValueError(f"dataset {name!r} ({spec.task}) is not a text classification dataset")
    return load_dataset(name, split, data_dir)


def training_data(data: DataConfig) -> tuple[list[Any], list[Any], LabelSet, str]:
    """(train, validation, labels, task) for a config: named datasets or the user's labelled files.

    A file without a separate validation file gets 10 % carved off, stratified, with a fixed seed.
    """
    if data.train in DATASETS:
        spec = DATASETS.get(data.train)
        train = _text_examples(data.train, "train", data.data_dir)
        labels, task = spec.labels, spec.task
    else:
        train = _read_labelled(data.train, data)
        labels = LabelSet(data.labels or tuple(sorted({x.label for x in train})))
        task = "text-classification"
    if data.validation is None and data.train not in DATASETS:
        train, validation = carve_validation(train, lambda x: x.label)
    elif data.validation is None or data.validation in DATASETS:
        validation = _text_examples(data.validation or data.train, "validation", data.data_dir)
    else:
        validation = _read_labelled(data.validation, data)
    for name, examples in (("train", train), ("validation", validation)):
        unknown = sorted({x.label for x in examples} - set(labels.names))
        if unknown:
            where = next(x.source for x in examples if x.label in unknown)
            raise ValueError(f"{name} data has labels {unknown} outside {list(labels.names)} (first at {where})")
    return train, validation, labels, task


def _read_labelled(path: str, data: DataConfig) -> list[Any]:
    from ..data.readers import read_labelled_file

    if not Path(path).exists():
        known = ", ".join(name for name in DATASETS.names() if DATASETS.get(name).task in TEXT_TASKS)
        raise FileNotFoundError(f"{path!r} is neither a named text dataset ({known}) nor an existing file")
    return list(read_labelled_file(path, data.text_field, data.label_field))


@dataclass
class Prepared:
    """What a task hands the one training recipe: encoded data, labels, the final model section, and extras."""

    train: list[Any]
    validation: list[Any]
    labels: LabelSet
    section: dict[str, Any]
    meta: dict[str, Any]
    collate: Callable[[list], dict] = pad_batch
    save_extra: Callable[[Path], None] | None = None  # e.g. a word vocabulary beside the weights
    evaluate: Callable[[Any, list], dict] | None = None  # (model, validation) -> metrics, instead of logits + score


def prepare_text(config: ExperimentConfig) -> Prepared:
    """Text classification: named dataset or labelled file -> encoded items (and a vocab for vocab models)."""
    spec = MODELS.get(config.model["type"])
    model_cfg = model_config(config.model)
    data = config.data
    train, validation, labels, task = training_data(data)
    if data.train_subset is not None:
        train = random.Random(config.train.seed).sample(train, min(data.train_subset, len(train)))
    section = dict(config.model)
    save_extra = None
    if spec.tokenizer == "vocab":
        from ..data.vocab import WordVocab

        tokenizer = WordVocab.build([x.text for x in train], model_cfg.min_freq, model_cfg.max_vocab)
        section["vocab_size"] = len(tokenizer)
        save_extra = tokenizer.save
    else:
        tokenizer = load_tokenizer(model_cfg.backbone)
    meta = {"task": task, "max_length": data.max_length, "truncation": data.truncation}
    return Prepared(
        encode_examples(tokenizer, train, labels, data.max_length, data.truncation),
        encode_examples(tokenizer, validation, labels, data.max_length, data.truncation),
        labels,
        section,
        meta,
        save_extra=save_extra,
    )


def train_experiment(
    config: ExperimentConfig,
    progress: bool = True,
    resume: bool = True,
    on_eval: Callable[[int, dict], None] | None = None,
) -> TrainResult:
    """Train `config` (any registered model) and write `<output>/best`, `result.json` and `log.jsonl`."""
    import torch

    spec = MODELS.get(config.model["type"])
    if spec.task == "text-classification":
        prepared = prepare_text(config)
    elif spec.task == "aspect-polarity":
        from .absa import prepare_aspect

        prepared = prepare_aspect(config)
    elif spec.task == "aspect-extraction":
        from .extraction import prepare_extraction

        prepared = prepare_extraction(config)
    else:
        raise ValueError(f"model {config.model['type']!r} has task {spec.task!r}, which no training recipe handles")
    labels = prepared.labels
    torch.manual_seed(config.train.seed)  # the head's initialisation depends on the seed
    model = build_model(prepared.section, labels)
    meta = {
        "model": config_dict(model_config(prepared.section)),
        "labels": list(labels.names),
        **prepared.meta,
        "trained_on": {"train": config.data.train, "validation": config.data.validation or config.data.train},
        "train": asdict(config.train),
    }

    def score(logits: np.ndarray, label_ids: np.ndarray) -> dict:
        return classification_metrics(label_ids.tolist(), logits.argmax(-1).tolist(), labels)

    def save_best(module, directory: Path, metrics: dict) -> None:
        validation_metrics = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        save_checkpoint(module, directory, {**meta, "validation": validation_metrics})
        if prepared.save_extra is not None:
            prepared.save_extra(directory)

    trainer = Trainer(
        model, prepared.train, prepared.validation, config.train, config.output, score, save_best, progress, on_eval,
        collate=prepared.collate, evaluate=prepared.evaluate,
    )  # fmt: skip
    result = trainer.fit(resume=resume)
    summary = {"result": asdict(result), "env": environment(), "train_size": len(prepared.train)}
    Path(config.output, "result.json").write_text(json.dumps(summary, indent=2) + "\n")
    return result


def evaluate_model(
    model_dir: str | Path, dataset: str, split: str = "test", data_dir: str | None = None, subset: int | None = None
) -> dict:
    """Score a saved text classifier on a named dataset split, or on a labelled .csv/.jsonl file.

    `subset`: score a stratified sample of that many examples (fixed seed, the same for every model) instead
    of the whole split; for long-document sets whose full test split costs more than a CPU run can spend.
    """
    from ..inference.aspects import TASK as ASPECT_SENTIMENT
    from ..inference.predict import predict_logits

    folder = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    if folder.get("task") == ASPECT_SENTIMENT:  # a shipped aspect model: score the component the data is for
        task = DATASETS.get(dataset).task if dataset in DATASETS else None
        part = {"aspect-polarity": "polarity", "aspect-extraction": "extractor"}.get(task)
        if part is None or part not in folder.get("components", {}):
            raise ValueError(f"{model_dir} is an aspect model: evaluate it on an aspect dataset, not {dataset!r}")
        return evaluate_model(Path(model_dir) / folder["components"][part], dataset, split, data_dir)
    if read_meta(model_dir).get("task") == "aspect-polarity":
        from .absa import evaluate_aspect_model

        return evaluate_aspect_model(model_dir, dataset, split, data_dir)
    if read_meta(model_dir).get("task") == "aspect-extraction":
        from .extraction import evaluate_extraction_model

        return evaluate_extraction_model(model_dir, dataset, split, data_dir)
    model, meta = load_checkpoint(model_dir)
    labels = LabelSet(tuple(meta["labels"]))
    if dataset in DATASETS:
        data_labels = DATASETS.get(dataset).labels
        if data_labels != labels:
            raise ValueError(f"model labels {labels.names} differ from dataset {dataset!r} labels {data_labels.names}")
        examples = _text_examples(dataset, split, data_dir)
    else:
        examples = _read_labelled(dataset, DataConfig())
    if subset is not None and subset < len(examples):
        _, examples = carve_validation(examples, key=lambda x: x.label, fraction=subset / len(examples))
    tokenizer = load_model_tokenizer(meta, model_dir)
    items = encode_examples(tokenizer, examples, labels, meta["max_length"], meta.get("truncation", "head"))
    logits = predict_logits(model, items)
    return classification_metrics([x.label for x in items], logits.argmax(-1).tolist(), labels)
