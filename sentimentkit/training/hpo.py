"""Hyper-parameter search with Optuna over the space declared in a config's `search` section.

    search:
      metric: accuracy            # validation metric to maximise (default: train.metric)
      pruner: median              # stop trials whose validation curve falls below the median; or "none"
      startup_trials: 2           # trials that run to the end before pruning starts
      prune_after_epochs: 0       # no trial is pruned before it has trained this many epochs
      space:
        train.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
        model.lora_r: {type: categorical, choices: [4, 8, 16]}
        train.batch_size: {type: int, low: 16, high: 64, step: 16}

Each trial trains the config with its sampled overrides into `<output>/trial-<n>`; selection uses the
validation split only. The trainer reports every evaluation to the trial (a `Callback`), so a trial whose
validation score falls below the median of earlier trials at the same step is stopped there, but not before it
has trained `prune_after_epochs` epochs (its scores are reported all the same, so later trials are compared with it
at every step). An early evaluation ranks configurations by how fast they start, not where they end: one still in
its learning-rate warmup scores low there whatever it would reach, so when the space searches the warmup or the
learning rate, pruning in the first epoch mostly removes the slow starters.
The study lives in `<output>/study.db` (SQLite), so an interrupted search resumes, the interrupted trial
included: a running trial records a heartbeat, and a trial whose heartbeat stopped (its process was killed) is
queued again with the same values, the validation scores it had reported, and its run folder, so its training
resumes from the last checkpoint (exactly: see Trainer) instead of starting over. One process per search folder.
A categorical choice may be a list (e.g. `model.layers: {type: categorical, choices: [[-1], [-2, -1]]}`).
`<output>/trials.json` lists every trial and `<output>/best.yaml` is the config with the best values.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError, ExperimentConfig, apply_overrides, from_dict
from ..metrics import higher_is_better
from ..models.base import model_config
from ..tasks.base import Metrics

PARAM_TYPES = ("float", "int", "categorical")


@dataclass(frozen=True)
class SearchConfig:
    space: dict[str, Any]
    metric: str | None = None
    pruner: str = "median"
    startup_trials: int = 2
    prune_after_epochs: float = 0.0
    seed: int = 0


PRUNERS = ("median", "none")


@dataclass(frozen=True)
class ParamSpec:
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None


def _parse_space(space: dict[str, Any]) -> dict[str, ParamSpec]:
    specs = {}
    for key, raw in space.items():
        spec = from_dict(ParamSpec, raw, f"search.space.{key}")
        if spec.type not in PARAM_TYPES:
            raise ConfigError(f"search.space.{key}.type: expected one of {PARAM_TYPES}, got {spec.type!r}")
        if spec.type == "categorical" and not spec.choices:
            raise ConfigError(f"search.space.{key}: a categorical parameter needs choices")
        if spec.type != "categorical" and (spec.low is None or spec.high is None or spec.low >= spec.high):
            raise ConfigError(f"search.space.{key}: needs low < high")
        specs[key] = spec
    if not specs:
        raise ConfigError("search.space is empty: declare at least one parameter")
    return specs


def _suggest(trial, key: str, spec: ParamSpec) -> Any:
    if spec.type == "float":
        return trial.suggest_float(key, spec.low, spec.high, log=spec.log, step=spec.step)
    if spec.type == "int":
        return trial.suggest_int(key, int(spec.low), int(spec.high), log=spec.log, step=int(spec.step or 1))
    if _encoded(spec):  # Optuna stores scalars only: a list choice is suggested as its JSON text
        return json.loads(trial.suggest_categorical(key, [json.dumps(c) for c in spec.choices]))
    return trial.suggest_categorical(key, list(spec.choices))


def _encoded(spec: ParamSpec) -> bool:
    return spec.type == "categorical" and any(isinstance(c, (list, tuple, dict)) for c in spec.choices or ())


def _decode(params: dict[str, Any], space: dict[str, ParamSpec]) -> dict[str, Any]:
    """A trial's stored parameters as config values (list choices back from their JSON text)."""
    return {k: json.loads(v) if k in space and _encoded(space[k]) else v for k, v in params.items()}


def _experiment(raw: dict[str, Any], values: dict[str, Any], output: str) -> ExperimentConfig:
    overrides = [f"{k}={json.dumps(v)}" for k, v in values.items()] + [f"output={output}"]
    trial_raw = apply_overrides({k: v for k, v in raw.items() if k != "search"}, overrides)
    config = from_dict(ExperimentConfig, trial_raw)
    model_config(config.model)  # every model key is checked before any training
    return config


class PruningCallback:
    """Reports each evaluation's `metric` to an Optuna trial and stops the run when the pruner says so, from
    `after_epochs` epochs of training on (the trainer tells it the epoch's length in `on_start`)."""

    def __init__(self, trial: Any, metric: str, skip: set[int] | None = None, after_epochs: float = 0.0) -> None:
        # skip: steps already reported (a resumed trial re-evaluates after its last checkpoint; same values)
        self.trial, self.metric, self.skip = trial, metric, skip or set()
        self.after_epochs, self.first_step = after_epochs, 0

    def on_start(self, total_steps: int, steps_per_epoch: int) -> None:
        self.first_step = math.ceil(self.after_epochs * steps_per_epoch)

    def on_eval(self, step: int, metrics: Metrics) -> None:
        import optuna

        if self.metric not in metrics:
            raise ConfigError(f"search.metric {self.metric!r} is not among the validation metrics {sorted(metrics)}")
        if step not in self.skip:
            self.trial.report(float(metrics[self.metric]), step)
        if step >= self.first_step and self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}: {self.metric} {float(metrics[self.metric]):.4f}")


HEARTBEAT_S, GRACE_S = 60, 180  # a running trial's heartbeat period; silence after which it counts as killed


def tune(
    raw: dict[str, Any],
    trials: int,
    output: str | Path,
    progress: bool = False,
    heartbeat: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a search over `raw["search"]` until `trials` trials have completed or been pruned;
    returns {"best_value", "best_params", "trials"}. heartbeat: (period, grace) in seconds, for tests."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    from .experiment import train

    if not raw.get("search"):
        raise ConfigError("the config has no search section; see sentimentkit/training/hpo.py for its form")
    search = from_dict(SearchConfig, raw["search"], "search")
    if search.pruner not in PRUNERS:
        raise ConfigError(f"search.pruner {search.pruner!r}: expected one of {PRUNERS}")
    if not search.prune_after_epochs >= 0:
        raise ConfigError(f"search.prune_after_epochs {search.prune_after_epochs!r}: expected a number >= 0")
    space = _parse_space(search.space)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    first = {k: (s.choices[0] if s.type == "categorical" else s.low) for k, s in space.items()}
    base = _experiment(raw, first, str(output / "check"))  # validates every key up front
    metric = search.metric or base.train.metric

    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=search.startup_trials)
        if search.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    period, grace = heartbeat or (HEARTBEAT_S, GRACE_S)
    with warnings.catch_warnings():  # heartbeats and retries are "experimental" in Optuna since 2.8; used as documented
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RDBStorage(
            f"sqlite:///{output / 'study.db'}",
            heartbeat_interval=period,
            grace_period=grace,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(inherit_intermediate_values=True),
        )
    study = optuna.create_study(
        study_name="search",
        storage=storage,
        load_if_exists=True,
        direction="maximize" if higher_is_better(metric) else "minimize",
        pruner=pruner,
    )
    # A sampler seeded with search.seed alone would restart its random stream on every call, so a search resumed
    # or extended in several calls would draw its first configurations again (its startup trials are random
    # draws). Offsetting the seed by the trials the study already holds keeps each call's draws new and the whole
    # search reproducible from its history.
    study.sampler = optuna.samplers.TPESampler(seed=search.seed + len(study.trials))

    def objective(trial: Any) -> float:
        values = {key: _suggest(trial, key, spec) for key, spec in space.items()}
        # a retried trial carries its first attempt's user attributes: it trains on in that attempt's folder
        retried = "run_folder" in trial.user_attrs
        folder = trial.user_attrs.get("run_folder") or str(output / f"trial-{trial.number}")
        trial.set_user_attr("run_folder", folder)
        config = _experiment(raw, values, folder)
        if metric != config.train.metric:
            config = replace(config, train=replace(config.train, metric=metric))
        reported = set()
        if retried:  # the scores its first attempt reported, inherited: not reported twice
            frozen = next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
            reported = set(frozen.intermediate_values)
        callback = PruningCallback(trial, metric, skip=reported, after_epochs=search.prune_after_epochs)
        result = train(config, progress=progress, resume=retried, callbacks=[callback])
        return result.best_metric

    ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = sum(t.state in ended for t in study.trials)
    study.optimize(objective, n_trials=max(0, trials - done))
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": _decode(t.params, space),
            "steps": _last_step(t),
            "retry_of": t.system_attrs.get("failed_trial"),
        }
        for t in study.trials
    ]
    (output / "trials.json").write_text(json.dumps(rows, indent=2) + "\n")
    best = {k: v for k, v in raw.items() if k != "search"}
    best_params = _decode(study.best_params, space)
    best = apply_overrides(best, [f"{k}={json.dumps(v)}" for k, v in best_params.items()])
    (output / "best.yaml").write_text(yaml.safe_dump(best, sort_keys=False))
    return {"best_value": study.best_value, "best_params": best_params, "trials": rows}


def export_trials(output: str | Path) -> list[dict[str, Any]]:
    """The ended (complete or pruned) trials of the search in `output`, as JSON-ready rows that `import_trials`
    turns back into a study: parameters as Optuna stored them, their distributions, the value, every reported
    validation score and the start and end times. No run folders: a search carried to another machine (or kept in
    a repository) holds what the sampler and the pruner learn from, not the checkpoints."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="search", storage=f"sqlite:///{Path(output) / 'study.db'}")
    ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [
        {
            "state": t.state.name,
            "value": t.value,
            "params": t.params,
            "distributions": {k: optuna.distributions.distribution_to_json(d) for k, d in t.distributions.items()},
            "intermediate_values": {str(k): v for k, v in sorted(t.intermediate_values.items())},
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
            "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
        }
        for t in sorted(study.trials, key=lambda t: t.number)
        if t.state in ended
    ]


def import_trials(output: str | Path, rows: list[dict[str, Any]], direction: str) -> int:
    """Start the search in `output` from trials exported by `export_trials` (the next `tune` there samples and
    prunes knowing them, and counts them toward its trial budget). Refuses an `output` that already has a study.
    Returns the number of trials added."""
    import datetime

    import optuna

    path = Path(output) / "study.db"
    if path.exists():
        raise ConfigError(f"{path}: a study is already there; import trials into a new search folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="search", storage=f"sqlite:///{path}", direction=direction)

    def when(text: str | None) -> datetime.datetime | None:
        return datetime.datetime.fromisoformat(text) if text else None

    for number, row in enumerate(rows):
        trial = optuna.trial.FrozenTrial(  # not create_trial: that one would stamp the times of the import
            number=number,
            state=optuna.trial.TrialState[row["state"]],
            # a pruned trial keeps the score it stopped at (Optuna stores it as the value), as in the study it left
            value=row["value"] if row["state"] in ("COMPLETE", "PRUNED") else None,
            datetime_start=when(row.get("datetime_start")),
            datetime_complete=when(row.get("datetime_complete")),
            params=row["params"],
            distributions={k: optuna.distributions.json_to_distribution(d) for k, d in row["distributions"].items()},
            user_attrs={},
            system_attrs={},
            intermediate_values={int(k): v for k, v in row["intermediate_values"].items()},
            trial_id=number,
        )
        study.add_trial(trial)  # validates the trial
    return len(rows)


def _last_step(trial: Any) -> int | None:
    """The last step a trial reported (a pruned trial stopped there)."""
    return max(trial.intermediate_values) if trial.intermediate_values else None
