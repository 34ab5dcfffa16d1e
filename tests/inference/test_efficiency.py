"""`sentimentkit efficiency`: one row per model and backend with every measure filled (or a note saying why a
backend is not available), interleaved measurement, and clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.inference.efficiency import measure, percentile
from sentimentkit.labels import SENTIMENT5
from sentimentkit.models import build_model, save_checkpoint

TEXTS = ["A fine film.", "Dull and far too long.", "I loved every minute of it!", "Meh."] * 4


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([3.0], 99) == 3.0


def test_rows_for_torch_backends(tiny_model_dir):
    rows = measure([str(tiny_model_dir)], ["torch-fp32", "torch-bf16"], TEXTS, batch_size=8, rounds=2, latency_texts=3)
    assert [r.backend for r in rows] == ["torch-fp32", "torch-bf16"]
    for r in rows:
        assert r.note is None
        assert r.params_total > r.params_trainable > 0  # LoRA: the adapters and head train, the backbone does not
        assert r.gflops_per_text > 0 and r.texts_per_s > 0
        assert 0 < r.latency_p50_ms <= r.latency_p99_ms
        assert r.peak_memory_mb > 50  # a fresh Python process with torch and the model


def test_onnx_backend_and_a_model_that_does_not_export(tiny_model_dir, tiny_backbone, tmp_path):
    pytest.importorskip("onnxruntime", reason="the onnx backends need the onnx extra")
    section = {"type": "moe", "backbone": tiny_backbone, "layers": [-1], "num_experts": 2, "top_k": 1}
    torch.manual_seed(0)
    moe = build_model(section, SENTIMENT5)
    save_checkpoint(moe, tmp_path / "moe", {"model": section, "labels": list(SENTIMENT5.names), "max_length": 32})
    rows = measure(
        [str(tiny_model_dir), str(tmp_path / "moe")], ["onnx-fp32"], TEXTS, batch_size=8, rounds=1, latency_texts=2
    )
    onnx, refused = rows
    assert onnx.note is None and onnx.texts_per_s > 0 and onnx.params_total > 0 and onnx.params_trainable is None
    assert onnx.gflops_per_text is None  # a graph's FLOPs are not counted
    assert refused.note.startswith("not available:") and "moe" in refused.note.lower()
    assert refused.texts_per_s is None


def test_cli_efficiency(tiny_model_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "eff.json"
    runner = CliRunner()
    args = ["efficiency", str(tiny_model_dir), "-b", "torch-fp32", "-f", str(texts), "--rounds", "1"]
    result = runner.invoke(app, [*args, "--latency-texts", "2", "--no-memory", "-o", str(out)])
    assert result.exit_code == 0, result.output
    [row] = json.loads(out.read_text())
    assert row["backend"] == "torch-fp32" and row["peak_memory_mb"] is None and row["texts_per_s"] > 0
    assert "16 texts, batch 32, 1 rounds" in result.output  # the table (its columns wrap on a narrow terminal)
    bad = runner.invoke(app, ["efficiency", str(tiny_model_dir), "-b", "tpu", "-f", str(texts)])
    assert bad.exit_code == 2 and "backend 'tpu'" in bad.output
    bad = runner.invoke(app, [*args, "--n", "0"])
    assert bad.exit_code == 2 and "--n must be at least 1" in bad.output
