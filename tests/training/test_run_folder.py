"""The run folder follows the seed, and a folder holding a run of another config is never resumed into."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.config import ConfigError
from sentimentkit.training.experiment import load_experiment, run_dir

runner = CliRunner()


def _config(tmp_path: Path, backbone: str, output: str) -> Path:
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"good {i},pos\nbad {i},neg\n" for i in range(6)))
    config = tmp_path / "c.yaml"
    config.write_text(
        f"model: {{type: text-classifier, backbone: {backbone}, adapter: full}}\n"
        f"data: {{train: {data}, validation: {data}, max_length: 12}}\n"
        "train: {epochs: 1, batch_size: 4, patience: null}\n"
        f"output: {output}\n"
    )
    return config


def test_seed_overrides_train_into_their_own_folders(tiny_backbone, tmp_path):
    config = _config(tmp_path, tiny_backbone, f"{tmp_path}/runs/seed{{seed}}")
    assert run_dir(load_experiment(config, ["train.seed=2"])) == tmp_path / "runs" / "seed2"
    for seed in (1, 2):
        result = runner.invoke(app, ["train", str(config), "--set", f"train.seed={seed}", "--no-progress"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["output"] == str(tmp_path / "runs" / f"seed{seed}")
    for seed in (1, 2):
        saved = json.loads((tmp_path / "runs" / f"seed{seed}" / "experiment.json").read_text())
        assert saved["train"]["seed"] == seed
        assert (tmp_path / "runs" / f"seed{seed}" / "best" / "model.safetensors").exists()


def test_a_folder_of_another_config_is_refused_naming_the_keys(tiny_backbone, tmp_path):
    config = _config(tmp_path, tiny_backbone, f"{tmp_path}/run")  # no {seed}: one folder for every seed
    first = runner.invoke(app, ["train", str(config), "--no-progress"])
    assert first.exit_code == 0, first.output
    log = (tmp_path / "run" / "log.jsonl").read_text()
    second = runner.invoke(app, ["train", str(config), "--set", "train.seed=2", "--set", "train.lr=0.01"])
    assert second.exit_code == 2
    assert "train.seed: 1 -> 2" in second.stderr and "train.lr: 0.0005 -> 0.01" in second.stderr
    assert (tmp_path / "run" / "log.jsonl").read_text() == log  # nothing was written into the other run
    again = runner.invoke(app, ["train", str(config), "--no-progress"])  # the same config resumes (here: is done)
    assert again.exit_code == 0, again.output


def test_a_bad_output_template_is_a_config_error(tiny_backbone, tmp_path):
    config = _config(tmp_path, tiny_backbone, f"{tmp_path}/run-{{model}}")
    try:
        run_dir(load_experiment(config))
    except ConfigError as err:
        assert "{seed}" in str(err)
    else:
        raise AssertionError("an unknown placeholder was accepted")


def test_a_key_added_to_the_config_since_the_run_was_written_is_no_difference_at_its_default(tmp_path):
    from sentimentkit.config import ExperimentConfig as Config
    from sentimentkit.config import from_dict
    from sentimentkit.training.experiment import RUN_CONFIG, check_run_folder

    config = from_dict(Config, {"model": {"type": "full-ft"}, "output": str(tmp_path)})
    check_run_folder(tmp_path, config)
    (tmp_path / "last").mkdir()
    saved = json.loads((tmp_path / RUN_CONFIG).read_text())
    del saved["data"]["emoji"]  # written by a version without that key
    (tmp_path / RUN_CONFIG).write_text(json.dumps(saved))
    check_run_folder(tmp_path, config)  # at its default: the same run
    (tmp_path / RUN_CONFIG).write_text(json.dumps(saved))
    changed = from_dict(Config, {"model": {"type": "full-ft"}, "data": {"emoji": "keep"}, "output": str(tmp_path)})
    with pytest.raises(ConfigError, match="data.emoji"):
        check_run_folder(tmp_path, changed)
