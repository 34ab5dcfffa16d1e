"""Class-balanced loss (`data.class_weights`) for aspect polarity, refused by the tasks that do not weigh classes,
and the `absa-all` dataset that absa-en v2's polarity model trains on."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

import sentimentkit
from sentimentkit.cli import app
from sentimentkit.config import ConfigError, DataConfig, ExperimentConfig, from_dict, load_config
from sentimentkit.data.collate import pad_aspect_batch
from sentimentkit.data.datasets import ABSA_ALL, DATASETS, DatasetSpec, load_dataset
from sentimentkit.labels import IGNORE_INDEX, POLARITY3
from sentimentkit.models import build_model, load_checkpoint
from sentimentkit.tasks.aspect import balanced_class_weights
from sentimentkit.tasks.base import BUILTIN_TASKS, TASKS
from sentimentkit.training.experiment import load_experiment, prepare, train
from sentimentkit.types import AspectExample, DepParse

runner = CliRunner()
NEG, NEU, POS = (POLARITY3.id(name) for name in ("negative", "neutral", "positive"))
# The losses of the first steps of `toy_config` (iagcn, no data.class_weights key), recorded with the code before
# class weights existed: "none" must train exactly as that code did.
PINNED_UNWEIGHTED = [1.0663877, 1.0254276, 1.1370405, 0.9626073, 0.7585505, 0.8082087, 1.6636, 1.0233769]


def unbalanced() -> list[AspectExample]:
    """ "the ASPECT was OPINION" with a hand-written tree: 8 positive, 4 negative, 2 neutral aspects."""
    rows = []
    aspects = [(a, "great", "positive") for a in ("food", "pizza", "wine", "cake", "bread", "tea", "soup", "view")]
    aspects += [(a, "awful", "negative") for a in ("service", "staff", "bill", "music")]
    aspects += [(a, "long", "neutral") for a in ("menu", "queue")]
    for i, (aspect, opinion, polarity) in enumerate(aspects):
        words = ("the", aspect, "was", opinion)
        parse = DepParse(words=words, heads=(2, 4, 4, 0), deprels=("det", "nsubj", "cop", "root"))
        rows.append(AspectExample(" ".join(words), aspect, ((4, 4 + len(aspect)),), polarity, id=str(i), parse=parse))
    return rows


# N = 14 over C = 3 classes: N / (C * n_c) with n = 4 negative, 2 neutral, 8 positive (POLARITY3's order)
EXPECTED = (14 / 12, 14 / 6, 14 / 24)


@pytest.fixture
def toy_absa(monkeypatch):
    examples = unbalanced()
    spec = DatasetSpec("toy-absa", "aspect-polarity", POLARITY3, lambda split, root: examples, False, "toy")
    monkeypatch.setitem(DATASETS._items, "toy-absa", spec)
    return examples


def toy_config(tmp_path, backbone: str, model: str = "iagcn", data: str = "", train: str = "epochs: 2") -> str:
    """A toy-absa experiment (run folder tmp_path/run/MODEL); `data` and `train` add keys to those sections."""
    path = tmp_path / f"{model}.yaml"
    path.write_text(
        f"model: {{type: {model}, backbone: {backbone}, lstm_hidden: 16, dropout: 0.0}}\n"
        f"data: {{train: toy-absa, parser: dataset, max_length: 16, data_dir: {tmp_path}{data}}}\n"
        f"train: {{{train}, batch_size: 4, lr: 0.001, head_lr: 0.01, patience: null, warmup_ratio: 0.0, "
        "log_every: 1, seed: 3}\n"
        f"output: {tmp_path / 'run' / model}\n"
    )
    return str(path)


# --- the weights --------------------------------------------------------------------------------------------


def test_balanced_weights_of_a_known_label_distribution():
    labels = [POS] * 8 + [NEG] * 4 + [NEU] * 2 + [IGNORE_INDEX] * 5  # targets at IGNORE_INDEX do not count
    assert balanced_class_weights(labels, POLARITY3, "toy") == pytest.approx(EXPECTED)
    assert balanced_class_weights([NEG, NEU, POS] * 7, POLARITY3, "toy") == (1.0, 1.0, 1.0)
    # each class then weighs N / C in the loss: n_c * w_c is the same for every class
    weights = balanced_class_weights(labels, POLARITY3, "toy")
    assert [n * w for n, w in zip((4, 2, 8), weights, strict=True)] == pytest.approx([14 / 3] * 3)


def test_a_class_without_training_examples_is_an_error_naming_it():
    with pytest.raises(ConfigError, match=r"'toy' has no neutral example \(of 6\).*class_weights: none"):
        balanced_class_weights([POS] * 4 + [NEG] * 2, POLARITY3, "toy")


# --- the loss -----------------------------------------------------------------------------------------------


def toy_batch(tiny_backbone: str, pair: bool = False):
    from sentimentkit.data.encoding import encode_aspect_examples
    from sentimentkit.encoders.text import load_tokenizer

    examples = unbalanced()
    label_ids = [POLARITY3.id(x.polarity) for x in examples]
    parses = [x.parse for x in examples]
    items = encode_aspect_examples(load_tokenizer(tiny_backbone), examples, parses, label_ids, 16, pair=pair)
    return pad_aspect_batch(items)


@pytest.mark.parametrize("kind", ["iagcn", "asgcn", "iagcn-no-gcn", "spc"])
def test_the_weighted_loss_is_torchs_weighted_cross_entropy(tiny_backbone, kind):
    batch = toy_batch(tiny_backbone, pair=kind == "spc")
    section = {"type": kind, "backbone": tiny_backbone, "dropout": 0.0, **({} if kind == "spc" else {"lstm_hidden": 8})}
    torch.manual_seed(0)
    model = build_model({**section, "class_weights": list(EXPECTED)}, POLARITY3).eval()
    out = model(batch)
    weight = torch.tensor(EXPECTED, dtype=torch.float32)
    assert torch.equal(out.loss, torch.nn.functional.cross_entropy(out.logits, batch.labels, weight=weight))
    # torch's weighted mean: sum_i w[y_i] * loss_i / sum_i w[y_i]
    each = torch.nn.functional.cross_entropy(out.logits, batch.labels, reduction="none")
    assert out.loss.item() == pytest.approx(((weight[batch.labels] * each).sum() / weight[batch.labels].sum()).item())
    assert not torch.allclose(out.loss, each.mean())
    assert model(batch.without_labels()).loss is None
    # unweighted (None): the loss as it was, bit for bit, and the same logits as the weighted model
    torch.manual_seed(0)
    plain = build_model(section, POLARITY3).eval()
    unweighted = plain(batch)
    assert torch.equal(unweighted.logits, out.logits)
    assert torch.equal(unweighted.loss, torch.nn.functional.cross_entropy(unweighted.logits, batch.labels))


def test_class_weights_that_do_not_fit_the_labels_are_refused(tiny_backbone):
    section = {"type": "iagcn-no-gcn", "backbone": tiny_backbone, "lstm_hidden": 8}
    for bad in ([1.0, 2.0], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0], [1.0, float("nan"), 1.0]):
        with pytest.raises(ValueError, match="one finite weight >= 0 per label"):
            build_model({**section, "class_weights": bad}, POLARITY3)


def test_none_trains_exactly_as_before(tiny_backbone, tmp_path, toy_absa):
    for data in ("", ", class_weights: none"):
        config = load_experiment(toy_config(tmp_path, tiny_backbone, data=data))
        assert config.data.class_weights == "none"
        prepared = prepare(config)
        assert prepared.data.model_overrides == {} and prepared.settings.class_weights is None
        train(config, progress=False)
        log = (tmp_path / "run" / "iagcn" / "log.jsonl").read_text().splitlines()
        losses = [row["loss"] for row in map(json.loads, log) if "loss" in row][: len(PINNED_UNWEIGHTED)]
        assert losses == pytest.approx(PINNED_UNWEIGHTED, abs=2e-5)
        meta = json.loads((tmp_path / "run" / "iagcn" / "best" / "config.json").read_text())
        assert meta["model"]["class_weights"] is None
        shutil.rmtree(tmp_path / "run")


# --- the config ---------------------------------------------------------------------------------------------


def test_an_unknown_value_is_a_config_error(tmp_path, tiny_backbone):
    with pytest.raises(ConfigError, match=r"data.class_weights 'balance'.*\('none', 'balanced'\)"):
        load_config(toy_config(tmp_path, tiny_backbone, data=", class_weights: balance"))
    assert DataConfig().class_weights == "none"


@pytest.mark.parametrize("task", sorted(set(BUILTIN_TASKS) - {"aspect-polarity.v1", "aspect-sentiment.v1"}))
def test_tasks_that_do_not_weigh_classes_refuse_balanced(task):
    """Every task sees data.class_weights; those whose loss does not weigh classes refuse it before reading data."""
    data = {"train": "nowhere", "class_weights": "balanced"}
    config = from_dict(ExperimentConfig, {"model": {"type": "x"}, "data": data})
    with pytest.raises(ConfigError, match=f"'balanced' is not supported by {task} models.*set it to none"):
        TASKS.get(task).for_training(config, None)


def test_every_training_task_either_weighs_classes_or_refuses():
    trainable = {name for name in BUILTIN_TASKS if hasattr(TASKS.get(name), "for_training")}
    assert trainable == set(BUILTIN_TASKS) - {"aspect-sentiment.v1"}  # a bundle is assembled, not trained


def test_text_classification_refuses_through_the_cli(tiny_backbone, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"good {i},pos\nbad {i},neg\n" for i in range(4)))
    config = tmp_path / "c.yaml"
    config.write_text(
        f"model: {{type: text-classifier, backbone: {tiny_backbone}, adapter: full}}\n"
        f"data: {{train: {data}, class_weights: balanced}}\n"
        f"output: {tmp_path / 'run'}\n"
    )
    result = runner.invoke(app, ["train", str(config), "--no-progress"])
    assert result.exit_code == 2
    assert "data.class_weights: 'balanced' is not supported by text-classification.v1 models" in result.stderr
    assert not (tmp_path / "run" / "best").exists()


def test_balanced_and_model_class_weights_together_are_refused(tiny_backbone, tmp_path, toy_absa):
    path = toy_config(tmp_path, tiny_backbone, data=", class_weights: balanced")
    config = load_experiment(path, ["model.class_weights=[1, 2, 3]"])
    with pytest.raises(ConfigError, match="keep one of the two"):
        prepare(config)


def test_a_run_from_before_the_key_resumes_and_balanced_does_not(tmp_path):
    from sentimentkit.training.experiment import RUN_CONFIG, check_run_folder

    config = from_dict(ExperimentConfig, {"model": {"type": "iagcn"}, "output": str(tmp_path)})
    check_run_folder(tmp_path, config)
    (tmp_path / "last").mkdir()
    saved = json.loads((tmp_path / RUN_CONFIG).read_text())
    del saved["data"]["class_weights"]  # written before the key existed
    (tmp_path / RUN_CONFIG).write_text(json.dumps(saved))
    check_run_folder(tmp_path, config)  # at its default: the same run
    (tmp_path / RUN_CONFIG).write_text(json.dumps(saved))
    balanced = replace(config, data=replace(config.data, class_weights="balanced"))
    with pytest.raises(ConfigError, match="data.class_weights: None -> 'balanced'"):
        check_run_folder(tmp_path, balanced)


# --- training, saving, reloading ----------------------------------------------------------------------------


def test_balanced_weights_are_saved_with_the_model_which_reloads_and_predicts(tiny_backbone, tmp_path, toy_absa):
    path = toy_config(tmp_path, tiny_backbone, "iagcn-no-gcn", ", class_weights: balanced", "epochs: 15")
    trained = runner.invoke(app, ["train", path, "--no-progress"])
    assert trained.exit_code == 0, trained.output
    best = tmp_path / "run" / "iagcn-no-gcn" / "best"
    meta = json.loads((best / "config.json").read_text())
    assert meta["model"]["class_weights"] == pytest.approx(EXPECTED)
    assert json.loads((best.parent / "experiment.json").read_text())["data"]["class_weights"] == "balanced"
    model, _ = load_checkpoint(best)
    assert model.class_weights == pytest.approx(EXPECTED)
    evaluated = runner.invoke(app, ["evaluate", str(best), "toy-absa", "--data-dir", str(tmp_path)])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["accuracy"] == 1.0
    # inference reads raw text and ignores the weights
    pipeline = sentimentkit.load(str(best))
    texts = ["the soup was great", "the staff was awful", "the queue was long"]
    aspects = [["soup"], ["staff"], ["queue"]]
    predicted = [p.aspects[0] for p in pipeline(texts, aspects=aspects)]
    assert [p.polarity for p in predicted] == ["positive", "negative", "neutral"]
    compiled = [p.aspects[0] for p in sentimentkit.load(str(best), backend="onnx")(texts, aspects=aspects)]
    assert [p.polarity for p in compiled] == [p.polarity for p in predicted]
    for ours, theirs in zip(compiled, predicted, strict=True):
        assert ours.probabilities == pytest.approx(theirs.probabilities, abs=1e-4)


# --- absa-all -----------------------------------------------------------------------------------------------


def _pair(x: AspectExample) -> tuple[str, str]:
    return " ".join(x.text.lower().split()), " ".join(x.aspect.lower().split())


def _sentence(x: AspectExample) -> str:
    return " ".join(x.text.lower().split())


@pytest.mark.data
def test_absa_all_has_the_measured_counts_and_each_sets_carved_validation(data_dir):
    splits = {s: load_dataset("absa-all", s, data_dir) for s in ("train", "validation", "test")}
    counts = {s: dict(sorted(Counter(x.polarity for x in v).items())) for s, v in splits.items()}
    assert counts == {
        "train": {"negative": 2924, "neutral": 3792, "positive": 4419},  # 11135
        "validation": {"negative": 367, "neutral": 424, "positive": 623},  # 1414
        "test": {"negative": 796, "neutral": 775, "positive": 2037},  # 3608
    }
    assert "11135 train / 1414 validation / 3608 test)" in DATASETS.get("absa-all").description
    own = {name: {s: load_dataset(name, s, data_dir) for s in ("train", "validation", "test")} for name in ABSA_ALL}
    # test: the test files, as they are
    assert splits["test"] == [x for name in ABSA_ALL for x in own[name]["test"]]
    # validation: each set's own carved validation, in order, less the sentences of the test files and repeats
    test_sentences = {_sentence(x) for x in splits["test"]}
    wanted, seen = [], set()
    for name in ABSA_ALL:
        for x in own[name]["validation"]:
            if _sentence(x) not in test_sentences and _pair(x) not in seen:
                seen.add(_pair(x))
                wanted.append(x)
    assert splits["validation"] == wanted
    # what it leaves out: restaurant16's carve holds restaurant15's test sentences and repeats restaurant15's carve
    left_out = Counter(x.source.split("/")[-2] for n in ABSA_ALL for x in own[n]["validation"]) - Counter(
        x.source.split("/")[-2] for x in splits["validation"]
    )
    assert left_out == {"semeval16": 80, "semeval14": 12, "semeval15": 6, "twitter": 2}
    # no sentence is in two splits, and no pair twice in train or validation
    train_pairs, validation_pairs = [_pair(x) for x in splits["train"]], [_pair(x) for x in splits["validation"]]
    assert len(set(train_pairs)) == len(train_pairs) and len(set(validation_pairs)) == len(validation_pairs)
    train_sentences = {_sentence(x) for x in splits["train"]}
    validation_sentences = {_sentence(x) for x in splits["validation"]}
    assert not train_sentences & test_sentences and not validation_sentences & test_sentences
    assert not train_sentences & validation_sentences
    # each set alone is carved by sentence too
    for name in ABSA_ALL:
        assert not {_sentence(x) for x in own[name]["train"]} & {_sentence(x) for x in own[name]["validation"]}
    # every train example is one of its set's own carved train examples
    assert {x.source for x in splits["train"]} <= {x.source for n in ABSA_ALL for x in own[n]["train"]}
    per_set = Counter(x.source.split("/")[-2] for x in splits["train"])
    assert per_set == {"semeval14": 5115, "semeval15": 395, "semeval16": 9, "twitter": 5616}
