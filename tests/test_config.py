from __future__ import annotations

import pytest

from sentimentkit.config import ConfigError, DataConfig, TrainConfig, apply_overrides, from_dict, load_config
from sentimentkit.models.base import model_config

GOOD = """
model:
  type: text-classifier
  adapter: lora
  lora_r: 4
data:
  train: sst5
  max_length: 64
train:
  epochs: 1
  lr: 1e-3
output: runs/x
"""


def write(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_load_config_reads_sections_and_coerces_numbers(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.data == DataConfig(train="sst5", max_length=64)
    assert config.train.epochs == 1.0 and isinstance(config.train.epochs, float)
    assert config.train.lr == pytest.approx(1e-3)
    assert model_config(config.model).lora_r == 4


def test_unknown_key_names_the_dotted_path(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.learning_rate"):
        load_config(write(tmp_path, GOOD.replace("lr: 1e-3", "learning_rate: 1e-3")))


def test_unknown_model_key_is_an_error():
    with pytest.raises(ConfigError, match=r"model\.lora_rank"):
        model_config({"type": "text-classifier", "lora_rank": 8})
    # the implementation is a runtime choice (models.base.Runtime), no longer a model setting
    for model_type in ("text-classifier", "ate", "iagcn"):
        with pytest.raises(ConfigError, match=r"model\.implementation"):
            model_config({"type": model_type, "implementation": "native"})


def test_load_experiment_checks_the_model_section_too(tmp_path):
    from sentimentkit.training.experiment import load_experiment

    path = write(tmp_path, GOOD.replace("lora_r: 4", "lora_rank: 4"))
    load_config(path)  # the model section's own keys are not load_config's to know
    with pytest.raises(ConfigError, match=r"c\.yaml: .*model\.lora_rank"):
        load_experiment(path)
    assert load_experiment(write(tmp_path, GOOD)) == load_config(write(tmp_path, GOOD))


def test_run_dir_fills_in_the_seed(tmp_path):
    from sentimentkit.training.experiment import run_dir

    config = load_config(write(tmp_path, GOOD.replace("output: runs/x", "output: runs/x/seed{seed}")), ["train.seed=3"])
    assert str(run_dir(config)) == "runs/x/seed3"
    default = load_config(write(tmp_path, GOOD.replace("output: runs/x", "")))
    assert default.output == "runs/experiment/seed{seed}" and str(run_dir(default)) == "runs/experiment/seed1"
    with pytest.raises(ConfigError, match="only {seed}"):
        run_dir(load_config(write(tmp_path, GOOD.replace("output: runs/x", "output: runs/{name}"))))


def test_unknown_model_type_lists_known_models():
    with pytest.raises(KeyError, match="text-classifier"):
        model_config({"type": "no-such-model"})


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.batch_size: expected int"):
        from_dict(TrainConfig, {"batch_size": "many"}, "train")
    with pytest.raises(ConfigError, match=r"train\.bf16: expected bool"):
        from_dict(TrainConfig, {"bf16": 1}, "train")


def test_dotted_overrides(tmp_path):
    config = load_config(write(tmp_path, GOOD), ["train.seed=7", "model.lora_r=2", "data.validation=sst5"])
    assert config.train.seed == 7
    assert config.model["lora_r"] == 2
    assert config.data.validation == "sst5"
    with pytest.raises(ConfigError, match="dotted.key=value"):
        apply_overrides({}, ["train.seed"])


def test_missing_model_type(tmp_path):
    with pytest.raises(ConfigError, match="model.type"):
        load_config(write(tmp_path, "model: {adapter: lora}\n"))
