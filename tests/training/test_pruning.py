"""Optuna pruning works: the trainer reports each evaluation to the trial, and a trial behind the median stops
early. And the shipped search config validates as the README's `tune` example uses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

optuna = pytest.importorskip("optuna", reason="the hpo extra (optuna) is not installed")

from sentimentkit.training.hpo import _experiment, _parse_space, tune  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_a_trial_behind_the_median_is_pruned_early(tiny_backbone, tmp_path):
    rows = ["text,label"] + [
        f"{w} thing {i},{lab}" for i in range(16) for w, lab in (("nice", "pos"), ("awful", "neg"))
    ]
    data = tmp_path / "mine.csv"
    data.write_text("\n".join(rows) + "\n")
    raw = {
        "model": {"type": "text-classifier", "backbone": tiny_backbone, "adapter": "full"},
        "data": {"train": str(data), "validation": str(data), "max_length": 12},
        "train": {"epochs": 6, "batch_size": 8, "patience": None, "eval_every": 2, "warmup_ratio": 0.0},
        "output": str(tmp_path / "run"),
        "search": {"space": {"train.lr": {"type": "categorical", "choices": [0.005, 1.0e-9]}}, "startup_trials": 1},
    }
    search = tmp_path / "search"
    search.mkdir()
    study = optuna.create_study(study_name="search", storage=f"sqlite:///{search / 'study.db'}", direction="maximize")
    study.enqueue_trial({"train.lr": 0.005})  # learns: completes and sets the median
    study.enqueue_trial({"train.lr": 1.0e-9})  # learns nothing: behind the median at its first evaluation
    result = tune(raw, trials=2, output=search)
    states = {t["params"]["train.lr"]: t for t in result["trials"]}
    assert states[0.005]["state"] == "COMPLETE" and states[0.005]["steps"] == 24
    assert states[1.0e-9]["state"] == "PRUNED" and states[1.0e-9]["steps"] < 24
    log = [json.loads(x) for x in (search / "trial-1" / "log.jsonl").read_text().splitlines()]
    assert max(row["step"] for row in log) < 24  # it stopped training, not just reporting


def test_the_shipped_search_config_validates():
    raw = yaml.safe_load((REPO / "configs" / "lora.yaml").read_text())
    space = _parse_space(raw["search"]["space"])
    assert {"train.lr", "model.lora_r"} <= set(space)
    first = {k: (s.choices[0] if s.type == "categorical" else s.low) for k, s in space.items()}
    config = _experiment(raw, first, "runs/check")
    assert config.model["lora_r"] == 4
