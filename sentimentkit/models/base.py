"""What every model shares: `ModelOutput`, `ModelSpec` (the registry entry), and checkpoints as safetensors + JSON.

A checkpoint directory holds `config.json` (a `hub.Manifest`: the model section that rebuilds the module, the
labels, the preprocessing settings and any metrics) and `model.safetensors` with the trainable tensors only:
for a LoRA model that is the adapters and the head, a few MB; the frozen backbone comes from its own package.
How a model runs (`Runtime`) is chosen when it is loaded and never saved.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import ConfigError, from_dict
from ..encoders.lora import live_name, saved_name
from ..encoders.pool import TRAINING, EncoderPool, Runtime
from ..hub import Manifest, ManifestError, read_manifest, write_manifest
from ..labels import LabelSet
from ..registry import Registry

WEIGHTS_FILE = "model.safetensors"


@dataclass
class ModelOutput:
    """What a model's forward returns. Per-call state (MoE routing, attention maps) is returned, never stored.

    logits: (B, C) for a sequence, (B, T, C) for token tags, (B, 1) for a regression value.
    loss: set iff the batch carries targets. extras: e.g. "aux_loss", "attention" (B, T), "routing_experts".
    """

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


def default_head(model: nn.Module) -> Iterable[nn.Parameter]:
    """The parameters of the model's `head` submodule (the part that trains at `train.head_lr`)."""
    head = getattr(model, "head", None)
    return head.parameters() if isinstance(head, nn.Module) else ()


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its config dataclass, a builder (config, labels, runtime) -> module whose forward takes
    one batch and returns a ModelOutput, the task it serves (a TASKS name), where its head is, and its tokenizer
    ("backbone": the pretrained encoder's; "vocab": a WordVocab built from the training texts)."""

    config_cls: type
    build: Callable[[Any, LabelSet, Runtime], nn.Module]
    task: str
    head: Callable[[nn.Module], Iterable[nn.Parameter]] = default_head
    tokenizer: str = "backbone"


MODELS: Registry[ModelSpec] = Registry("model")


def model_config(section: Mapping[str, Any] | Any) -> Any:
    """The model section as its registered config dataclass (validated: unknown keys and wrong types raise)."""
    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        return section
    if "type" not in section:
        raise ConfigError("model.type is missing; it names a registered model")
    spec = MODELS.get(section["type"])
    raw = dict(section)
    init_from = raw.pop(INIT_FROM, None)
    config = from_dict(spec.config_cls, raw, "model")
    return config if init_from is None else start_from(config, init_from, raw.get("backbone"))


INIT_FROM = "init_from"  # a model key every model accepts: start the text encoder from a pretrained encoder folder
ENCODER_DIR = "encoder"  # where a pretraining run's best folder keeps its encoder (tasks/pretraining.py)


def start_from(config: Any, folder: Any, backbone: str | None) -> Any:
    """`model.init_from: FOLDER`: the config with its backbone set to the pretrained encoder in FOLDER (a best folder
    of `sentimentkit pretrain`, holding `encoder/`, or such an encoder folder itself). The saved model then names that
    encoder as its backbone, so a frozen or LoRA model reloads on the pretrained weights too."""
    if not isinstance(folder, str) or not folder.strip():
        raise ConfigError(f"model.init_from: expected a folder path, got {folder!r}")
    if not any(f.name == "backbone" for f in dataclasses.fields(config)):
        raise ConfigError(f"model.init_from: {config.type} has no pretrained text encoder to start from")
    path = Path(folder).expanduser()
    encoder = path / ENCODER_DIR if (path / ENCODER_DIR).is_dir() else path
    if backbone is not None and encoder != path:
        try:
            base = read_manifest(path).model.get("backbone")
        except ManifestError:
            base = None
        if base is not None and str(base) != str(backbone):
            raise ConfigError(
                f"model.init_from: {folder} was pretrained from backbone {base!r}, but model.backbone is {backbone!r}"
            )
    if not ((encoder / "config.json").exists() and (encoder / WEIGHTS_FILE).exists()):
        raise ConfigError(
            f"model.init_from: {folder} holds no pretrained encoder (expected {ENCODER_DIR}/ with config.json and "
            f"{WEIGHTS_FILE}, as `sentimentkit pretrain` writes into its best folder)"
        )
    return dataclasses.replace(config, backbone=str(encoder.resolve()))


def packed_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor, total_length: int) -> torch.Tensor:
    """Run a batch-first `lstm` over right-padded `x` (B, T, H) packed by `lengths` (B,), so padding stays out of
    both directions; returns (B, T, out). Always in float32 with autocast off: under bf16 autocast the CPU LSTM
    (oneDNN, torch 2.13) has no kernel ("could not create a primitive descriptor"), so bf16 training would fail."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    with torch.autocast(device_type=x.device.type, enabled=False):
        packed = pack_padded_sequence(x.float(), lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=total_length)[0]


def build_model(section: Mapping[str, Any] | Any, labels: LabelSet, runtime: Runtime = TRAINING) -> nn.Module:
    config = model_config(section)
    return MODELS.get(config.type).build(config, labels, runtime)


def config_dict(config: Any) -> dict[str, Any]:
    """A model config dataclass as a JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(asdict(config)))


# --- checkpoints ----------------------------------------------------------------------------------------------


def _own_adapters(model: nn.Module) -> set[str]:
    """The LoRA adapter names that belong to `model` (a shared backbone also holds other models' adapters)."""
    return {m.adapter_name for m in model.modules() if isinstance(getattr(m, "adapter_name", None), str)}


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The tensors that training changed (parameters with requires_grad), under their checkpoint names."""
    adapters = _own_adapters(model)
    state = {}
    for name, param in model.named_parameters():
        key = saved_name(name, adapters)
        if param.requires_grad and key is not None:
            state[key] = param.detach().contiguous()
    return state


def load_trainable_state(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    """Load checkpoint tensors into `model`; every trainable tensor must be there and nothing else."""
    expected = set(trainable_state(model))
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(f"{where} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    adapters = _own_adapters(model)
    adapter = next(iter(adapters)) if len(adapters) == 1 else None
    live = {live_name(k, adapter) if adapter else k: v for k, v in state.items()}
    result = model.load_state_dict(live, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{where}: tensors {result.unexpected_keys[:5]} have no place in the model")


def save_checkpoint(model: nn.Module, directory: str | Path, manifest: Manifest | Mapping[str, Any]) -> None:
    """Write config.json (a Manifest, or the dict of one) and model.safetensors (the trainable tensors)."""
    from safetensors.torch import save_file

    from ..hub import manifest_from_dict

    directory = Path(directory)
    if not isinstance(manifest, Manifest):
        raw = dict(manifest)
        raw.setdefault("task", MODELS.get(raw["model"]["type"]).task if "model" in raw else None)
        manifest = manifest_from_dict(raw, directory, "checkpoint meta")
    directory.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(model), str(directory / WEIGHTS_FILE))
    write_manifest(manifest, directory)


def load_checkpoint(
    directory: str | Path | Manifest, runtime: Runtime = TRAINING, overrides: Mapping[str, Any] | None = None
) -> tuple[nn.Module, Manifest]:
    """Rebuild the model from its manifest on `runtime` and load its trained tensors (eval mode)."""
    from safetensors.torch import load_file

    manifest = directory if isinstance(directory, Manifest) else read_manifest(directory)
    if manifest.kind != "model":
        raise ManifestError(f"{manifest.path}: a {manifest.kind} of {dict(manifest.components)}, not one model")
    model = build_model({**manifest.model, **(overrides or {})}, manifest.labels, runtime)
    weights = manifest.path / WEIGHTS_FILE
    if not weights.exists():
        raise FileNotFoundError(f"{weights}: no such file; a model folder has {WEIGHTS_FILE} beside config.json")
    load_trainable_state(model, load_file(str(weights)), str(weights))
    model.eval()
    return model, manifest


def load_model_tokenizer(manifest: Manifest, runtime: Runtime = TRAINING) -> Any:
    """The tokenizer a checkpoint was trained with: its own vocab.json, else its backbone's (shared in a pool)."""
    from ..data.vocab import FILENAME, WordVocab

    if (manifest.path / FILENAME).exists():
        return WordVocab.load(manifest.path)
    if MODELS.get(manifest.model_type).tokenizer == "vocab":
        raise FileNotFoundError(
            f"{manifest.path / FILENAME} is missing: {manifest.model_type} models read their word vocabulary "
            "from it; copy it from the training run's best/ directory"
        )
    from ..encoders.text import DEFAULT_BACKBONE, load_tokenizer

    backbone = str(manifest.model.get("backbone", DEFAULT_BACKBONE))
    if runtime.encoders is not None:
        return runtime.encoders.tokenizer(backbone, runtime.implementation)
    return load_tokenizer(backbone, runtime.implementation)


__all__ = [
    "MODELS",
    "EncoderPool",
    "ModelOutput",
    "ModelSpec",
    "Runtime",
    "build_model",
    "config_dict",
    "load_checkpoint",
    "load_model_tokenizer",
    "load_trainable_state",
    "model_config",
    "packed_lstm",
    "save_checkpoint",
    "trainable_state",
]
