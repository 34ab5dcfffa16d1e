from __future__ import annotations

import json

import pytest
import yaml

from sentimentkit.config import ConfigError

optuna = pytest.importorskip("optuna", reason="the hpo extra (optuna) is not installed")

from sentimentkit.training.hpo import tune  # noqa: E402


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
    raw = config(
        tiny_backbone,
        tmp_path,
        {
            "train.lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "model.dropout": {"type": "categorical", "choices": [0.0, 0.1]},
        },
    )
    result = tune(raw, trials=2, output=tmp_path / "search")
    assert len(result["trials"]) == 2
    assert set(result["best_params"]) == {"train.lr", "model.dropout"}
    best = yaml.safe_load((tmp_path / "search" / "best.yaml").read_text())
    assert best["train"]["lr"] == result["best_params"]["train.lr"] and "search" not in best
    assert len(json.loads((tmp_path / "search" / "trials.json").read_text())) == 2
    again = tune(raw, trials=3, output=tmp_path / "search")  # resumes: only one more trial
    assert len(again["trials"]) == 3


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
