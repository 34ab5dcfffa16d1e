"""Training a text classifier on a mixture of sources: coarse labels train the 5-point head through their label
group's summed probability, and selection reads each source's own validation accuracy."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.config import ConfigError
from sentimentkit.data.collate import pad_batch
from sentimentkit.data.datasets import DATASETS, DatasetSpec
from sentimentkit.data.encoding import TextItem
from sentimentkit.labels import BINARY, EMOTION4, POLARITY3, SENTIMENT5
from sentimentkit.models.document import classification_loss
from sentimentkit.tasks.document import MIX_VALIDATION, source_labels
from sentimentkit.training.experiment import load_experiment, prepare
from sentimentkit.types import TextExample

runner = CliRunner()
FIVE = ["very negative", "negative", "neutral", "positive", "very positive"]


def _five(split: str, root) -> list[TextExample]:
    words = ["awful", "bad", "okay", "good", "superb"]
    n = {"train": 8, "validation": 3, "test": 2}[split]
    return [
        TextExample(f"{w} film {split} {i}", FIVE[k], id=f"5-{split}-{k}-{i}")
        for i in range(n)
        for k, w in enumerate(words)
    ]


def _binary(split: str, root) -> list[TextExample]:
    n = {"train": 12, "validation": 4, "test": 2}[split]
    return [
        TextExample(f"{w} review {split} {i}", label, id=f"2-{split}-{label}-{i}")
        for i in range(n)
        for w, label in (("loved", "positive"), ("hated", "negative"))
    ]


@pytest.fixture
def sources(monkeypatch):
    monkeypatch.setitem(
        DATASETS._items, "mix-five", DatasetSpec("mix-five", "sentiment-5", SENTIMENT5, _five, False, "")
    )
    monkeypatch.setitem(DATASETS._items, "mix-two", DatasetSpec("mix-two", "sentiment-2", BINARY, _binary, False, ""))
    monkeypatch.setitem(DATASETS._items, "mix-two2", DatasetSpec("mix-two2", "sentiment-2", BINARY, _binary, False, ""))
    monkeypatch.setitem(DATASETS._items, "mix-emo", DatasetSpec("mix-emo", "emotion-4", EMOTION4, _five, False, ""))


def test_label_groups_follow_the_polarity_map():
    assert source_labels("s", SENTIMENT5, SENTIMENT5).groups == {n: (i,) for i, n in enumerate(FIVE)}
    coarse = source_labels("p", POLARITY3, SENTIMENT5)
    assert coarse.groups == {"negative": (0, 1), "neutral": (2,), "positive": (3, 4)} and not coarse.exact
    assert source_labels("b", BINARY, SENTIMENT5).groups == {"negative": (0, 1), "positive": (3, 4)}
    with pytest.raises(ValueError, match="mixture source 'e' has labels"):
        source_labels("e", EMOTION4, SENTIMENT5)


def test_grouped_loss_is_minus_log_of_the_summed_probability():
    logits = torch.tensor([[0.1, 1.0, -0.5, 0.3, 2.0], [1.5, -1.0, 0.2, 0.0, 0.4]])
    p = logits.softmax(-1)
    items = [TextItem((101, 5, 102), label=3, allowed=(3, 4)), TextItem((101, 6, 102), label=0, allowed=(0,))]
    batch = pad_batch(items)
    assert batch.label_groups.tolist() == [[3, 4], [0, -1]]
    expected = -(torch.log(p[0, 3] + p[0, 4]) + torch.log(p[1, 0])) / 2
    assert classification_loss(logits, batch).item() == pytest.approx(expected.item(), rel=1e-6)
    exact = pad_batch([TextItem((101, 5, 102), label=2), TextItem((101, 6, 102), label=0)])
    assert exact.label_groups is None  # one class each: plain cross-entropy
    assert classification_loss(logits, exact).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits, torch.tensor([2, 0])).item()
    )


def _config(tmp_path, backbone: str, train: str, extra: str = "") -> str:
    config = tmp_path / "mix.yaml"
    config.write_text(
        f"model: {{type: text-classifier, backbone: {backbone}, adapter: full}}\n"
        f"data: {{train: '{train}', max_length: 12{extra}}}\n"
        "train: {epochs: 2, batch_size: 8, patience: null, lr: 0.001}\n"
        f"output: {tmp_path}/run\n"
    )
    return str(config)


def test_a_mixture_trains_and_selects_on_every_source(tiny_backbone, tmp_path, sources):
    config = _config(tmp_path, tiny_backbone, "mix-five + mix-two", ", per_source: 20")
    prepared = prepare(load_experiment(config))
    task, data = prepared.task, prepared.data
    assert [s.name for s in task.sources] == ["mix-five", "mix-two"] and task.labels == SENTIMENT5
    assert sum(x.source == 0 for x in data.train) == 20 and sum(x.source == 1 for x in data.train) == 20
    assert sum(x.source == 0 for x in data.validation) == 15 and sum(x.source == 1 for x in data.validation) == 8
    assert {x.allowed for x in data.train if x.source == 1} == {(0, 1), (3, 4)}
    result = runner.invoke(app, ["train", config, "--no-progress"])
    assert result.exit_code == 0, result.output
    best = json.loads((tmp_path / "run" / "result.json").read_text())["result"]["best_metrics"]
    assert math.isclose(best["accuracy"], (best["accuracy_mix-five"] + best["accuracy_mix-two"]) / 2)
    assert 0.0 <= best["accuracy_mix-two"] <= 1.0
    saved = json.loads((tmp_path / "run" / "best" / "config.json").read_text())  # an ordinary 5-point model
    assert saved["trained_on"]["validation"].startswith("the validation split of each source")
    import sentimentkit

    predictions = sentimentkit.load(str(tmp_path / "run" / "best"))(["loved it", "awful film"])
    assert [sorted(p.probabilities) for p in predictions] == [sorted(FIVE)] * 2


def test_mixture_configs_are_checked(tiny_backbone, tmp_path, sources):
    with pytest.raises(ConfigError, match="'nope' is not a named text dataset"):
        prepare(load_experiment(_config(tmp_path, tiny_backbone, "mix-five + nope")))
    with pytest.raises(ConfigError, match="names a source twice"):
        prepare(load_experiment(_config(tmp_path, tiny_backbone, "mix-five + mix-five")))
    with pytest.raises(ConfigError, match="leave data.validation unset"):
        prepare(load_experiment(_config(tmp_path, tiny_backbone, "mix-five + mix-two", ", validation: mix-five")))
    with pytest.raises(ValueError, match="mixture source 'mix-emo' has labels"):
        prepare(load_experiment(_config(tmp_path, tiny_backbone, "mix-five + mix-emo")))
    with pytest.raises(ConfigError, match="data.per_source goes with a mixture"):
        prepare(load_experiment(_config(tmp_path, tiny_backbone, "mix-five", ", per_source: 5")))
    with pytest.raises(ConfigError, match=r"data.per_source names \['mix-tw0'\]"):
        prepare(load_experiment(_config(tmp_path, tiny_backbone, "mix-five + mix-two", ", per_source: {mix-tw0: 3}")))
    with pytest.raises(ConfigError, match="not a named dataset with the labels of mix-two"):
        prepare(
            load_experiment(_config(tmp_path, tiny_backbone, "mix-five + mix-two", ", validation: {mix-two: mix-five}"))
        )
    with pytest.raises(ConfigError, match="data.validation as a mapping goes with a mixture"):
        load_experiment(_config(tmp_path, tiny_backbone, "mix-five", ", validation: {mix-five: mix-five}"))
    assert MIX_VALIDATION == 1000


def test_data_labels_set_a_mixtures_labels_when_no_source_has_them(tiny_backbone, tmp_path, sources):
    # without it the first source decides: a binary model
    assert prepare(load_experiment(_config(tmp_path, tiny_backbone, "mix-two + mix-two2"))).task.labels == BINARY
    five = ", labels: " + json.dumps(FIVE)
    task = prepare(load_experiment(_config(tmp_path, tiny_backbone, "mix-two + mix-two2", five))).task
    assert task.labels == SENTIMENT5 and task.labels.polarity_map is not None  # the known scheme, polarity map too
    assert task.sources[0].groups == {"negative": (0, 1), "positive": (3, 4)}


def test_per_source_caps_by_name(tiny_backbone, tmp_path, sources):
    config = _config(tmp_path, tiny_backbone, "mix-five + mix-two", ", per_source: {mix-two: 6, '*': 30}")
    data = prepare(load_experiment(config)).data
    assert sum(x.source == 0 for x in data.train) == 30 and sum(x.source == 1 for x in data.train) == 6


def test_a_source_may_select_on_another_datasets_validation_split(tiny_backbone, tmp_path, sources, monkeypatch):
    monkeypatch.setitem(
        DATASETS._items, "mix-two-b", DatasetSpec("mix-two-b", "sentiment-2", BINARY, _five_as_two, False, "")
    )
    config = _config(tmp_path, tiny_backbone, "mix-five + mix-two", ", validation: {mix-two: mix-two-b}")
    prepared = prepare(load_experiment(config))
    held = [x for x in prepared.data.validation if x.source == 1]
    assert len(held) == 6  # mix-two-b's validation split, not mix-two's (8)
    assert "mix-two: mix-two-b" in prepared.task.validation_source


def _five_as_two(split: str, root) -> list[TextExample]:
    return [TextExample(f"fine {split} {i}", "positive" if i % 2 else "negative") for i in range(6)]


def _leaky(split: str, root) -> list[TextExample]:
    """Binary data whose train split holds one of mix-five's test texts (cased and spaced differently)."""
    rows = _binary(split, root)
    if split == "train":
        rows.append(TextExample("AWFUL  film test 1", "negative", id="leak"))
    return rows


def test_no_test_text_of_any_source_trains_or_selects(tiny_backbone, tmp_path, sources, monkeypatch):
    monkeypatch.setitem(
        DATASETS._items, "mix-leaky", DatasetSpec("mix-leaky", "sentiment-2", BINARY, _leaky, False, "")
    )
    prepared = prepare(load_experiment(_config(tmp_path, tiny_backbone, "mix-five + mix-leaky")))
    assert prepared.task.dropped["mix-leaky"] == {"train": 1, "validation": 0}
    assert prepared.task.dropped["mix-five"] == {"train": 0, "validation": 0}
    assert not any(x.id == "leak" for x in prepared.data.train_examples)
    assert "texts of a test split dropped" in prepared.task.validation_source
