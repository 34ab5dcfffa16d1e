"""Explanations: integrated gradients folded to words, their completeness, the model views beside them (attention,
MDW weights, MoE experts), the deletion test's text editing, the page/heatmap/JSON outputs and the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import sentimentkit
from sentimentkit.cli import app
from sentimentkit.labels import POLARITY3, SENTIMENT5
from sentimentkit.models import build_model, save_checkpoint

pytest.importorskip("captum", reason="explanations need the explain extra (captum)")

from sentimentkit.explain import Explainer, explain, save_attributions
from sentimentkit.explain.faithfulness import deletion

TEXT = "The acting was wonderful, but the plot was a total mess."


@pytest.fixture(scope="module")
def doc(tiny_model_dir):
    return sentimentkit.load(str(tiny_model_dir))


@pytest.fixture(scope="module")
def shipped():
    return sentimentkit.load("sentiment-en")


def test_words_cover_the_text_and_attributions_are_complete(shipped):
    [a] = explain(shipped, TEXT, steps=50)
    assert [w.word for w in a.words] == ["The", "acting", "was", "wonderful", ",", "but", "the", "plot", "was", "a",
                                        "total", "mess", "."]  # fmt: skip
    for w in a.words:
        assert TEXT[w.start : w.end] == w.word and w.score is not None and not w.aspect
    # completeness: the attributions add up to p(text) - p(baseline), up to the reported delta
    assert a.attribution_sum == pytest.approx(a.probability - a.baseline_probability + a.delta, abs=1e-4)
    assert abs(a.delta) < 0.01  # 50 steps suffice on the trained model (a tiny random one is far rougher)
    assert a.label == a.predicted == max(a.probabilities, key=a.probabilities.get)
    assert a.probability - a.baseline_probability > 0.1
    assert max(a.words, key=lambda w: w.score).word == "mess"  # what the shipped model reads as negative
    # the native encoder's last-layer attention, summed per word: a distribution over the text's tokens
    assert all(w.attention is not None and w.attention >= 0 for w in a.words)
    assert 0.5 < sum(w.attention for w in a.words) <= 1.0 + 1e-5  # [CLS]/[SEP] hold the rest


def test_another_target_is_explained_on_request(doc):
    [a] = explain(doc, TEXT)
    other = next(n for n in SENTIMENT5.names if n != a.predicted)
    [b] = explain(doc, TEXT, target=other)
    assert b.label == other and b.predicted == a.predicted
    assert b.probability == pytest.approx(a.probabilities[other], abs=1e-6)
    with pytest.raises(ValueError, match="target 'great'"):
        explain(doc, TEXT, target="great")
    with pytest.raises(ValueError, match="blank"):
        explain(doc, "   ")
    with pytest.raises(ValueError, match="document model"):
        explain(doc, TEXT, aspect="plot")


def test_words_past_the_window_are_marked_unread(doc):
    long = " ".join(["fine"] * 60) + " awful ending"  # the tiny model reads 32 tokens
    [a] = explain(doc, long, steps=8)
    assert a.truncated
    assert a.words[0].score is not None and a.words[-1].score is None and a.words[-2].word == "awful"
    assert a.words[-2].score is None


def test_deleting_nothing_gives_back_the_probability(doc):
    explainer = Explainer(doc, steps=16)
    [encoded] = explainer.encode(TEXT)
    a = explainer.attribute(encoded)
    everything = set(range(len(a.words)))
    assert explainer.probability(encoded, a.label, everything) == pytest.approx(a.probability, abs=1e-5)
    assert explainer.probability(encoded, a.label, set()) != pytest.approx(a.probability, abs=1e-5)
    result = deletion(explainer, encoded, a, "integrated-gradients")
    assert result is not None and -1 <= result.comprehensiveness <= 1 and -1 <= result.sufficiency <= 1
    top = explainer.ranking(a, encoded, "integrated-gradients")
    assert a.words[top[0]].score == max(w.score for w in a.words)
    assert sorted(explainer.ranking(a, encoded, "random", seed=3)) == sorted(top)


def test_outputs_page_heatmap_and_json(doc, tmp_path):
    [a] = explain(doc, "<script>alert(1)</script> great", steps=8)
    page = save_attributions([a], tmp_path / "x.html").read_text()
    assert "<script>" not in page and "alert" in page and "&lt;" in page and "completeness delta" in page
    png = save_attributions([a], tmp_path / "x.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    rows = json.loads(save_attributions([a], tmp_path / "x.json").read_text())
    assert rows[0]["label"] == a.label and rows[0]["words"][0]["word"] == "<"
    with pytest.raises(ValueError, match="expected a .html, .png or .json"):
        save_attributions([a], tmp_path / "x.txt")


def test_moe_routing_is_shown_per_word(tiny_backbone, tmp_path):
    section = {"type": "moe", "backbone": tiny_backbone, "layers": [-1], "num_experts": 4, "top_k": 2}
    torch.manual_seed(0)
    model = build_model(section, SENTIMENT5)
    save_checkpoint(model, tmp_path / "moe", {"model": section, "labels": list(SENTIMENT5.names), "max_length": 32})
    [a] = explain(sentimentkit.load(str(tmp_path / "moe")), "good film", steps=8)
    assert all(w.experts is not None and len(w.experts) == 1 and 0 <= w.experts[0] < 4 for w in a.words)


@pytest.fixture(scope="module")
def polarity_dir(tiny_backbone, tmp_path_factory):
    pytest.importorskip("spacy", reason="iagcn reads dependency trees from the shipped spaCy parser")
    root = tmp_path_factory.mktemp("polarity")
    torch.manual_seed(0)
    section = {"type": "iagcn", "backbone": tiny_backbone, "lstm_hidden": 8, "dropout": 0.0}
    model = build_model(section, POLARITY3)
    meta = {"max_length": 64, "parser": "parser-en", "graph_directed": False, "graph_self_loops": True}
    save_checkpoint(model, root, {"model": section, "labels": list(POLARITY3.names), **meta})
    return root


def test_aspect_explanations_keep_the_aspect_and_point_into_the_text(polarity_dir):
    absa = sentimentkit.load(str(polarity_dir))
    text = "The food was great. The service was slow and the service staff rude."
    atts = explain(absa, text, aspect="service", steps=16)
    assert [a.aspect for a in atts] == ["service", "service"]  # each occurrence, in its sentence
    predictions = absa(text, aspects=["service"])[0].aspects
    for a, p in zip(atts, predictions, strict=True):
        assert a.offset == 20 and a.text == text[20:]
        assert a.predicted == p.polarity and a.probability == pytest.approx(p.confidence, abs=1e-5)
        aspect_words = [w for w in a.words if w.aspect]
        assert [text[w.start : w.end] for w in aspect_words] == ["service"]
        assert aspect_words[0].score == 0.0  # kept in the baseline: the explanation is about its context
        assert {w.mdw for w in a.words} == {1.0, 0.5} or all(w.mdw is not None for w in a.words)
        assert all(w.attention is not None for w in a.words)  # IAGCN's context attention
        for w in a.words:
            assert text[w.start : w.end] == w.word
    with pytest.raises(ValueError, match="'pizza' does not occur"):
        explain(absa, text, aspect="pizza")
    with pytest.raises(ValueError, match="no extractor"):
        explain(absa, text)
    explainer = Explainer(absa, steps=8)
    encoded = explainer.encode(text, "service")[0]
    a = explainer.attribute(encoded)
    everything = set(range(len(a.words)))
    assert explainer.probability(encoded, a.label, everything) == pytest.approx(a.probability, abs=1e-5)
    assert all(not a.words[i].aspect for i in explainer.ranking(a, encoded, "attention"))


def test_cli_explain(tiny_model_dir, polarity_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "why.html"
    result = runner.invoke(app, ["explain", TEXT, "--model", str(tiny_model_dir), "--steps", "8", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "completeness delta" in out.read_text()
    result = runner.invoke(app, ["explain", TEXT, "--model", str(tiny_model_dir), "--steps", "8", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout.splitlines()[0])["words"][1]["word"] == "acting"
    result = runner.invoke(app, ["explain", TEXT, "--model", str(tiny_model_dir), "-o", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "expected a .html, .png or .json" in result.output
    args = ["explain", "Slow service.", "--model", str(polarity_dir), "--steps", "8"]
    result = runner.invoke(app, [*args, "-a", "pizza"])
    assert result.exit_code == 2 and "'pizza' does not occur" in result.output
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "--aspect" in result.output
    result = runner.invoke(app, [*args, "-a", "service"])
    assert result.exit_code == 0 and "for aspect 'service'" in result.output
