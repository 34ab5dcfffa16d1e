"""Weight interpolation of two trained models (WiSE-FT): the ends reproduce each model exactly, a LoRA adapter's
update interpolates linearly (rank concatenation, scales folded in), and models that differ are refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import sentimentkit
from sentimentkit.cli import app
from sentimentkit.labels import BINARY, SENTIMENT5
from sentimentkit.models import build_model, save_checkpoint
from sentimentkit.training.interpolate import InterpolationError, interpolate

TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "It is a movie.", "Not bad at all."]


def _model(folder, backbone, seed: int, r: int, alpha: float, labels=SENTIMENT5):
    torch.manual_seed(seed)
    section = {"type": "text-classifier", "backbone": backbone, "adapter": "lora", "lora_r": r, "lora_alpha": alpha}
    model = build_model(section, labels)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_b" in name:
                param.normal_(0, 0.5)
    meta = {"model": section, "labels": list(labels.names), "max_length": 32, "task": "sentiment-5"}
    save_checkpoint(model, folder, meta)
    return folder


@pytest.fixture
def ends(tiny_backbone, tmp_path):
    return _model(tmp_path / "start", tiny_backbone, 1, 2, 4.0), _model(tmp_path / "end", tiny_backbone, 2, 4, 4.0)


def _probabilities(folder) -> np.ndarray:
    return np.array([list(p.probabilities.values()) for p in sentimentkit.load(str(folder), backend="torch")(TEXTS)])


def test_the_ends_are_the_two_models(ends, tmp_path):
    start, end = ends
    for weight, same in ((0.0, start), (1.0, end)):
        folder = tmp_path / f"w{weight}"
        manifest = interpolate(start, end, weight, folder)
        assert manifest.model["lora_r"] == 6 and manifest.model["lora_alpha"] == 6.0
        assert manifest.extra["interpolated"] == {"start": str(start), "end": str(end), "weight": weight}
        np.testing.assert_allclose(_probabilities(folder), _probabilities(same), atol=1e-5)


def test_a_lora_update_interpolates_linearly(ends, tmp_path):
    start, end = ends
    interpolate(start, end, 0.3, tmp_path / "mid")
    a, b, mid = (load_file(str(f / "model.safetensors")) for f in (start, end, tmp_path / "mid"))
    key = next(k[: -len(".lora_a")] for k in a if k.endswith(".lora_a"))
    update = {  # (alpha / r) B A of each side
        "start": 2.0 * a[f"{key}.lora_b"] @ a[f"{key}.lora_a"],
        "end": 1.0 * b[f"{key}.lora_b"] @ b[f"{key}.lora_a"],
    }
    got = mid[f"{key}.lora_b"] @ mid[f"{key}.lora_a"]  # scale 1
    torch.testing.assert_close(got, 0.7 * update["start"] + 0.3 * update["end"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(mid["head.weight"], 0.7 * a["head.weight"] + 0.3 * b["head.weight"])


def test_models_that_differ_are_refused(ends, tiny_backbone, tmp_path):
    start, end = ends
    binary = _model(tmp_path / "binary", tiny_backbone, 3, 2, 4.0, BINARY)
    with pytest.raises(InterpolationError, match="labels differ"):
        interpolate(start, binary, 0.5, tmp_path / "x")
    with pytest.raises(InterpolationError, match=r"weight must be in \[0, 1\]"):
        interpolate(start, end, 1.5, tmp_path / "y")
    raw = json.loads((end / "config.json").read_text())
    raw["model"]["pooling"] = "cls"
    (end / "config.json").write_text(json.dumps(raw))
    with pytest.raises(InterpolationError, match="'pooling'"):
        interpolate(start, end, 0.5, tmp_path / "z")


def test_the_command(ends, tmp_path):
    start, end = ends
    runner = CliRunner()
    result = runner.invoke(app, ["interpolate", str(start), str(end), "--weight", "0.5", "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["weight"] == 0.5 and (tmp_path / "m" / "model.safetensors").exists()
    again = runner.invoke(app, ["interpolate", str(start), str(end), "--weight", "0.5", "-o", str(tmp_path / "m")])
    assert again.exit_code == 2 and "exists" in again.output
