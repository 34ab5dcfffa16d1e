"""Fixtures of the export tests: the tiny random models of tests/conftest.py, exported once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_onnx_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny LoRA text classifier exported to ONNX (fp32, fused)."""
    from sentimentkit.inference.export import export_onnx

    return export_onnx(str(tiny_model_dir), tmp_path_factory.mktemp("onnx") / "tiny")
