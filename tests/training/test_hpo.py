from __future__ import annotations

import json

import pytest
import yaml

from sentimentkit.config import ConfigError

optuna = pytest.importorskip("optuna", reason="the hpo extra (optuna) is not installed")

from sentimentkit.training.hpo import tune  # noqa: E402

LR_AND_DROPOUT = {
    "train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "model.dropout": {"type": "categorical", "choices": [0.0, 0.1]},
}


def config(tiny_backbone, tmp_path, space):
    rows = ["text,label"] + [f"{w} thing {i},{lab}" for i in range(8) for w, lab in (("nice", "pos"), ("awful", "neg"))]
    data = tmp_path / "mine.csv"
    data.write_text("\n".join(rows) + "\n")
    return {
        "model": {"type": "text-classifier", "backbone": tiny_backbone, "adapter": "full"},
        "data": {"train": str(data), "validation": str(data), "max_length": 16},
        "train": {"epochs": 2, "batch_size": 8, "patience": None},
        "output": str(tmp_path / "run"),
        "search": {"space": space, "seed": 1},
    }


def test_search_runs_trials_writes_best_config_and_resumes(tiny_backbone, tmp_path):
    raw = config(tiny_backbone, tmp_path, LR_AND_DROPOUT)
    result = tune(raw, trials=2, output=tmp_path / "search")
    assert len(result["trials"]) == 2
    assert set(result["best_params"]) == {"train.lr", "model.dropout"}
    best = yaml.safe_load((tmp_path / "search" / "best.yaml").read_text())
    assert best["train"]["lr"] == result["best_params"]["train.lr"] and "search" not in best
    assert len(json.loads((tmp_path / "search" / "trials.json").read_text())) == 2
    again = tune(raw, trials=3, output=tmp_path / "search")  # resumes: only one more trial
    assert len(again["trials"]) == 3
    # a search extended call by call draws new configurations, not its first ones again
    assert again["trials"][2]["params"] != again["trials"][0]["params"]
    for n in range(3):  # every trial trains into a run folder of its own
        trial = json.loads((tmp_path / "search" / f"trial-{n}" / "experiment.json").read_text())
        assert trial["output"] == str(tmp_path / "search" / f"trial-{n}")
        assert trial["train"]["lr"] == again["trials"][n]["params"]["train.lr"]


def test_search_rejects_bad_spaces_before_training(tiny_backbone, tmp_path):
    with pytest.raises(ConfigError, match="lora_rank"):
        tune(
            config(tiny_backbone, tmp_path, {"model.lora_rank": {"type": "int", "low": 2, "high": 8}}),
            1,
            tmp_path / "s",
        )
    with pytest.raises(ConfigError, match="low < high"):
        tune(
            config(tiny_backbone, tmp_path, {"train.lr": {"type": "float", "low": 1.0, "high": 0.1}}), 1, tmp_path / "s"
        )
    with pytest.raises(ConfigError, match="search.space.train.lr.type"):
        tune(config(tiny_backbone, tmp_path, {"train.lr": {"type": "uniform", "low": 0, "high": 1}}), 1, tmp_path / "s")
    negative = config(tiny_backbone, tmp_path, LR_AND_DROPOUT)
    negative["search"]["prune_after_epochs"] = -1
    with pytest.raises(ConfigError, match="prune_after_epochs -1"):
        tune(negative, 1, tmp_path / "s")


def test_pruning_callback_reports_each_evaluation_and_stops_a_pruned_trial():
    from sentimentkit.training.hpo import PruningCallback

    class Trial:
        def __init__(self, prune_at: int) -> None:
            self.reports: list[tuple[float, int]] = []
            self.prune_at = prune_at

        def report(self, value: float, step: int) -> None:
            self.reports.append((value, step))

        def should_prune(self) -> bool:
            return self.reports[-1][1] >= self.prune_at

    trial = Trial(prune_at=20)
    callback = PruningCallback(trial, "accuracy")
    callback.on_eval(10, {"accuracy": 0.5, "n": 4})
    assert trial.reports == [(0.5, 10)]
    with pytest.raises(optuna.TrialPruned, match="pruned at step 20: accuracy 0.2500"):
        callback.on_eval(20, {"accuracy": 0.25})
    assert trial.reports == [(0.5, 10), (0.25, 20)]
    with pytest.raises(ConfigError, match="search.metric 'f1_macro' is not among"):
        PruningCallback(trial, "f1_macro").on_eval(30, {"accuracy": 0.25})

    # prune_after_epochs: reported from the first evaluation, judged only from the given epoch on
    late = Trial(prune_at=0)  # a pruner that would stop the trial at any step
    callback = PruningCallback(late, "accuracy", after_epochs=1.5)
    callback.on_start(total_steps=60, steps_per_epoch=20)  # judged from step 30 on
    callback.on_eval(10, {"accuracy": 0.1})
    callback.on_eval(20, {"accuracy": 0.2})
    assert late.reports == [(0.1, 10), (0.2, 20)]
    with pytest.raises(optuna.TrialPruned, match="pruned at step 30"):
        callback.on_eval(30, {"accuracy": 0.3})


def test_list_choices_are_searched_and_written_back_as_lists(tiny_backbone, tmp_path):
    raw = config(tiny_backbone, tmp_path, {"train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}})
    raw["model"] = {"type": "moe", "backbone": tiny_backbone, "num_experts": 2, "layers": [-1]}
    raw["train"]["epochs"] = 1
    raw["search"]["space"]["model.layers"] = {"type": "categorical", "choices": [[-1], [-2, -1]]}
    result = tune(raw, trials=2, output=tmp_path / "search")
    assert result["best_params"]["model.layers"] in ([-1], [-2, -1])
    best = yaml.safe_load((tmp_path / "search" / "best.yaml").read_text())
    assert best["model"]["layers"] == result["best_params"]["model.layers"]
    for row in result["trials"]:
        trained = json.loads((tmp_path / "search" / f"trial-{row['number']}" / "experiment.json").read_text())
        assert trained["model"]["layers"] == row["params"]["model.layers"]


def test_a_killed_trial_resumes_from_its_checkpoint_with_the_same_values(tiny_backbone, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    raw = config(tiny_backbone, tmp_path, {"train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}})
    raw["train"].update({"epochs": 100, "checkpoint_every": 2, "eval_every": 2, "log_every": 2})
    search = tmp_path / "search"
    (tmp_path / "raw.json").write_text(json.dumps(raw))
    script = (
        "import json, sys; from sentimentkit.training.hpo import tune; "
        f"tune(json.loads(open({str(tmp_path / 'raw.json')!r}).read()), 1, {str(search)!r})"
    )
    child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OMP_NUM_THREADS": "1"})
    log = search / "trial-0" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and '"step": 10,' in log.read_text()):
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert log.exists(), "the first attempt never trained"
    steps_before = [json.loads(x)["step"] for x in log.read_text().splitlines() if '"loss"' in x]
    time.sleep(1.5)  # longer than the grace period below: the killed trial's heartbeat is stale

    result = tune(raw, trials=1, output=search, heartbeat=(1, 1))
    states = {row["number"]: row for row in result["trials"]}
    assert states[0]["state"] == "FAIL"
    retry = next(row for row in result["trials"] if row["retry_of"] == 0)
    assert retry["state"] == "COMPLETE" and retry["params"] == states[0]["params"]
    assert not (search / f"trial-{retry['number']}").exists()  # it trained on in trial-0's folder
    steps = [json.loads(x)["step"] for x in log.read_text().splitlines() if '"loss"' in x]
    assert steps[: len(steps_before)] == steps_before and steps[-1] == 200
    resumed = steps[len(steps_before) :]
    # it continued from the last checkpoint (at most one logged step back), it did not start over at step 2
    assert steps_before[-1] - 2 <= resumed[0] - 2 <= steps_before[-1]


def test_an_exported_search_continues_elsewhere_from_its_trials(tiny_backbone, tmp_path):
    from sentimentkit.training.hpo import export_trials, import_trials

    raw = config(tiny_backbone, tmp_path, LR_AND_DROPOUT)
    first = tune(raw, trials=2, output=tmp_path / "here")
    rows = json.loads(json.dumps(export_trials(tmp_path / "here")))  # through JSON, as it is kept
    assert len(rows) == 2 and all(r["intermediate_values"] for r in rows)
    assert "run_folder" not in json.dumps(rows)  # no machine paths travel
    assert import_trials(tmp_path / "there", rows, "maximize") == 2
    with pytest.raises(ConfigError, match="already there"):
        import_trials(tmp_path / "there", rows, "maximize")
    again = tune(raw, trials=3, output=tmp_path / "there")  # the two count: one more trial trains
    assert [t["params"] for t in again["trials"][:2]] == [t["params"] for t in first["trials"]]
    assert [t["value"] for t in again["trials"][:2]] == [t["value"] for t in first["trials"]]
    assert len(again["trials"]) == 3 and (tmp_path / "there" / "trial-2").is_dir()
    assert not (tmp_path / "there" / "trial-0").exists()


def test_exported_trials_round_trip_pruned_ones_included(tmp_path):
    import optuna

    from sentimentkit.training.hpo import export_trials, import_trials

    lr = optuna.distributions.FloatDistribution(1e-5, 1e-3, log=True)
    (tmp_path / "here").mkdir()
    study = optuna.create_study(study_name="search", storage=f"sqlite:///{tmp_path / 'here' / 'study.db'}")
    for state, value, steps in (("COMPLETE", 0.8, {10: 0.7, 20: 0.8}), ("PRUNED", 0.4, {10: 0.4})):
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState[state], value=value, params={"train.lr": 1e-4},
                distributions={"train.lr": lr}, intermediate_values=steps,
            )
        )  # fmt: skip
    rows = json.loads(json.dumps(export_trials(tmp_path / "here")))
    assert [(r["state"], r["value"]) for r in rows] == [("COMPLETE", 0.8), ("PRUNED", 0.4)]
    import_trials(tmp_path / "there", rows, "minimize")
    assert json.loads(json.dumps(export_trials(tmp_path / "there"))) == rows  # nothing lost on the way


def test_a_search_extended_one_trial_per_call_never_repeats_a_configuration(tiny_backbone, tmp_path):
    # the equal-budget study interleaves arms, so each call adds one trial; a sampler that restarted its random
    # stream per call drew trial 0's configuration every time
    raw = config(tiny_backbone, tmp_path, {"train.lr": LR_AND_DROPOUT["train.lr"]})
    for n in range(1, 4):
        result = tune(raw, trials=n, output=tmp_path / "search")
    rates = [t["params"]["train.lr"] for t in result["trials"]]
    assert len(rates) == 3 and len(set(rates)) == 3
    again = tune(raw, trials=3, output=tmp_path / "elsewhere")  # the same calls in one go: the same first draw
    assert again["trials"][0]["params"] == result["trials"][0]["params"]
