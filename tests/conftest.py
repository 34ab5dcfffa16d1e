"""Shared fixtures: the benchmark data folder (or a skip), and a tiny random BERT backbone for fast tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from sentimentkit.labels import SENTIMENT5
from sentimentkit.models import build_model, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
# Compiled copies of the shipped models (the default ONNX backend, `inference/compiled.py`) for this test tree: kept
# between local runs, built fresh in CI's clean clone; subprocesses the tests start share it.
os.environ.setdefault("SENTIMENTKIT_CACHE", str(REPO / ".pytest_cache" / "sentimentkit"))


@pytest.fixture(scope="session", autouse=True)
def compiled_shipped_models() -> None:
    """Compile the shipped models once, before any test, so that no test's output carries the one-time notice."""
    from sentimentkit.hub import read_manifest, resolve, shipped_models
    from sentimentkit.inference.compiled import compiled_folder

    for name in shipped_models():
        compiled_folder(name, read_manifest(resolve(name).path))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data folder: $SENTIMENTKIT_DATA, or `shared/data` beside the repository."""
    path = Path(os.environ.get("SENTIMENTKIT_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"benchmark data folder not found: set SENTIMENTKIT_DATA (looked in {path})")
    return path


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> str:
    """A 2-layer, 32-wide random BERT with MiniLM's tokenizer, saved as a local model directory.

    Training tests use it to exercise the real code paths (local-directory resolution, AutoModel, LoRA)
    in seconds; tests of the shipped model use the real MiniLM.
    """
    from transformers import BertConfig, BertModel

    from sentimentkit.hub import minilm_dir

    directory = tmp_path_factory.mktemp("tiny-bert")
    source = minilm_dir()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (source / name).exists():
            shutil.copy(source / name, directory / name)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_backbone, tmp_path_factory):
    """A 5-class LoRA text classifier on the tiny backbone, with random adapters (B != 0), saved."""
    torch.manual_seed(1)
    section = {"type": "text-classifier", "backbone": tiny_backbone, "adapter": "lora", "lora_r": 2}
    model = build_model(section, SENTIMENT5)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_b" in name:
                param.normal_(0, 0.5)
    directory = tmp_path_factory.mktemp("tiny-model")
    meta = {"model": section, "labels": list(SENTIMENT5.names), "max_length": 32, "task": "sentiment-5"}
    save_checkpoint(model, directory, meta)
    return directory
