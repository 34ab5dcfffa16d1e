"""Model registry entries, and checkpoints as safetensors + JSON (never pickle).

A checkpoint directory holds `config.json` (the model section that rebuilds the module, the labels, the
preprocessing settings and any metrics) and `model.safetensors` with the trainable tensors only: for a
LoRA model that is the adapters and the head, a few MB; the frozen backbone comes from its own package.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import ConfigError, from_dict
from ..labels import LabelSet
from ..registry import Registry


@dataclass(frozen=True)
class ModelSpec:
    """How to build a registered model: its config dataclass and a builder (config, labels) -> module."""

    config_cls: type
    build: Callable[[Any, LabelSet], nn.Module]
    task: str
    tokenizer: str = "backbone"  # "backbone": the pretrained encoder's; "vocab": a WordVocab built from train


MODELS: Registry[ModelSpec] = Registry("model")


def model_config(section: dict[str, Any]) -> Any:
    """Validate a config's model section against the registered model's own config dataclass."""
    if "type" not in section:
        raise ConfigError("model.type is missing; it names a registered model")
    spec = MODELS.get(section["type"])
    return from_dict(spec.config_cls, dict(section), "model")


def build_model(section: dict[str, Any], labels: LabelSet) -> nn.Module:
    config = model_config(section)
    return MODELS.get(section["type"]).build(config, labels)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors that training changed: parameters with requires_grad."""
    return {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(model: nn.Module, directory: str | Path, meta: dict[str, Any]) -> None:
    """Write config.json (meta: must hold "model" and "labels") and model.safetensors (trainable tensors)."""
    from safetensors.torch import save_file

    for key in ("model", "labels"):
        if key not in meta:
            raise ValueError(f"checkpoint meta needs {key!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(model), str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def read_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file; a sentimentkit model directory has config.json")
    meta = json.loads(path.read_text(encoding="utf-8"))
    for key in ("model", "labels"):
        if key not in meta:
            raise ValueError(f"{path}: key {key!r} is missing; is this a sentimentkit checkpoint?")
    return meta


def load_checkpoint(directory: str | Path, overrides: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from config.json and load its trained tensors; every trainable tensor must be there."""
    from safetensors.torch import load_file

    directory = Path(directory)
    meta = read_meta(directory)
    model = build_model({**meta["model"], **(overrides or {})}, LabelSet(tuple(meta["labels"])))
    state = load_file(str(directory / "model.safetensors"))
    expected = set(trainable_state(model))
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(
            f"{directory}/model.safetensors does not match its config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    model.load_state_dict(state, strict=False)
    model.eval()
    return model, meta


def load_model_tokenizer(meta: dict[str, Any], directory: str | Path, implementation: str = "transformers"):
    """The tokenizer a checkpoint was trained with: its own vocab.json, else its backbone's."""
    from ..data.vocab import FILENAME, WordVocab

    if Path(directory, FILENAME).exists():
        return WordVocab.load(directory)
    if MODELS.get(meta["model"]["type"]).tokenizer == "vocab":
        raise FileNotFoundError(
            f"{Path(directory, FILENAME)} is missing: {meta['model']['type']} models read their word vocabulary "
            "from it; copy it from the training run's best/ directory"
        )
    from ..encoders.text import load_tokenizer

    return load_tokenizer(meta["model"]["backbone"], implementation)


def config_dict(config: Any) -> dict[str, Any]:
    """A model config dataclass as a JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(asdict(config)))
