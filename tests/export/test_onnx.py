"""ONNX export of a document model: parity with torch, the manifest, the torch-free load, bad folders, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import sentimentkit
from sentimentkit.cli import app
from sentimentkit.hub import read_manifest, write_manifest
from sentimentkit.inference.export import export_onnx
from sentimentkit.inference.onnx import GRAPH_FILE, TOKENIZER_FILE, OnnxModel

pytest.importorskip("onnxruntime", reason="export tests need the onnx extra: pip install 'sentimentkit[onnx]'")

SENTENCES = [
    "good",
    "The plot is thin, but the acting carries it.",
    "A dull, overlong and utterly pointless film.",
    "I laughed, I cried, I bought the soundtrack.",
    "Not bad at all!",
    "It is what it is.",
    "word " * 50,  # longer than the tiny model's window (32): truncated
    "Visually stunning; emotionally hollow.",
]


def batch_logits(pipeline, items) -> np.ndarray:
    """The logits of one padded batch of items, from a torch module or an exported graph."""
    if isinstance(pipeline.model, OnnxModel):
        return pipeline.model.forward_items(items).logits
    import torch

    with torch.inference_mode():
        return pipeline.model(pipeline.task.collate(items).without_labels()).logits.float().numpy()


def test_exported_folder_is_self_contained(tiny_onnx_dir):
    assert {p.name for p in tiny_onnx_dir.iterdir()} == {"config.json", GRAPH_FILE, TOKENIZER_FILE}
    manifest = read_manifest(tiny_onnx_dir)
    raw = json.loads((tiny_onnx_dir / "config.json").read_text())
    assert raw["format"] == 2 and raw["task"] == "text-classification.v1"
    section = manifest.onnx
    assert section["file"] == GRAPH_FILE and section["opset"] >= 17 and section["precision"] == "fp32"
    assert section["inputs"] == ["input_ids", "attention_mask"]
    assert any("Attention x2" in note for note in section["optimizations"])  # fused: the tiny BERT has 2 layers
    assert section["check"]["max_abs_logit_diff"] < 1e-4
    assert manifest.preprocessing["max_length"] == 32 and manifest.labels.names[0] == "very negative"


def test_manifest_round_trip(tiny_onnx_dir, tmp_path):
    manifest = read_manifest(tiny_onnx_dir)
    write_manifest(manifest, tmp_path)
    again = read_manifest(tmp_path)
    assert again.onnx == manifest.onnx and again.to_json() == manifest.to_json()


def test_fp32_matches_torch(tiny_model_dir, tiny_onnx_dir):
    torch_pipeline = sentimentkit.load(str(tiny_model_dir))
    onnx_pipeline = sentimentkit.load(str(tiny_onnx_dir))
    assert isinstance(onnx_pipeline.model, OnnxModel)
    items = torch_pipeline.task.encode([sentimentkit.types.TextExample(text=t) for t in SENTENCES])
    expected, got = batch_logits(torch_pipeline, items), batch_logits(onnx_pipeline, items)
    assert np.abs(expected - got).max() < 1e-4
    assert (expected.argmax(-1) == got.argmax(-1)).all()
    # the same Predictions, through the task's own decoding: labels, truncation, chunks, blank inputs
    texts = [*SENTENCES, "   "]
    for options in ({}, {"long_texts": "chunks"}):
        ours, theirs = onnx_pipeline(texts, **options), torch_pipeline(texts, **options)
        for a, b in zip(ours, theirs, strict=True):
            assert (a.label, a.polarity, a.truncated, a.chunks, a.error) == (
                b.label,
                b.polarity,
                b.truncated,
                b.chunks,
                b.error,
            )
            for name, p in b.probabilities.items():
                assert a.probabilities[name] == pytest.approx(p, abs=1e-5)
    assert ours[6].chunks is not None and ours[-1].error


def test_int8_stays_close_to_fp32(tiny_model_dir, tmp_path):
    """Dynamic int8 on the random tiny model: a bounded difference (agreement is meaningless on random weights; the
    real sentiment-en's agreement is checked in test_real_model.py)."""
    folder = export_onnx(str(tiny_model_dir), tmp_path / "int8", int8=True)
    section = read_manifest(folder).onnx
    assert section["precision"] == "int8" and any("int8" in note for note in section["optimizations"])
    fp32 = sentimentkit.load(str(tiny_model_dir))
    int8 = sentimentkit.load(str(folder))
    items = fp32.task.encode([sentimentkit.types.TextExample(text=t) for t in SENTENCES])
    expected, got = batch_logits(fp32, items), batch_logits(int8, items)
    diff = np.abs(expected - got)
    assert diff.mean() < 0.25 and diff.max() < 2.0  # logits here span about +-1.5


def test_loading_an_exported_folder_does_not_import_torch(tiny_onnx_dir):
    code = (
        "import sys, sentimentkit; p = sentimentkit.load(sys.argv[1]); r = p(['good', ' ']); "
        "assert r[0].label and r[1].error; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(tiny_onnx_dir)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr


def test_a_folder_without_its_graph_names_the_file(tiny_onnx_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", TOKENIZER_FILE):
        (broken / name).write_bytes((tiny_onnx_dir / name).read_bytes())
    with pytest.raises(FileNotFoundError, match=r"model\.onnx: no such file"):
        sentimentkit.load(str(broken))


def test_export_refuses_a_used_folder_an_exported_model_and_bf16(tiny_model_dir, tiny_onnx_dir, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        export_onnx(str(tiny_model_dir), tmp_path / "used")
    with pytest.raises(ValueError, match="exported ONNX folder already"):
        export_onnx(str(tiny_onnx_dir), tmp_path / "again")
    from sentimentkit.encoders.pool import Runtime

    with pytest.raises(ValueError, match="runs at the precision it was exported with"):
        sentimentkit.load(str(tiny_onnx_dir), runtime=Runtime("native", dtype="bf16"))


def test_cli_export(tiny_model_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    done = runner.invoke(app, ["export", str(tiny_model_dir), "--format", "onnx", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["output"] == str(out) and (out / GRAPH_FILE).exists()
    analyzed = runner.invoke(app, ["analyze", "great fun", "--model", str(out), "--json"])
    assert analyzed.exit_code == 0, analyzed.output
    wrong = runner.invoke(app, ["export", str(tiny_model_dir), "--format", "tflite", "-o", str(tmp_path / "x")])
    assert wrong.exit_code == 2 and "only export format is onnx" in wrong.output
    used = runner.invoke(app, ["export", str(tiny_model_dir), "-o", str(out)])
    assert used.exit_code == 2 and "not an empty folder" in used.output


def test_threads_reach_the_session(tiny_onnx_dir):
    from sentimentkit.encoders.pool import Runtime

    pipeline = sentimentkit.load(str(tiny_onnx_dir), runtime=Runtime("native", threads=1))
    assert pipeline.model.session.get_session_options().intra_op_num_threads == 1
    assert Path(pipeline.model.path).name == GRAPH_FILE


def test_a_model_that_does_not_trace_is_named_and_leaves_no_folder(tiny_backbone, tmp_path):
    """Mixture-of-experts routing (argsort, bincount, per-expert splits) has data-dependent shapes."""
    from sentimentkit.labels import SENTIMENT5
    from sentimentkit.models import build_model, save_checkpoint

    section = {"type": "moe", "backbone": tiny_backbone, "layers": [-1]}
    save_checkpoint(
        build_model(section, SENTIMENT5), tmp_path / "moe", {"model": section, "labels": list(SENTIMENT5.names)}
    )
    with pytest.raises(ValueError, match="'moe' model does not export to ONNX.*data-dependent"):
        export_onnx(str(tmp_path / "moe"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_keeps_the_exporters_harmless_cpp_noise_off_the_terminal(tmp_path, capfd):
    """A packed LSTM (what iagcn and bilstm-attn export) makes the TorchScript exporter print shape-inference
    warnings from C++, past Python's warning filters: they are dropped, anything else it prints passes through."""
    import io
    from types import SimpleNamespace

    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from sentimentkit.inference import export

    class Packed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(4, 3, batch_first=True)

        def forward(self, x, lengths):
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            return pad_packed_sequence(out, batch_first=True)[0].sum(1)

    source = SimpleNamespace(path=tmp_path, model_type="packed-lstm")
    inputs = (torch.randn(2, 5, 4), torch.tensor([5, 3]))
    axes = {"x": {0: "batch", 1: "time"}}
    export._trace(Packed(), inputs, tmp_path / "m.onnx", ["x", "lengths"], axes, 17, source)
    assert (tmp_path / "m.onnx").stat().st_size > 0
    printed = capfd.readouterr()
    assert "PackPadded" not in printed.err and "PadPacked" not in printed.err

    stream = io.StringIO()
    noise = "[W1203 shape_type_inference.cpp:1994] Warning: The shape inference of prim::PackPadded type is missing\n"
    export._pass_through(noise + "something else went wrong\n", stream)
    assert stream.getvalue() == "something else went wrong\n"
