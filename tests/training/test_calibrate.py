"""Temperature scaling: the fit recovers a known temperature, ECE matches a hand computation, the manifest keeps the
temperature, every task applies it (labels unchanged), and `calibrate` writes it where it belongs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

import sentimentkit
from sentimentkit.cli import app
from sentimentkit.hub import ManifestError, read_manifest, set_manifest_key
from sentimentkit.labels import POLARITY3, SENTIMENT5
from sentimentkit.metrics import (
    confidence_calibration_error,
    expected_calibration_error,
    negative_log_likelihood,
    reliability_bins,
)
from sentimentkit.tasks.aspect import AspectPolarity
from sentimentkit.tasks.base import softmax
from sentimentkit.tasks.document import TextClassification
from sentimentkit.training.calibrate import Grouped, calibrate, calibration_summary, fit_temperature, mixture_logits

TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "It is a movie.", "Not bad at all."]


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_the_fit_recovers_a_known_temperature(true_t):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20000, 5))
    probabilities = softmax(logits / true_t)
    labels = (probabilities.cumsum(1) > rng.random((len(logits), 1))).argmax(1)  # one draw per row
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_t, rel=0.05)
    before = negative_log_likelihood(softmax(logits), labels)
    assert negative_log_likelihood(softmax(logits / fitted), labels) <= before + 1e-9


def test_the_fit_refuses_bad_input():
    with pytest.raises(ValueError, match="class ids"):
        fit_temperature(np.zeros((2, 3)), [0, 3])
    with pytest.raises(ValueError, match=r"\(N, C\) logits"):
        fit_temperature(np.zeros((2, 3)), [0])


def test_ece_by_hand():
    # 15 bins of the max probability. Rows 1-2: confidence 0.95, one right and one wrong (last bin: accuracy 0.5,
    # gap 0.45); row 3: 0.6, right (bin (8/15, 9/15]: gap 0.4); row 4: 0.35 on class 0 (ties go to the first
    # class), true class 1, wrong (gap 0.35). ECE = (2 * 0.45 + 0.4 + 0.35) / 4.
    p = np.array([[0.95, 0.05, 0.0], [0.05, 0.95, 0.0], [0.6, 0.4, 0.0], [0.35, 0.3, 0.35]])
    labels = [0, 0, 0, 1]
    assert expected_calibration_error(p, labels) == pytest.approx((2 * 0.45 + 0.4 + 0.35) / 4)
    bins = reliability_bins(p, labels)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 4
    assert bins[14] == {"lower": 14 / 15, "upper": 1.0, "count": 2, "confidence": 0.95, "accuracy": 0.5}
    assert bins[8]["count"] == 1 and bins[8]["upper"] == pytest.approx(0.6) and bins[8]["accuracy"] == 1.0
    assert bins[5]["count"] == 1 and bins[5]["accuracy"] == 0.0
    assert expected_calibration_error(np.eye(3), [0, 1, 2]) == 0.0


def test_the_summary_says_what_the_fit_did():
    logits = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])
    labels = [0, 1, 1, 0]
    section = calibration_summary(logits, labels, fit_temperature(logits, labels), "mine:validation")
    assert section["temperature"] > 1 and section["fit_on"] == "mine:validation" and section["n"] == 4
    assert section["nll_after"] < section["nll_before"] and section["ece_bins"] == 15


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    return folder


def test_a_stored_temperature_changes_probabilities_not_labels(model_copy):
    before = sentimentkit.load(str(model_copy))(TEXTS)
    set_manifest_key(model_copy, "calibration", {"temperature": 3.0, "fit_on": "test:validation"})
    pipeline = sentimentkit.load(str(model_copy))
    assert pipeline.task.temperature == 3.0
    after = pipeline(TEXTS)
    assert [p.label for p in after] == [p.label for p in before]
    for b, a in zip(before, after, strict=True):
        assert max(a.probabilities.values()) < max(b.probabilities.values())  # softer
        assert sum(a.probabilities.values()) == pytest.approx(1.0)
        logits = np.log(np.array(list(b.probabilities.values())))  # logits up to a constant
        expected = softmax(logits[None] / 3.0)[0]
        assert np.allclose(list(a.probabilities.values()), expected, atol=1e-5)


def test_every_task_reads_the_temperature_from_the_manifest(model_copy):
    set_manifest_key(model_copy, "calibration", {"temperature": 1.7})
    manifest = read_manifest(model_copy)
    assert manifest.temperature == 1.7 and manifest.to_json()["calibration"] == {"temperature": 1.7}
    assert TextClassification.for_inference(manifest, tokenizer=None).temperature == 1.7  # ONNX folders too
    polarity = json.loads((model_copy / "config.json").read_text())
    encoding = {"uses_graph": False, "input_format": "sentence"}
    polarity.update(task="aspect-polarity", labels=list(POLARITY3.names), preprocessing=encoding)
    (model_copy / "config.json").write_text(json.dumps(polarity))
    assert AspectPolarity.for_inference(read_manifest(model_copy), tokenizer=None).temperature == 1.7
    assert json.loads((model_copy / "config.json").read_text())["calibration"] == {"temperature": 1.7}


@pytest.mark.parametrize("bad", [0, -1.0, "2", None, float("nan")])
def test_a_bad_temperature_is_refused(model_copy, bad):
    raw = json.loads((model_copy / "config.json").read_text())
    raw["calibration"] = {"temperature": bad}
    (model_copy / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match="temperature"):
        read_manifest(model_copy)


def test_calibrate_fits_on_labelled_data_and_writes_the_manifest(model_copy, tmp_path):
    data = tmp_path / "validation.csv"
    rows = [("text", "label")] + [(t, SENTIMENT5.names[i % 5]) for i, t in enumerate(TEXTS * 5)]
    data.write_text("\n".join(f'"{a}",{b}' for a, b in rows) + "\n")
    section = calibrate(model_copy, str(data))
    assert section["folder"] == str(model_copy) and section["fit_on"] == f"{data}:validation"
    assert section["n"] == 20 and section["nll_after"] <= section["nll_before"] + 1e-6
    assert read_manifest(model_copy).calibration["temperature"] == section["temperature"]
    copy = tmp_path / "copy"
    runner = CliRunner()
    result = runner.invoke(app, ["calibrate", str(model_copy), "--data", str(data), "-o", str(copy)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["folder"] == str(copy) and read_manifest(copy).temperature > 0
    again = runner.invoke(app, ["calibrate", str(model_copy), "--data", str(data), "-o", str(copy)])
    assert again.exit_code == 2 and "exists" in again.output


def test_calibrate_refuses_the_test_split_and_writing_into_the_package(model_copy):
    with pytest.raises(ValueError, match="never on the test split"):
        calibrate(model_copy, "sst5", split="test")
    with pytest.raises(ValueError, match="-o"):
        calibrate("sentiment-en")
    with pytest.raises(ValueError, match="not a text-classification"):
        calibrate(model_copy, "laptop14")


def test_shipped_models_are_calibrated_on_validation():
    from sentimentkit.hub import PRETRAINED_DIR

    document = read_manifest(PRETRAINED_DIR / "sentiment-en")
    sst_only = read_manifest(PRETRAINED_DIR / "sentiment-en-sst5")
    polarity = read_manifest(PRETRAINED_DIR / "absa-en" / "polarity")
    assert sst_only.calibration["fit_on"] == "sst5:validation" and sst_only.temperature > 1
    # the default is fit on the validation data it was selected on: SST-5's, alone or with the other sources'
    assert document.calibration["fit_on"].startswith("sst5") and document.calibration["fit_on"].endswith(":validation")
    assert polarity.calibration["fit_on"].endswith(":validation") and polarity.temperature > 1
    for manifest in (document, sst_only, polarity):
        assert manifest.calibration["ece_after"] < manifest.calibration["ece_before"]


# --- mixtures: a 5-point model fit on datasets of several granularities -----------------------------------------

FIVE_GROUPS = tuple((k,) for k in range(5))
BINARY_GROUPS = ((0, 1), (3, 4))  # negative, positive; the neutral class is outside both


def _draw(rng, p: np.ndarray) -> np.ndarray:
    return (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)


def test_the_grouped_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, size=(16000, 5))
    p = softmax(logits / 2.0)
    five, binary = slice(0, 8000), slice(8000, 16000)
    coarse = p[binary][:, [0, 1, 3, 4]]  # a binary set's texts: drawn among the classes its labels cover
    drawn = _draw(rng, coarse / coarse.sum(1, keepdims=True))
    labels = np.concatenate([_draw(rng, p[five]), (drawn >= 2).astype(int)])
    grouped = Grouped(("five", "two"), (FIVE_GROUPS, BINARY_GROUPS), np.repeat([0, 1], 8000), labels)
    assert fit_temperature(logits, grouped) == pytest.approx(2.0, rel=0.05)
    # the binary texts alone constrain T too: a fit that ignored the grouping would not find it
    only_binary = Grouped(("two",), (BINARY_GROUPS,), np.zeros(8000, int), labels[8000:])
    assert fit_temperature(logits[binary], only_binary) == pytest.approx(2.0, rel=0.1)


def test_grouped_probabilities_and_summary_by_hand():
    logits = np.log(np.array([[0.1, 0.2, 0.3, 0.3, 0.1], [0.05, 0.05, 0.1, 0.4, 0.4]]))
    grouped = Grouped(("two", "five"), (BINARY_GROUPS, FIVE_GROUPS), np.array([0, 1]), np.array([0, 3]))
    assert grouped.probabilities(logits, 1.0, 0) == pytest.approx(np.array([[0.3 / 0.7, 0.4 / 0.7]]))
    true, confidence, correct = grouped.scores(logits, 1.0)
    assert true == pytest.approx([0.3 / 0.7, 0.4]) and confidence == pytest.approx([0.4 / 0.7, 0.4])
    assert correct.tolist() == [False, True]  # the binary text is negative but reads positive; argmax ties go first
    section = calibration_summary(logits, grouped, 1.0, "two + five:validation")
    assert section["n"] == 2 and section["nll_before"] == pytest.approx(-(np.log(0.3 / 0.7) + np.log(0.4)) / 2)
    assert section["ece_before"] == pytest.approx(confidence_calibration_error(confidence, correct))


def test_the_confidence_ece_is_the_probability_ece():
    rng = np.random.default_rng(5)
    p = softmax(rng.normal(0, 2, size=(500, 4)))
    labels = rng.integers(0, 4, 500)
    pooled = confidence_calibration_error(p.max(1), p.argmax(1) == labels)
    assert pooled == pytest.approx(expected_calibration_error(p, labels))
    with pytest.raises(ValueError, match="confidences"):
        confidence_calibration_error([], [])


@pytest.fixture
def mixture_sets(monkeypatch):
    from sentimentkit.data.datasets import DATASETS, DatasetSpec
    from sentimentkit.labels import BINARY
    from sentimentkit.types import TextExample

    def five(split, root):
        words = ["awful", "bad", "okay", "good", "superb"]
        return [
            TextExample(f"{w} film {split} {i}", SENTIMENT5.names[k]) for i in range(4) for k, w in enumerate(words)
        ]

    def two(split, root):
        shared = [TextExample("okay film test 0", "positive")] if split != "test" else []  # a test text of `five`
        pairs = (("loved", "positive"), ("hated", "negative"))
        return shared + [TextExample(f"{w} it {split} {i}", y) for i in range(6) for w, y in pairs]

    monkeypatch.setitem(
        DATASETS._items, "cal-five", DatasetSpec("cal-five", "sentiment-5", SENTIMENT5, five, False, "")
    )
    monkeypatch.setitem(DATASETS._items, "cal-two", DatasetSpec("cal-two", "sentiment-2", BINARY, two, False, ""))


def test_calibrate_fits_a_mixture_at_each_datasets_granularity(model_copy, mixture_sets):
    section = calibrate(model_copy, "cal-five + cal-two")
    assert section["fit_on"] == "cal-five + cal-two:validation"
    assert section["n"] == 20 + 12  # the test text of cal-five that cal-two's validation holds is left out
    assert section["nll_after"] <= section["nll_before"] + 1e-6
    assert read_manifest(model_copy).temperature == section["temperature"]
    manifest = read_manifest(model_copy)
    logits, grouped = mixture_logits(manifest, ["cal-five", "cal-two"], "validation")
    assert logits.shape == (32, 5) and grouped.groups == (FIVE_GROUPS, BINARY_GROUPS)
    assert grouped.source.tolist() == [0] * 20 + [1] * 12
    with pytest.raises(ValueError, match=r"\['nope'\] are not named text datasets"):
        calibrate(model_copy, "cal-five + nope")
    with pytest.raises(ValueError, match="names a dataset twice"):
        calibrate(model_copy, "cal-two + cal-two")
