"""YAML -> dataclasses, with dotted overrides. Unknown keys are errors, never ignored.

An experiment config has four sections: `model` (its `type` picks a registered model whose own
config dataclass validates the rest), `data`, `train` and `output`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
CLASS_WEIGHTS = ("none", "balanced")  # data.class_weights: how a classification loss weighs its classes


class ConfigError(ValueError):
    """A config key or value is wrong. The message names the dotted key and what was expected."""


@dataclass(frozen=True)
class DataConfig:
    """Which named datasets to train and select on, and how texts are cut."""

    train: str = "sst5"  # a named dataset, or a labelled .csv/.jsonl file of your own
    # named dataset (its validation split) or file; default: from `train`. A mixture: {source: dataset} picks another
    # dataset's validation split for a source (SST-5 phrases selected on SST-5 sentences: {sst5-phrases: sst5})
    validation: str | dict[str, str] | None = None
    labels: tuple[str, ...] | None = None  # for your own files: the label order (default: sorted train labels)
    text_field: str = "text"  # for your own files: the column/field holding the text
    label_field: str = "label"  # ... and the label
    max_length: int = 128
    truncation: str = "head"  # "head" or "head+tail" (keep the start and the end of long documents)
    emoji: str = "words"  # "words": each emoji becomes its name, "(grinning face)"; "keep": as it is ([UNK] to MiniLM)
    train_subset: int | None = None  # use only the first N (shuffled with the seed) training examples
    # a mixture ("a + b + c"): at most N training examples of each source (a seeded sample), or per source by name
    # ({sst5-phrases: 40000, "*": 4000}; "*" for the others, which are whole without it)
    per_source: int | dict[str, int] | None = None
    data_dir: str | None = None  # default: $SENTIMENTKIT_DATA or ../shared/data
    parser: str = "parser-en"  # aspect models with a graph: spaCy pipeline, or "dataset" for the data's own trees
    graph_directed: bool = False  # dependency graph: head -> dependent only (default: undirected)
    graph_self_loops: bool = True
    trust_pickle: bool = False  # multimodal: read MMSA feature pickles (unpickling runs code from the file)
    # "balanced": the loss weighs class c by N / (C * n_c) over the training examples (scikit-learn's "balanced"),
    # so a rare class counts as much as a common one; "none": every example alike. Aspect polarity only.
    class_weights: str = "none"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for the one training loop."""

    epochs: float = 3.0
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 5e-4
    head_lr: float | None = None  # default: lr
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    schedule: str = "linear"  # "linear" | "cosine" | "constant"
    grad_clip: float = 1.0
    metric: str = "accuracy"  # validation metric to select on (higher is better, except mae/mse/loss/ece)
    patience: int | None = 3  # evaluations without improvement before stopping; None: never stop early
    eval_every: int | None = None  # steps between evaluations; None: once per epoch
    checkpoint_every: int = 200  # steps between resumable checkpoints
    seed: int = 1
    bf16: bool = False
    # start from a trained model's weights (a shipped name such as sentiment-en, a model folder, or a bundle whose
    # one component is this model type): continued training, checked to be the same model and labels
    warm_start: str | None = None
    bucket: bool = True  # length bucketing of batches
    log_every: int = 20


@dataclass(frozen=True)
class ExperimentConfig:
    """A whole experiment: model section (a dict, validated by the model's registry entry), data, train."""

    model: dict[str, Any]
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: str = "runs/experiment/seed{seed}"  # the run folder; {seed} is replaced by train.seed
    search: dict[str, Any] | None = None  # hyper-parameter search space (see training/hpo.py)


def from_dict(cls: type[T], raw: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a dict; unknown keys and wrong types raise ConfigError naming the key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown key(s) {', '.join(prefix + k for k in unknown)}; expected one of {sorted(known)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        key = f"{where}.{name}" if where else name
        values[name] = _coerce(hints[name], value, key)
    missing = [
        f.name
        for f in fields(cls)
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing key(s) {', '.join(missing)} in {where or 'config'}")
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: unexpected value {value!r}")
    if is_dataclass(hint):
        return from_dict(hint, value, key)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict or hint is Any:
        return value
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested dict, returning a new dict."""
    result = yaml.safe_load(yaml.safe_dump(raw))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected dotted.key=value")
        dotted, text = item.split("=", 1)
        node = result
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(text)
    return result


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read an experiment YAML, apply overrides and validate the data, train and output keys; the model section
    must name its type. The model section's own keys are validated against the registered model's config by
    `training.experiment.load_experiment` (models sit above this module, so it cannot look them up)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    raw = apply_overrides(raw, overrides or [])
    try:
        config = from_dict(ExperimentConfig, raw)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    if "type" not in config.model:
        raise ConfigError(f"{path}: model.type is missing; it names a registered model")
    mixture = "+" in config.data.train
    for key in ("validation", "per_source"):
        if isinstance(getattr(config.data, key), dict) and not mixture:
            raise ConfigError(f"{path}: data.{key} as a mapping goes with a mixture (data.train 'a + b')")
    if config.data.class_weights not in CLASS_WEIGHTS:
        raise ConfigError(f"{path}: data.class_weights {config.data.class_weights!r}: expected one of {CLASS_WEIGHTS}")
    return config
