"""The default backend: shipped models run on ONNX Runtime from a compiled copy, without importing torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings

import pytest

import sentimentkit
from sentimentkit.hub import read_manifest, resolve
from sentimentkit.inference import compiled
from sentimentkit.inference.compiled import CompileError, chosen_backend, compiled_folder, compiled_key

TEXTS = ["I loved every minute of it.", "Terrible service, never again.", "It was fine, I guess.", "meh"]
ABSA_TEXTS = ["The battery life is great but the screen is dim.", "The pasta was cold and the waiter rude."]

SCRIPT = """
import json, sys
import sentimentkit
texts = json.loads(sys.argv[1])
out = [p.to_dict() for p in sentimentkit.load(sys.argv[2], aspects=sys.argv[3] or None)(texts)]
print(json.dumps({"torch": "torch" in sys.modules, "predictions": out}))
"""


def _run(model: str, aspects: str, texts: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(texts), model, aspects],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return json.loads(out.stdout)


def _same(a: list[dict], b: list[dict]) -> None:
    for x, y in zip(a, b, strict=True):
        assert x["label"] == y["label"]
        assert x["probabilities"] == pytest.approx(y["probabilities"], abs=1e-4)
        assert [(s["start"], s["end"], s["polarity"]) for s in x.get("aspects", [])] == [
            (s["start"], s["end"], s["polarity"]) for s in y.get("aspects", [])
        ]


def test_default_runs_shipped_models_on_onnx_without_torch_and_agrees_with_torch():
    """The session's compiled copies (conftest) serve a fresh process that never imports torch."""
    onnx = _run("sentiment-en", "absa-en", TEXTS + ABSA_TEXTS, {})
    reference = _run("sentiment-en", "absa-en", TEXTS + ABSA_TEXTS, {"SENTIMENTKIT_BACKEND": "torch"})
    assert onnx["torch"] is False
    assert reference["torch"] is True
    _same(onnx["predictions"], reference["predictions"])
    assert any(p.get("aspects") for p in onnx["predictions"])  # the aspect bundle ran too


def test_first_load_compiles_into_the_cache_then_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTIMENTKIT_CACHE", str(tmp_path))
    manifest = read_manifest(resolve("sentiment-en").path)
    calls = []
    real = compiled.log.warning
    monkeypatch.setattr(compiled.log, "warning", lambda *a: calls.append(a) or real(*a))
    first = sentimentkit.load("sentiment-en")
    assert first.backend == "onnx" and len(calls) == 1
    folder = tmp_path / "onnx" / f"sentiment-en-{compiled_key(manifest)}"
    assert (folder / "model.onnx").is_file() and first.manifest.path == folder
    assert not [p for p in (tmp_path / "onnx").iterdir() if p.name.startswith(".")]  # no staging left behind
    second = sentimentkit.load("sentiment-en")
    assert len(calls) == 1 and second.manifest.path == folder
    torch_pipeline = sentimentkit.load("sentiment-en", backend="torch")
    assert torch_pipeline.backend == "torch"
    for a, b in zip(second(TEXTS), torch_pipeline(TEXTS), strict=True):
        assert a.label == b.label and a.probabilities == pytest.approx(b.probabilities, abs=1e-4)


def test_key_follows_the_model_files(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(resolve("sentiment-en").path, folder)
    before = compiled_key(read_manifest(folder))
    config = folder / "config.json"
    os.utime(config, ns=(config.stat().st_atime_ns, config.stat().st_mtime_ns + 10**9))
    assert compiled_key(read_manifest(folder)) != before


def test_a_failed_compile_falls_back_to_torch_once_and_is_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("SENTIMENTKIT_CACHE", str(tmp_path))
    attempts = []

    def broken(name, output, **_):
        attempts.append(name)
        raise RuntimeError("no graph for you")

    monkeypatch.setattr("sentimentkit.inference.export.export_onnx", broken)
    with pytest.warns(RuntimeWarning, match="no graph for you.*running sentiment-en on torch"):
        pipeline = sentimentkit.load("sentiment-en")
    assert pipeline.backend == "torch" and pipeline(TEXTS[:1])[0].label
    with pytest.warns(RuntimeWarning, match="failed before"):
        assert sentimentkit.load("sentiment-en").backend == "torch"
    assert attempts == ["sentiment-en"]  # the failure is remembered: no second export
    with pytest.raises(CompileError, match="failed before"):
        sentimentkit.load("sentiment-en", backend="onnx")
    assert not [p for p in (tmp_path / "onnx").iterdir() if p.name.startswith(".")]


def test_an_unwritable_cache_falls_back_to_torch(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SENTIMENTKIT_CACHE", str(blocker))
    with pytest.warns(RuntimeWarning, match="cannot write compiled models"):
        assert sentimentkit.load("sentiment-en").backend == "torch"


def test_backend_names_are_checked(monkeypatch):
    monkeypatch.setenv("SENTIMENTKIT_BACKEND", "gpu")
    with pytest.raises(ValueError, match="SENTIMENTKIT_BACKEND='gpu': expected one of auto, torch, onnx"):
        sentimentkit.load("sentiment-en")
    with pytest.raises(ValueError, match="backend='fast'"):
        chosen_backend("fast")


def test_user_model_folders_stay_on_torch_unless_onnx_is_asked_for(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SENTIMENTKIT_CACHE", str(tmp_path))
    assert sentimentkit.load(tiny_model_dir).backend == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the notice is a log line, not a warning
        onnx = sentimentkit.load(tiny_model_dir, backend="onnx")
    assert onnx.backend == "onnx"
    a, b = onnx(TEXTS), sentimentkit.load(tiny_model_dir, backend="torch")(TEXTS)
    assert [p.label for p in a] == [p.label for p in b]
    assert onnx.source == str(tiny_model_dir)


def test_an_explicit_runtime_means_torch():
    from sentimentkit.encoders.pool import inference_runtime

    assert sentimentkit.load("sentiment-en", runtime=inference_runtime()).backend == "torch"


def test_explanations_of_a_compiled_pipeline_use_its_torch_model():
    pytest.importorskip("captum")
    from sentimentkit.explain import Explainer

    pipeline = sentimentkit.load("sentiment-en")
    assert pipeline.backend == "onnx"
    (attribution,) = Explainer(pipeline, steps=4).explain("A joy from start to finish.")
    assert attribution.label == pipeline("A joy from start to finish.")[0].label


def test_spacy_is_imported_without_torch_when_torch_is_not_loaded():
    code = (
        "import sys; from sentimentkit.data.syntax import _spacy; _spacy(); "
        "print('torch' in sys.modules); import torch; print(torch.ones(1).item())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "1.0"]


def test_compile_errors_name_the_missing_packages(monkeypatch):
    monkeypatch.setattr(compiled, "onnx_installed", lambda: False)
    with pytest.raises(CompileError, match=r"pip install \"sentimentkit\[onnx\]\""):
        compiled_folder("sentiment-en", read_manifest(resolve("sentiment-en").path))
