"""Run an experiment config: the model's task reads and encodes the data, the registered model is built, the one
trainer fits it and keeps the best on validation. Also `evaluate`, which scores a saved model on a split.

Together these are what `sentimentkit train` and `sentimentkit evaluate` call. Nothing here knows a task: the
model's registry entry names its task, and the task does the rest.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..config import ConfigError, DataConfig, ExperimentConfig, TrainConfig
from ..data.datasets import DATASETS, carve_validation
from ..hub import Manifest, read_manifest, resolve
from ..models import MODELS, build_model, save_checkpoint
from ..models.base import config_dict, model_config
from ..tasks.base import TASKS, Metrics, TrainingData
from .trainer import Callback, Trainer, TrainResult

RUN_CONFIG = "experiment.json"  # the config a run folder was trained with, checked before resuming
# Keys that may differ between runs sharing a folder: where the output and the data live.
PORTABLE_KEYS = ("output", "data.data_dir")


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


def load_experiment(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read an experiment YAML and validate every key, the model section against its registered config included."""
    from ..config import load_config

    config = load_config(path, overrides)
    try:
        model_config(config.model)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return config


def run_dir(config: ExperimentConfig) -> Path:
    """The run folder of a config: `output` with `{seed}` replaced by the training seed."""
    try:
        return Path(config.output.format(seed=config.train.seed))
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(f"output {config.output!r}: only {{seed}} may be filled in ({err})") from None


def _flat(raw: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(raw, dict):
        out: dict[str, Any] = {}
        for key, value in raw.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): raw}


def check_run_folder(folder: Path, config: ExperimentConfig) -> None:
    """Refuse to resume (or overwrite) a run folder that holds a run of a different config, naming the keys."""
    current = json.loads(json.dumps(asdict(config)))
    path = folder / RUN_CONFIG
    trained = (folder / "last").exists() or (folder / "last.old").exists() or (folder / "best").exists()
    if trained and path.exists():  # a run that failed before its first checkpoint claims nothing
        saved = _flat(json.loads(path.read_text(encoding="utf-8")))
        now = _flat(current)
        # a data or train key added to the config since the run was written counts as unchanged at its default
        defaults = _flat(json.loads(json.dumps({"data": asdict(DataConfig()), "train": asdict(TrainConfig())})))
        for key, value in defaults.items():
            if key not in saved and now.get(key) == value:
                saved[key] = value
        differ = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in PORTABLE_KEYS)
        if differ:
            changes = "; ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in differ[:8])
            raise ConfigError(
                f"{folder} holds a run of a different config ({changes}); resuming would mix the two runs. "
                "Give this run its own output (e.g. output: runs/NAME/seed{seed}) or delete the folder"
            )
    elif trained:
        raise ConfigError(
            f"{folder} holds a run without {RUN_CONFIG} (written before runs recorded their config); "
            "give this run its own output or delete the folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")


def train(
    config: ExperimentConfig,
    *,
    resume: bool = True,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
) -> TrainResult:
    """Train `config` (any registered model) into its run folder: `best/`, `last/`, `log.jsonl`, `result.json`."""
    return prepare(config).fit(resume=resume, callbacks=callbacks, progress=progress)


@dataclass
class Prepared:
    """An experiment ready to fit: its task, encoded data and freshly built model, and how to save the best model.

    Distillation (`training.distill`) changes the training items and the model's starting weights in between.
    """

    config: ExperimentConfig
    settings: Any
    folder: Path
    task: Any
    data: TrainingData
    model: Any
    extra: dict[str, Any]

    def fit(
        self, *, resume: bool = True, callbacks: Sequence[Callback] = (), progress: bool = True, task: Any = None
    ) -> TrainResult:
        """Fit on `data.train` (batches made by `task`, default the experiment's), select on `data.validation`."""
        config, data = self.config, self.data

        def save_best(module: Any, directory: Path, metrics: Metrics) -> None:
            validation = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
            manifest = Manifest(
                path=directory,
                kind="model",
                task=self.task.name,
                labels=self.task.labels,
                model=config_dict(self.settings),
                preprocessing=self.task.preprocessing(),
                extra={**self.extra, "validation": validation},
            )
            save_checkpoint(module, directory, manifest)
            if data.save_extra is not None:
                data.save_extra(directory)

        spec = MODELS.get(self.config.model["type"])
        trainer = Trainer(
            self.model, task or self.task, data.train, data.validation, config.train, self.folder, callbacks,
            save_best, spec.head(self.model), progress,
        )  # fmt: skip
        result = trainer.fit(resume=resume)
        summary = {"result": asdict(result), "env": environment(), "train_size": len(data.train)}
        (self.folder / "result.json").write_text(json.dumps(summary, indent=2) + "\n")
        return result


def prepare(config: ExperimentConfig) -> Prepared:
    """Check the run folder, read and encode the data through the model's task, build the model (seeded)."""
    import torch

    spec = MODELS.get(config.model["type"])
    settings = model_config(config.model)
    folder = run_dir(config)
    check_run_folder(folder, config)
    task, data = TASKS.get(spec.task).for_training(config, settings)
    if data.model_overrides:
        settings = replace(settings, **data.model_overrides)
    torch.manual_seed(config.train.seed)  # the head's initialisation depends on the seed
    model = build_model(settings, task.labels)
    extra = {
        "trained_on": {
            "train": config.data.train,
            # a pretraining task selects on a held-out slice of its own text and says so
            "validation": getattr(task, "validation_source", None) or config.data.validation or config.data.train,
        },
        "train": asdict(config.train),
    }
    if config.model.get("init_from") is not None:
        extra["init_from"] = settings.backbone  # the pretrained encoder this run started from
    if config.train.warm_start is not None:
        extra["warm_start"] = warm_start(model, settings, task.labels, config.train.warm_start)
    return Prepared(config, settings, folder, task, data, model, extra)


def warm_start(model: Any, settings: Any, labels: Any, source: str) -> dict[str, Any]:
    """`train.warm_start`: load the trained tensors of `source` into the freshly built `model` (continued
    training). `source` is a shipped model name, a model folder, or a bundle with one component of this model type
    (absa-en for an iagcn). The saved model must be the same type with the same labels and the same trainable
    tensors; anything else is a ConfigError that says what differs. Returns what the run records about its start."""
    from safetensors.torch import load_file

    from ..hub import ManifestError, ModelNotFoundError
    from ..models.base import WEIGHTS_FILE, load_trainable_state

    where = f"train.warm_start {source!r}"
    try:
        manifest = read_manifest(resolve(source).path)
    except (ModelNotFoundError, ManifestError, FileNotFoundError) as err:
        raise ConfigError(f"{where}: {err}") from None
    if manifest.kind == "bundle":
        matching = []
        for role, sub in manifest.components.items():
            part = read_manifest(manifest.path / sub)
            if part.kind == "model" and part.model_type == settings.type:
                matching.append((role, part))
        if len(matching) != 1:
            found = ", ".join(f"{role}" for role, _ in matching) or "none"
            raise ConfigError(
                f"{where}: a bundle needs exactly one {settings.type} component to start from; found {found} "
                f"(pass the component's folder instead)"
            )
        manifest = matching[0][1]
    if manifest.model_type != settings.type:
        raise ConfigError(f"{where}: that is a {manifest.model_type} model; this config trains a {settings.type}")
    if tuple(manifest.labels.names) != tuple(labels.names):
        raise ConfigError(
            f"{where}: its labels {list(manifest.labels.names)} differ from this task's {list(labels.names)}"
        )
    weights = manifest.path / WEIGHTS_FILE
    if not weights.exists():
        raise ConfigError(f"{where}: {weights} is missing")
    try:
        load_trainable_state(model, load_file(str(weights)), str(weights))
    except (ValueError, RuntimeError) as err:
        differ = {
            k: (manifest.model.get(k), v)
            for k, v in config_dict(settings).items()
            if k in manifest.model and manifest.model.get(k) != v
        }
        raise ConfigError(
            f"{where}: its trained tensors do not fit this model ({str(err).splitlines()[0]}); model settings that "
            f"differ (saved, here): {differ or 'none'}"
        ) from None
    # load_state_dict copies into the model's own float32 tensors, so float16 shipped weights train in float32
    return {"model": source, "validation": dict(manifest.extra.get("validation", {}))}


def evaluate(
    model: str | Path,
    data: str,
    split: str = "test",
    *,
    data_dir: str | None = None,
    subset: int | None = None,
    batch_size: int = 64,
    trust_pickle: bool = False,
) -> Metrics:
    """Score a model (a shipped name or a folder) on a split of a named dataset or on a labelled .csv/.jsonl file.

    A bundle (such as `absa-en`) is scored through the component that the dataset is for. `subset`: score a
    stratified sample of that many examples (fixed seed, the same for every model) instead of the whole split,
    for long-document sets whose full test split costs more than a CPU run can spend. `trust_pickle`: read an MMSA
    feature pickle (multimodal models).
    """
    from ..models.base import Runtime

    manifest = read_manifest(resolve(str(model)).path)
    if manifest.kind == "bundle":
        bundle_task = TASKS.get(manifest.task)
        data_task = DATASETS.get(data).task if data in DATASETS else None
        role = bundle_task.component_for(data_task) if hasattr(bundle_task, "component_for") else None
        folder = manifest.component(role) if role else None
        if folder is None:
            raise ValueError(
                f"{manifest.path} is a {manifest.task} bundle: evaluate it on a dataset of one of its parts"
            )
        manifest = read_manifest(folder)
    task, module = TASKS.get(manifest.task).from_manifest(manifest, Runtime("transformers"))
    if trust_pickle and hasattr(task, "data"):  # multimodal: the user vouches for an MMSA feature pickle
        task.data = replace(task.data, trust_pickle=True)
    examples = task.examples(data, split, data_dir)
    if subset is not None and subset < len(examples):
        _, examples = carve_validation(examples, key=_label_of, fraction=subset / len(examples))
    return task.evaluate(module, examples, batch_size)


def _label_of(example: Any) -> Any:
    """The stratum of an example for `subset`: its label, a regression value's nearest integer (MOSI's Acc-7 class;
    exact floats would make one stratum per clip and a sample far smaller than asked)."""
    label = getattr(example, "label", getattr(example, "polarity", None))
    return round(label) if isinstance(label, float) else label
