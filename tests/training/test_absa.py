"""The aspect task through the one recipe: `sentimentkit train` and `evaluate` on an aspect model."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.data.datasets import DATASETS, DatasetSpec
from sentimentkit.labels import POLARITY3
from sentimentkit.types import AspectExample, DepParse


def toy_examples() -> list[AspectExample]:
    """ "the ASPECT was OPINION": a hand-written tree per sentence (the root is the opinion word)."""
    rows = []
    for i, (aspect, opinion, polarity) in enumerate(
        [("food", "great", "positive"), ("service", "awful", "negative"), ("menu", "long", "neutral")] * 4
    ):
        words = ("the", aspect, "was", opinion)
        parse = DepParse(words=words, heads=(2, 4, 4, 0), deprels=("det", "nsubj", "cop", "root"))
        text = " ".join(words)
        rows.append(AspectExample(text, aspect, ((4, 4 + len(aspect)),), polarity, id=str(i), parse=parse))
    return rows


def test_train_and_evaluate_iagcn_through_the_cli(tiny_backbone, tmp_path, monkeypatch):
    examples = toy_examples()
    spec = DatasetSpec("toy-absa", "aspect-polarity", POLARITY3, lambda split, root: examples, False, "toy")
    monkeypatch.setitem(DATASETS._items, "toy-absa", spec)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"model: {{type: iagcn, backbone: {tiny_backbone}, lstm_hidden: 16}}\n"
        f"data: {{train: toy-absa, parser: dataset, max_length: 16, data_dir: {tmp_path}}}\n"
        "train: {epochs: 25, batch_size: 4, lr: 0.001, head_lr: 0.01, patience: null, warmup_ratio: 0.0}\n"
        f"output: {tmp_path / 'run'}\n"
    )
    runner = CliRunner()
    trained = runner.invoke(app, ["train", str(config), "--no-progress"])
    assert trained.exit_code == 0, trained.output
    assert json.loads(trained.stdout)["validation"]["accuracy"] == 1.0
    meta = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert meta["task"] == "aspect-polarity.v1" and meta["format"] == 2
    assert meta["preprocessing"] == {
        "max_length": 16,
        "parser": "dataset",
        "graph_directed": False,
        "graph_self_loops": True,
        "emoji": "words",
    }
    assert not set(meta) & {"max_length", "parser", "graph_directed", "graph_self_loops"}  # not at the top level
    evaluated = runner.invoke(
        app, ["evaluate", str(tmp_path / "run" / "best"), "toy-absa", "--data-dir", str(tmp_path)]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["accuracy"] == 1.0
