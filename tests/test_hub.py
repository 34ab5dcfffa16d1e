from __future__ import annotations

import subprocess
import sys

import pytest

from sentimentkit.hub import ModelNotFoundError, minilm_dir, resolve


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
