"""The aspect pipeline: sentence cutting, term search, extraction + polarity on raw text, and its CLI."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import sentimentkit
from sentimentkit.cli import app
from sentimentkit.data.datasets import ASPECT_BIO
from sentimentkit.inference.aspects import TASK, AspectPipeline, find_term, sentence_spans
from sentimentkit.labels import POLARITY3
from sentimentkit.models import build_model, save_checkpoint

pytest.importorskip("spacy", reason="iagcn reads dependency trees from the shipped spaCy parser")

TEXT = "Great food, slow service.  The wine list was short!"


def test_sentence_spans_cover_sentences_without_surrounding_space():
    spans = sentence_spans(TEXT)
    assert [TEXT[a:b] for a, b in spans] == ["Great food, slow service.", "The wine list was short!"]
    assert sentence_spans('He said "fine." Then left') == [(0, 15), (16, 25)]
    assert sentence_spans("   ") == []
    assert sentence_spans("no end mark") == [(0, 11)]


def test_find_term_is_case_insensitive_and_whole_word():
    text = "Service was slow; the service charge, not the self-service, annoyed me."
    assert [text[a:b] for a, b in find_term(text, "service")] == ["Service", "service"]
    assert find_term(text, "  ") == []
    wifi = "Wi-Fi and wi-fi"
    assert [wifi[a:b] for a, b in find_term(wifi, "wi-fi")] == ["Wi-Fi", "wi-fi"]


@pytest.fixture(scope="module")
def absa_dir(tiny_backbone, tmp_path_factory):
    """An aspect model folder like the shipped one: an `ate` extractor that tags every word B-ASP (zero head
    weights, bias on B-ASP) and a random tiny `iagcn` polarity model reading parser-en trees."""
    root = tmp_path_factory.mktemp("absa")
    torch.manual_seed(0)
    extractor = build_model({"type": "ate", "backbone": tiny_backbone, "dropout": 0.0}, ASPECT_BIO)
    with torch.no_grad():
        extractor.head.weight.zero_()
        extractor.head.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))  # O, B-ASP, I-ASP
    save_checkpoint(
        extractor,
        root / "extractor",
        {"model": {"type": "ate", "backbone": tiny_backbone}, "labels": list(ASPECT_BIO.names), "max_length": 32},
    )
    section = {"type": "iagcn", "backbone": tiny_backbone, "lstm_hidden": 8, "dropout": 0.0}
    polarity = build_model(section, POLARITY3)
    meta = {"max_length": 64, "parser": "parser-en", "graph_directed": False, "graph_self_loops": True}
    save_checkpoint(polarity, root / "polarity", {"model": section, "labels": list(POLARITY3.names), **meta})
    (root / "config.json").write_text(
        json.dumps({"task": TASK, "components": {"extractor": "extractor", "polarity": "polarity"}})
    )
    return root


def test_extracted_aspects_have_spans_into_the_original_text(absa_dir):
    absa = sentimentkit.load(str(absa_dir))
    assert isinstance(absa, AspectPipeline) and absa.can_extract
    [found] = absa(TEXT)
    words = ["Great", "food", ",", "slow", "service", ".", "The", "wine", "list", "was", "short", "!"]
    assert [a.aspect for a in found] == words  # every word tagged B-ASP: each its own aspect
    for a in found:
        assert TEXT[a.start : a.end] == a.aspect
        assert a.polarity in POLARITY3.names
        assert abs(sum(a.probabilities.values()) - 1.0) < 1e-5
        assert a.confidence == pytest.approx(max(a.probabilities.values()))
    assert absa.extract(TEXT) == [[(a.start, a.end) for a in found]]


def test_each_sentence_is_parsed_once(absa_dir):
    absa = sentimentkit.load(str(absa_dir))
    absa.parser.clear_cache()
    absa([TEXT, TEXT])
    assert len(absa.parser._cache) == 2  # two distinct sentences, however many aspects and repeats


def test_given_aspects_are_scored_at_every_occurrence(absa_dir):
    absa = sentimentkit.load(str(absa_dir))
    text = "The screen is dim, but the Screen protector and the battery are fine."
    [found] = absa(text, aspects=["screen", "battery"])
    assert [(a.aspect, a.start) for a in found] == [("screen", 4), ("Screen", 27), ("battery", 52)]
    # the polarity of an aspect depends on the aspect, not only on the sentence
    probs = {a.start: a.probabilities for a in found}
    assert probs[4] != probs[52]
    one, two = absa(["the screen", "no such thing here"], aspects=[["screen"], []])
    assert [a.aspect for a in one] == ["screen"] and two == []


def test_aspect_that_is_not_in_the_text_is_an_error(absa_dir):
    absa = sentimentkit.load(str(absa_dir))
    with pytest.raises(ValueError, match="'keyboard' does not occur"):
        absa("The screen is dim.", aspects=["keyboard"])
    with pytest.raises(ValueError, match="one list per text"):
        absa(["a", "b"], aspects=[["a"]])


def test_polarity_only_model_needs_aspects(absa_dir):
    absa = AspectPipeline.from_pretrained(absa_dir / "polarity")
    assert not absa.can_extract
    with pytest.raises(ValueError, match="no extractor"):
        absa("The screen is dim.")
    assert [a.aspect for a in absa("The screen is dim.", aspects=["screen"])[0]] == ["screen"]


def test_document_pipeline_adds_aspects(absa_dir, tiny_model_dir):
    nlp = sentimentkit.load(str(tiny_model_dir), aspects=str(absa_dir))
    [prediction] = nlp("Good food.")
    assert [a.aspect for a in prediction.aspects] == ["Good", "food", "."]
    with pytest.raises(ValueError, match="not an aspect model with an extractor"):
        sentimentkit.load(str(tiny_model_dir), aspects=str(absa_dir / "polarity"))


runner = CliRunner()


def test_cli_aspects_json_and_human(absa_dir):
    result = runner.invoke(app, ["aspects", "The screen is dim.", "-a", "screen", "--json", "--model", str(absa_dir)])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["text"] == "The screen is dim."
    [aspect] = row["aspects"]
    assert (aspect["aspect"], aspect["start"], aspect["end"]) == ("screen", 4, 10)
    assert set(aspect) == {"aspect", "start", "end", "polarity", "confidence", "probabilities"}
    human = runner.invoke(app, ["aspects", "Good food.", "--model", str(absa_dir)])
    assert human.exit_code == 0, human.output
    assert "aspect 'food' [5:9]" in human.stdout


def test_cli_aspects_errors_name_the_problem(absa_dir, tiny_model_dir, tmp_path):
    missing = runner.invoke(app, ["aspects", "The screen is dim.", "-a", "keyboard", "--model", str(absa_dir)])
    assert missing.exit_code == 2 and "'keyboard' does not occur" in missing.output
    document = runner.invoke(app, ["aspects", "text", "--model", str(tiny_model_dir)])
    assert document.exit_code == 2 and "document model" in document.output
    csv_out = runner.invoke(app, ["aspects", "text", "-o", str(tmp_path / "x.csv"), "--model", str(absa_dir)])
    assert csv_out.exit_code == 2 and ".jsonl" in csv_out.output
    written = runner.invoke(app, ["aspects", "Good food.", "-o", str(tmp_path / "x.jsonl"), "--model", str(absa_dir)])
    assert written.exit_code == 0, written.output
    [row] = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert [a["aspect"] for a in row["aspects"]] == ["Good", "food", "."]


def test_cli_analyze_with_aspects(absa_dir, tiny_model_dir, tmp_path):
    args = ["analyze", "Good food.", "--model", str(tiny_model_dir), "--aspect-model", str(absa_dir)]
    result = runner.invoke(app, [*args, "--aspects", "--json"])
    assert result.exit_code == 0, result.output
    assert [a["aspect"] for a in json.loads(result.stdout)["aspects"]] == ["Good", "food", "."]
    plain = runner.invoke(app, [*args, "--json"])  # a model folder that is not shipped: off unless asked
    assert "aspects" not in json.loads(plain.stdout)
    out = tmp_path / "out.csv"
    written = runner.invoke(app, [*args, "--aspects", "-o", str(out)])
    assert written.exit_code == 0, written.output
    header, row = out.read_text().splitlines()[:2]
    assert header.endswith(",aspects") and '""aspect"": ""food""' in row


def test_evaluate_scores_the_component_the_dataset_is_for(absa_dir):
    from sentimentkit.training.experiment import evaluate_model

    with pytest.raises(ValueError, match="evaluate it on an aspect dataset"):
        evaluate_model(absa_dir, "sst5")


def test_native_and_transformers_aspect_pipelines_agree(absa_dir):
    from sentimentkit.encoders.text import load_tokenizer
    from sentimentkit.models import load_checkpoint

    native = sentimentkit.load(str(absa_dir))
    assert type(native.polarity_model.encoder.model).__name__ == "NativeBert"
    parts = {}
    for name in ("extractor", "polarity"):
        model, meta = load_checkpoint(absa_dir / name)  # transformers' BertModel and AutoTokenizer
        parts[name] = (model, meta, load_tokenizer(meta["model"]["backbone"]))
    reference = AspectPipeline(parts["polarity"], parts["extractor"])
    assert type(reference.polarity_model.encoder.model).__name__ == "BertModel"
    [ours], [theirs] = native(TEXT), reference(TEXT)
    assert [(a.start, a.end, a.polarity) for a in ours] == [(a.start, a.end, a.polarity) for a in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)


def test_shipped_absa_en_reads_a_mixed_review_without_importing_transformers():
    import subprocess
    import sys

    code = (
        "import json, sys, sentimentkit\n"
        "absa = sentimentkit.load('absa-en')\n"
        "found = absa('The battery life is great but the screen is dim.')[0]\n"
        "print(json.dumps([[a.aspect, a.start, a.end, a.polarity] for a in found]))\n"
        "print('transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert json.loads(out[0]) == [["battery life", 4, 16, "positive"], ["screen", 34, 40, "negative"]]
    assert out[1] == "False"


def test_analyze_adds_aspects_by_default_when_absa_en_is_shipped():
    result = runner.invoke(app, ["analyze", "The waiter was rude.", "--json"])
    assert result.exit_code == 0, result.output
    [aspect] = json.loads(result.stdout)["aspects"]
    assert (aspect["aspect"], aspect["polarity"]) == ("waiter", "negative")
    plain = runner.invoke(app, ["analyze", "The waiter was rude.", "--json", "--no-aspects"])
    assert "aspects" not in json.loads(plain.stdout)
