"""The aspect pipeline: sentence cutting, term search, extraction + polarity on raw text, and its CLI.

`sentimentkit.load` gives a `Pipeline` whose predictions carry their aspects; `AspectPipeline` keeps the first
release's call (one list of AspectPrediction per text)."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from typer.testing import CliRunner

import sentimentkit
from sentimentkit.cli import app
from sentimentkit.data.align import find_term, sentence_spans
from sentimentkit.data.datasets import ASPECT_BIO
from sentimentkit.inference.pipeline import AspectPipeline, Pipeline
from sentimentkit.labels import POLARITY3
from sentimentkit.models import build_model, save_checkpoint
from sentimentkit.tasks.aspect import AspectSentiment

pytest.importorskip("spacy", reason="iagcn reads dependency trees from the shipped spaCy parser")

TEXT = "Great food, slow service.  The wine list was short!"
WORDS = ["Great", "food", ",", "slow", "service", ".", "The", "wine", "list", "was", "short", "!"]


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


def test_find_term_searches_characters_not_words():
    assert find_term("A great screenshot tool", "screen") == []  # inside a longer word
    assert find_term("Fairly well-priced food", "priced") == []  # a single hyphen joins a compound
    assert find_term("It was price--value that mattered", "price") == [(7, 12)]  # "--" ends a word
    assert find_term("the price-- of it", "price--") == [(4, 11)]  # a term ending in punctuation
    chinese = "这家餐厅的服务很好"
    assert [chinese[a:b] for a, b in find_term(chinese, "服务")] == ["服务"]  # no spaces between words
    assert find_term("Screen, screen; SCREEN!", "screen") == [(0, 6), (8, 14), (16, 22)]


@pytest.fixture(scope="module")
def absa_dir(tiny_backbone, tmp_path_factory):
    """An aspect model folder like the shipped one: an `ate` extractor with LoRA adapters that tags every word B-ASP
    (zero head weights, bias on B-ASP) and a random tiny fully fine-tuned `iagcn` polarity model reading parser-en
    trees."""
    root = tmp_path_factory.mktemp("absa")
    torch.manual_seed(0)
    ate = {"type": "ate", "backbone": tiny_backbone, "adapter": "lora", "lora_r": 2, "dropout": 0.0}
    extractor = build_model(ate, ASPECT_BIO)
    with torch.no_grad():
        extractor.head.weight.zero_()
        extractor.head.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))  # O, B-ASP, I-ASP
    save_checkpoint(
        extractor,
        root / "extractor",
        {"model": ate, "labels": list(ASPECT_BIO.names), "max_length": 32},
    )
    section = {"type": "iagcn", "backbone": tiny_backbone, "lstm_hidden": 8, "dropout": 0.0}
    polarity = build_model(section, POLARITY3)
    meta = {"max_length": 64, "parser": "parser-en", "graph_directed": False, "graph_self_loops": True}
    save_checkpoint(polarity, root / "polarity", {"model": section, "labels": list(POLARITY3.names), **meta})
    (root / "config.json").write_text(
        json.dumps(
            {
                "format": 2,
                "task": AspectSentiment.name,
                "labels": list(POLARITY3.names),
                "components": {"extractor": "extractor", "polarity": "polarity"},
            }
        )
    )
    return root


def test_extracted_aspects_have_spans_into_the_original_text(absa_dir):
    absa = sentimentkit.load(str(absa_dir))
    assert isinstance(absa, Pipeline) and not isinstance(absa, AspectPipeline) and absa.can_extract
    assert absa.task.name == "aspect-sentiment.v1" and absa.labels.names == POLARITY3.names
    [prediction] = absa(TEXT)
    assert prediction.text == TEXT and prediction.error is None and prediction.warnings == ()
    assert prediction.label is None and prediction.probabilities == {}  # an aspect model gives no document label
    found = prediction.aspects
    assert [a.aspect for a in found] == WORDS  # every word tagged B-ASP: each its own aspect
    for a in found:
        assert TEXT[a.start : a.end] == a.aspect
        assert a.polarity in POLARITY3.names
        assert abs(sum(a.probabilities.values()) - 1.0) < 1e-5
        assert a.confidence == pytest.approx(max(a.probabilities.values()))
    assert absa.extract(TEXT) == [[(a.start, a.end) for a in found]]
    row = prediction.to_dict()
    assert list(row) == ["id", "text", "aspects", "language"] and [a["aspect"] for a in row["aspects"]] == WORDS


def test_aspect_pipeline_keeps_the_first_release_call(absa_dir):
    absa = AspectPipeline.from_pretrained(absa_dir)
    assert isinstance(absa, AspectPipeline) and absa.can_extract
    [found] = absa(TEXT)  # one list of AspectPrediction per text
    assert found == list(sentimentkit.load(str(absa_dir))(TEXT)[0].aspects)
    [given] = absa(TEXT, aspects=["wine list"])
    assert [(a.aspect, a.start, a.end) for a in given] == [("wine list", 31, 40)]
    assert absa(TEXT, aspects=["keyboard"]) == [[]]  # a term that does not occur has no prediction, no error


def test_each_sentence_is_parsed_once(absa_dir):
    from sentimentkit.data.syntax import shared_parser

    absa = sentimentkit.load(str(absa_dir))
    parser = shared_parser(absa.task.polarity.parser)
    parser.clear_cache()
    absa([TEXT, TEXT])
    assert len(parser._cache) == 2  # two distinct sentences, however many aspects and repeats
    assert set(parser._cache) == {"Great food, slow service.", "The wine list was short!"}


def test_given_aspects_are_scored_at_every_occurrence(absa_dir):
    absa = sentimentkit.load(str(absa_dir))
    text = "The screen is dim, but the Screen protector and the battery are fine."
    [prediction] = absa(text, aspects=["screen", "battery"])
    found = prediction.aspects
    assert [(a.aspect, a.start) for a in found] == [("screen", 4), ("Screen", 27), ("battery", 52)]
    assert prediction.warnings == ()
    # the polarity of an aspect depends on the aspect, not only on the sentence
    probs = {a.start: a.probabilities for a in found}
    assert probs[4] != probs[52]
    one, two = absa(["the screen", "no such thing here"], aspects=[["screen"], []])
    assert [a.aspect for a in one.aspects] == ["screen"] and two.aspects == () and two.warnings == ()


def test_aspect_that_is_not_in_the_text_is_a_warning(absa_dir):
    absa = sentimentkit.load(str(absa_dir))
    [absent] = absa("The screen is dim.", aspects=["keyboard"])
    assert absent.aspects == () and absent.error is None
    assert absent.warnings == ("aspect 'keyboard' does not occur in the text",)
    # the terms that occur are still scored, just as without the absent one
    [mixed] = absa("The screen is dim.", aspects=["keyboard", "screen"])
    [alone] = absa("The screen is dim.", aspects=["screen"])
    assert [(a.aspect, a.start, a.end) for a in mixed.aspects] == [("screen", 4, 10)]
    assert mixed.aspects == alone.aspects
    assert mixed.warnings == ("aspect 'keyboard' does not occur in the text",) and alone.warnings == ()
    assert mixed.to_dict()["warnings"] == ["aspect 'keyboard' does not occur in the text"]
    with pytest.raises(ValueError, match="one list per text"):
        absa(["a", "b"], aspects=[["a"]])


def test_polarity_only_model_needs_aspects(absa_dir):
    absa = AspectPipeline.from_pretrained(absa_dir / "polarity")
    assert not absa.can_extract and absa.task.name == "aspect-polarity.v1"
    with pytest.raises(ValueError, match="no extractor"):
        absa("The screen is dim.")
    assert [a.aspect for a in absa("The screen is dim.", aspects=["screen"])[0]] == ["screen"]
    with pytest.raises(ValueError, match="no aspect extractor"):
        absa.extract("The screen is dim.")
    [prediction] = sentimentkit.load(str(absa_dir / "polarity"))("The screen is dim.", aspects=["screen"])
    assert [(a.aspect, a.start, a.end) for a in prediction.aspects] == [("screen", 4, 10)]


def test_document_pipeline_adds_aspects(absa_dir, tiny_model_dir):
    nlp = sentimentkit.load(str(tiny_model_dir), aspects=str(absa_dir))
    [prediction] = nlp("Good food.")
    assert prediction.label in prediction.probabilities and prediction.polarity is not None
    assert [a.aspect for a in prediction.aspects] == ["Good", "food", "."]
    assert prediction.aspects == sentimentkit.load(str(absa_dir))("Good food.")[0].aspects
    # the models of one load share one backbone where they train adapters only (LoRA here: the document model
    # and the extractor); the fully fine-tuned polarity model keeps its own
    backbone = nlp.model.encoder.model
    assert nlp.aspect_pipeline.model.extractor.encoder.model is backbone
    assert nlp.aspect_pipeline.model.polarity.encoder.model is not backbone
    [given] = nlp("Good food.", aspects=["food", "wine"])
    assert [a.aspect for a in given.aspects] == ["food"]
    assert given.warnings == ("aspect 'wine' does not occur in the text",)
    with pytest.raises(ValueError, match="not an aspect model with an extractor"):
        sentimentkit.load(str(tiny_model_dir), aspects=str(absa_dir / "polarity"))
    with pytest.raises(ValueError, match="is an aspect model already"):
        sentimentkit.load(str(absa_dir), aspects=str(absa_dir))


runner = CliRunner()


def test_cli_aspects_json_and_human(absa_dir):
    result = runner.invoke(app, ["aspects", "The screen is dim.", "-a", "screen", "--json", "--model", str(absa_dir)])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert (row["id"], row["text"]) == ("1", "The screen is dim.")
    assert list(row) == ["id", "text", "aspects", "language"]
    [aspect] = row["aspects"]
    assert (aspect["aspect"], aspect["start"], aspect["end"]) == ("screen", 4, 10)
    assert set(aspect) == {"aspect", "start", "end", "polarity", "confidence", "probabilities"}
    human = runner.invoke(app, ["aspects", "Good food.", "--model", str(absa_dir)])
    assert human.exit_code == 0, human.output
    assert "aspect 'food' [5:9]" in human.stdout


def test_cli_aspects_warnings_errors_and_files(absa_dir, tiny_model_dir, tmp_path):
    args = ["aspects", "The screen is dim.", "-a", "keyboard", "-a", "screen", "--model", str(absa_dir)]
    missing = runner.invoke(app, [*args, "--json"])
    assert missing.exit_code == 0, missing.output  # an absent term is a warning on its row, not a failure
    row = json.loads(missing.stdout)
    assert [a["aspect"] for a in row["aspects"]] == ["screen"]
    assert row["warnings"] == ["aspect 'keyboard' does not occur in the text"]
    human = runner.invoke(app, args)
    assert human.exit_code == 0, human.output
    assert "aspect 'screen' [4:10]" in human.stdout
    assert "warning: aspect 'keyboard' does not occur in the text" in human.stdout
    document = runner.invoke(app, ["aspects", "text", "--model", str(tiny_model_dir)])
    assert document.exit_code == 2 and "document model" in document.output
    bad_suffix = runner.invoke(app, ["aspects", "text", "-o", str(tmp_path / "x.txt"), "--model", str(absa_dir)])
    assert bad_suffix.exit_code == 2 and ".csv or .jsonl" in bad_suffix.output
    written = runner.invoke(app, ["aspects", "Good food.", "-o", str(tmp_path / "x.jsonl"), "--model", str(absa_dir)])
    assert written.exit_code == 0, written.output
    [row] = [json.loads(line) for line in (tmp_path / "x.jsonl").read_text().splitlines()]
    assert row["id"] == "1" and [a["aspect"] for a in row["aspects"]] == ["Good", "food", "."]
    csv_args = ["aspects", "Good food.", "", "-o", str(tmp_path / "x.csv"), "--model", str(absa_dir)]
    as_csv = runner.invoke(app, csv_args)
    assert as_csv.exit_code == 0, as_csv.output
    with (tmp_path / "x.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["id", "text", "aspects", "language", "truncated", "chunks", "error", "warnings"]
    assert [(r["id"], r["text"]) for r in rows] == [("1", "Good food."), ("2", "")]
    assert [a["aspect"] for a in json.loads(rows[0]["aspects"])] == ["Good", "food", "."]
    assert rows[0]["error"] == "" and rows[1]["error"].startswith("blank input")


def test_cli_analyze_with_aspects(absa_dir, tiny_model_dir, tmp_path):
    args = ["analyze", "Good food.", "--model", str(tiny_model_dir), "--aspect-model", str(absa_dir)]
    result = runner.invoke(app, [*args, "--aspects", "--json"])
    assert result.exit_code == 0, result.output
    assert [a["aspect"] for a in json.loads(result.stdout)["aspects"]] == ["Good", "food", "."]
    named = runner.invoke(app, [*args, "--json"])  # naming an aspect model asks for aspects
    assert named.exit_code == 0, named.output
    assert [a["aspect"] for a in json.loads(named.stdout)["aspects"]] == ["Good", "food", "."]
    plain = runner.invoke(app, ["analyze", "Good food.", "--model", str(tiny_model_dir), "--no-aspects", "--json"])
    assert plain.exit_code == 0, plain.output
    assert "aspects" not in json.loads(plain.stdout)
    both = runner.invoke(app, [*args, "--no-aspects"])
    assert both.exit_code == 2 and "--aspect-model goes with --aspects" in both.output
    typo = runner.invoke(app, ["analyze", "Good food.", "--model", str(tiny_model_dir), "--aspect-model", "absa-eng"])
    assert typo.exit_code == 2 and "absa-eng" in typo.output  # a typo fails instead of turning aspects off
    out = tmp_path / "out.csv"
    written = runner.invoke(app, [*args, "--aspects", "-o", str(out)])
    assert written.exit_code == 0, written.output
    with out.open(newline="") as f:
        reader = csv.DictReader(f)
        [row] = list(reader)
    assert reader.fieldnames[:3] == ["id", "text", "label"]
    assert reader.fieldnames[-6:] == ["aspects", "language", "truncated", "chunks", "error", "warnings"]
    assert [a["aspect"] for a in json.loads(row["aspects"])] == ["Good", "food", "."]
    assert row["label"] and row["warnings"] == "[]"


def test_evaluate_scores_the_component_the_dataset_is_for(absa_dir, tmp_path, monkeypatch):
    from sentimentkit.data.datasets import DATASETS, DatasetSpec
    from sentimentkit.training.experiment import evaluate
    from sentimentkit.types import AspectExample, AspectSentence, AspectTerm

    with pytest.raises(ValueError, match="evaluate it on a dataset of one of its parts"):
        evaluate(absa_dir, "sst5")
    sentences = [AspectSentence("The pizza was great.", (AspectTerm("pizza", 4, 9),))]
    ate = DatasetSpec("toy-ate", "aspect-extraction", ASPECT_BIO, lambda split, root: sentences, False, "toy")
    examples = [AspectExample("the food was great", "food", ((4, 8),), "positive")] * 3
    polar = DatasetSpec("toy-absa", "aspect-polarity", POLARITY3, lambda split, root: examples, False, "toy")
    monkeypatch.setitem(DATASETS._items, "toy-ate", ate)
    monkeypatch.setitem(DATASETS._items, "toy-absa", polar)
    # the extractor tags every word B-ASP: 5 terms found ("The", "pizza", "was", "great", "."), one of them right
    extraction = evaluate(absa_dir, "toy-ate", data_dir=str(tmp_path))
    assert (extraction["correct"], extraction["predicted"], extraction["gold"]) == (1, 5, 1)
    assert extraction["precision_ate"] == pytest.approx(0.2) and extraction["recall_ate"] == 1.0
    polarity = evaluate(absa_dir, "toy-absa", data_dir=str(tmp_path))
    assert polarity["n"] == 3 and polarity["labels"] == list(POLARITY3.names)
    assert polarity == evaluate(absa_dir / "polarity", "toy-absa", data_dir=str(tmp_path))  # the same part


def test_native_and_transformers_aspect_pipelines_agree(absa_dir):
    from sentimentkit.models import Runtime

    native = sentimentkit.load(str(absa_dir))
    assert type(native.model.polarity.encoder.model).__name__ == "NativeBert"
    assert type(native.model.extractor.encoder.model).__name__ == "NativeBert"
    # transformers' BertModel and AutoTokenizer, each model with its own backbone
    reference = sentimentkit.load(str(absa_dir), runtime=Runtime("transformers"))
    assert type(reference.model.polarity.encoder.model).__name__ == "BertModel"
    assert reference.model.polarity.encoder.model is not reference.model.extractor.encoder.model
    ours, theirs = native(TEXT)[0].aspects, reference(TEXT)[0].aspects
    assert len(ours) == len(WORDS)
    assert [(a.start, a.end, a.polarity) for a in ours] == [(a.start, a.end, a.polarity) for a in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)


def test_shipped_absa_en_reads_a_mixed_review_without_importing_transformers():
    import subprocess
    import sys

    code = (
        "import json, sys, sentimentkit\n"
        "absa = sentimentkit.load('absa-en')\n"
        "found = absa('The battery life is great but the screen is dim.')[0].aspects\n"
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


def test_a_calibrated_polarity_model_softens_aspect_confidence_not_polarity(absa_dir, tmp_path):
    import shutil

    from sentimentkit.hub import set_manifest_key

    folder = tmp_path / "absa"
    shutil.copytree(absa_dir, folder)
    before = sentimentkit.load(str(folder))(TEXT, language=False)[0].aspects
    set_manifest_key(folder / "polarity", "calibration", {"temperature": 4.0, "fit_on": "test:validation"})
    pipeline = sentimentkit.load(str(folder))
    assert pipeline.task.polarity.temperature == 4.0
    after = pipeline(TEXT, language=False)[0].aspects
    assert [(a.span, a.polarity) for a in after] == [(a.span, a.polarity) for a in before]
    for b, a in zip(before, after, strict=True):
        assert a.confidence < b.confidence or b.confidence == pytest.approx(1 / 3, abs=1e-4)
        assert a.confidence == pytest.approx(max(a.probabilities.values()))
