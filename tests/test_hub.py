from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from sentimentkit.hub import ManifestError, ModelNotFoundError, minilm_dir, read_manifest, resolve, write_manifest
from sentimentkit.labels import SENTIMENT5


def test_minilm_resolves_to_the_installed_package():
    path = minilm_dir()
    assert (path / "config.json").exists() and (path / "model.safetensors").exists()
    assert resolve("minilm").kind == "backbone"
    assert resolve("sentence-transformers/all-MiniLM-L6-v2").path == str(path)


def test_local_directory(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve(str(tmp_path)).kind == "local"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve(str(empty))


def test_unknown_hub_id_offline_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("SENTIMENTKIT_ALLOW_DOWNLOAD", raising=False)
    with pytest.raises(ModelNotFoundError) as err:
        resolve("someone/not-a-cached-model")
    message = str(err.value)
    assert "\n" not in message
    assert "SENTIMENTKIT_ALLOW_DOWNLOAD=1" in message and "local model directory" in message


def test_import_does_no_work():
    code = "import sys, sentimentkit; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_first_format_model_folders_still_read(tmp_path):
    old = {
        "task": "sentiment-5",
        "labels": list(SENTIMENT5.names),
        "model": {"type": "text-classifier", "backbone": "minilm", "implementation": "native"},
        "max_length": 64,
        "truncation": "head+tail",
        "metrics": {"sst5_test_accuracy": 0.5},
        "trained_on": {"train": "sst5"},
    }
    (tmp_path / "config.json").write_text(json.dumps(old))
    manifest = read_manifest(tmp_path)
    assert (manifest.kind, manifest.task, manifest.path) == ("model", "text-classification.v1", tmp_path)
    assert manifest.labels == SENTIMENT5 and manifest.labels.polarity_map is not None  # the known scheme
    assert manifest.model == {"type": "text-classifier", "backbone": "minilm"}  # a runtime choice is dropped
    assert manifest.preprocessing == {"max_length": 64, "truncation": "head+tail"}
    assert manifest.metrics == {"sst5_test_accuracy": 0.5} and manifest.extra == {"trained_on": {"train": "sst5"}}
    written = manifest.to_json()  # the current format: versioned task, preprocessing in its own section
    assert written["format"] == 2 and written["task"] == "text-classification.v1"
    assert written["preprocessing"] == {"max_length": 64, "truncation": "head+tail"}
    assert not {"max_length", "truncation", "implementation"} & (set(written) | set(written["model"]))
    copy = tmp_path / "copy"
    write_manifest(manifest, copy)
    assert read_manifest(copy) == replace(manifest, path=copy)


def test_bundle_manifest_names_its_components(tmp_path):
    raw = {"task": "aspect-sentiment", "labels": ["negative", "neutral", "positive"], "parser": "parser-en",
           "components": {"extractor": "ex", "polarity": "pol"}}  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(raw))
    manifest = read_manifest(tmp_path)
    assert (manifest.kind, manifest.task, manifest.model) == ("bundle", "aspect-sentiment.v1", None)
    assert manifest.component("polarity") == tmp_path / "pol" and manifest.component("nothing") is None
    assert manifest.preprocessing == {"parser": "parser-en"}
    with pytest.raises(ManifestError, match="no model section"):
        manifest.model_type  # noqa: B018


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"format": 3, "task": "text-classification.v1", "labels": ["a"]}, "format 3 is newer"),
        ({"task": "text-classification.v1", "model": {"type": "text-classifier"}}, "'labels' is missing"),
        ({"task": "text-classification.v1", "labels": ["a"]}, "'model'"),
        ({"labels": ["a"], "model": {"type": "text-classifier"}}, "'task' is missing"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_bad_config_json_names_the_file_and_key(tmp_path, raw, message):
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=message) as err:
        read_manifest(tmp_path)
    assert str(tmp_path / "config.json") in str(err.value)
    with pytest.raises(ManifestError, match="no such file"):
        read_manifest(tmp_path / "elsewhere")
