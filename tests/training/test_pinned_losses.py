"""The first training losses of two small configs, pinned: a refactor that silently changes training (batch order,
initialisation, optimizer groups, the loss, MoE routing) fails here.

The values were recorded with the code before the task layer existed (commit 19c6aa0), on the `tiny_backbone`
fixture; the refactored trainer reproduces them.
"""

from __future__ import annotations

import json

import pytest

from sentimentkit.training.experiment import load_experiment, train

PINNED = {
    "lora": [1.1308966, 1.5567816, 1.2909224, 1.1577858, 1.1579465, 0.9739193, 1.1937096, 1.1789325],
    "moe": [1.1193917, 1.5628620, 1.3892407, 1.0295216, 1.1467763, 1.0614825, 1.0309151, 1.0921673],
}
MODEL = {
    "lora": "type: text-classifier, adapter: lora, lora_r: 4",
    "moe": "type: moe, layers: [1], num_experts: 3",
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_first_losses_are_pinned(name, tiny_backbone, tmp_path):
    data = tmp_path / "data.csv"
    rows = ["text,label"] + [
        f"{w} item number {i} {'really ' * (i % 3)},{lab}"
        for i in range(16)
        for w, lab in (("good", "pos"), ("bad", "neg"), ("fine", "mid"))
    ]
    data.write_text("\n".join(rows) + "\n")
    config = tmp_path / f"{name}.yaml"
    config.write_text(
        f"model: {{{MODEL[name]}, backbone: {tiny_backbone}}}\n"
        f"data: {{train: {data}, max_length: 16}}\n"
        "train: {epochs: 2, batch_size: 8, lr: 0.002, head_lr: 0.01, patience: null, log_every: 1, seed: 3, "
        "bf16: false}\n"
        f"output: {tmp_path / name}\n"
    )
    train(load_experiment(config), progress=False)
    log = [json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in log if "loss" in row][: len(PINNED[name])]
    assert losses == pytest.approx(PINNED[name], abs=2e-5)
