"""Kill a real `sentimentkit train` process part way (SIGKILL), rerun it, and reach the same final weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file


def write_run(tmp_path, backbone: str, name: str):
    data = tmp_path / "data.csv"
    if not data.exists():
        rows = ["text,label"] + [
            f"{w} item {i},{lab}" for i in range(12) for w, lab in (("good", "pos"), ("bad", "neg"))
        ]
        data.write_text("\n".join(rows) + "\n")
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"model: {{type: text-classifier, backbone: {backbone}, adapter: full}}\n"
        f"data: {{train: {data}, validation: {data}, max_length: 16}}\n"
        "train: {epochs: 40, batch_size: 4, lr: 0.001, patience: null, checkpoint_every: 5, eval_every: 30, seed: 5}\n"
        f"output: {tmp_path / name}\n"
    )
    return config


def train_command(config) -> list[str]:
    return [sys.executable, "-m", "sentimentkit.cli", "train", str(config), "--no-progress"]


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")
def test_sigkill_then_resume_reaches_the_uninterrupted_weights(tiny_backbone, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = write_run(tmp_path, tiny_backbone, "reference")
    subprocess.run(train_command(reference), check=True, capture_output=True, env=env)

    config = write_run(tmp_path, tiny_backbone, "killed")
    process = subprocess.Popen(train_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    state = tmp_path / "killed" / "last" / "state.pt"
    deadline = time.time() + 120
    while not state.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # let it run past the checkpoint, so that resuming must redo some steps
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state.exists() or (tmp_path / "killed" / "last.old" / "state.pt").exists(), "no checkpoint before the kill"
    assert not (tmp_path / "killed" / "result.json").exists(), "training finished before it could be killed"

    subprocess.run(train_command(config), check=True, capture_output=True, env=env)
    final = load_file(str(tmp_path / "killed" / "last" / "model.safetensors"))
    expected = load_file(str(tmp_path / "reference" / "last" / "model.safetensors"))
    assert final.keys() == expected.keys()
    for name in expected:
        assert torch.equal(final[name], expected[name]), name
