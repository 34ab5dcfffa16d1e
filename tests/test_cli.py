from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from sentimentkit.cli import app

runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


def test_analyze_arguments_json(tiny_model_dir):
    result = run("analyze", "good film", "bad film", "--json", "--model", str(tiny_model_dir))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["good film", "bad film"]
    assert set(rows[0]) == {"text", "label", "polarity", "score", "probabilities"}
    assert -1.0 <= rows[0]["score"] <= 1.0


def test_analyze_human_output_shows_all_parts(tiny_model_dir):
    result = run("analyze", "good film", "--model", str(tiny_model_dir))
    assert result.exit_code == 0, result.output
    assert "polarity" in result.stdout and "score" in result.stdout and "very positive" in result.stdout


def test_analyze_stdin(tiny_model_dir):
    result = run("analyze", "-", "--json", "--model", str(tiny_model_dir), stdin="one\n\ntwo\n")
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["text"] for x in result.stdout.splitlines()] == ["one", "two"]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_analyze_files_to_files(tiny_model_dir, tmp_path, suffix):
    source = tmp_path / "reviews.csv"
    source.write_text('id,body\n1,"Great, really great"\n2,"multi\nline text"\n')
    out = tmp_path / f"out.{suffix}"
    result = run("analyze", "--file", str(source), "--column", "body", "-o", str(out), "--model", str(tiny_model_dir))
    assert result.exit_code == 0, result.output
    if suffix == "csv":
        rows = list(csv.DictReader(out.open()))
        assert [r["text"] for r in rows] == ["Great, really great", "multi\nline text"]
        assert "p_very negative" in rows[0]
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == 2 and rows[1]["text"] == "multi\nline text"


def test_analyze_jsonl_and_txt_inputs(tiny_model_dir, tmp_path):
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"text": "a"}\n{"text": "b"}\n')
    txt = tmp_path / "in.txt"
    txt.write_text("x\ny\nz\n")
    for path, n in [(jsonl, 2), (txt, 3)]:
        result = run("analyze", "--file", str(path), "--json", "--model", str(tiny_model_dir))
        assert result.exit_code == 0, result.output
        assert len(result.stdout.splitlines()) == n


def test_analyze_errors_name_the_problem(tiny_model_dir, tmp_path):
    source = tmp_path / "reviews.csv"
    source.write_text("id,body\n1,fine\n")
    result = run("analyze", "--file", str(source), "--column", "text", "--model", str(tiny_model_dir))
    assert result.exit_code == 2
    assert "reviews.csv" in result.output and "text" in result.output
    assert run("analyze", "--file", str(tmp_path / "x.doc")).exit_code == 2
    assert run("analyze").exit_code == 2
    missing = run("analyze", "hi", "--model", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "nowhere" in missing.output


def test_models_lists_the_shipped_default():
    result = run("models", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    entry = next(r for r in rows if r["name"] == "sentiment-en")
    assert entry["metrics"]["sst5_test_accuracy"] > 0.4


def test_train_rejects_a_misspelled_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model: {type: text-classifier}\ntrain: {epochz: 1}\n")
    result = run("train", str(config))
    assert result.exit_code == 2 and "train.epochz" in result.output


def test_train_then_evaluate_on_your_own_files(tiny_backbone, tmp_path):
    rows = ["text,label"] + [
        f"{w} thing {i},{lab}" for i in range(12) for w, lab in (("nice", "pos"), ("awful", "neg"))
    ]
    data = tmp_path / "mine.csv"
    data.write_text("\n".join(rows) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"model: {{type: text-classifier, backbone: {tiny_backbone}, adapter: full}}\n"
        f"data: {{train: {data}, validation: {data}, max_length: 16}}\n"
        "train: {epochs: 8, batch_size: 8, lr: 0.003, patience: null}\n"
        f"output: {tmp_path / 'run'}\n"
    )
    result = run("train", str(config), "--no-progress")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["validation"]["accuracy"] == 1.0
    meta = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert meta["labels"] == ["neg", "pos"]
    evaluated = run("evaluate", str(tmp_path / "run" / "best"), str(data))
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["accuracy"] == 1.0
    from sentimentkit.training.experiment import evaluate_model

    sample = evaluate_model(tmp_path / "run" / "best", str(data), subset=6)  # stratified: 3 of each label
    assert sample["n"] == 6 and sample["confusion"] == [[3, 0], [0, 3]]
    assert evaluate_model(tmp_path / "run" / "best", str(data), subset=6) == sample  # a fixed sample
    predicted = run("analyze", "nice thing", "--json", "--model", str(tmp_path / "run" / "best"))
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["label"] == "pos"


def test_train_names_a_bad_label_file(tiny_backbone, tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("text,label\nfine,pos\n,neg\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {{type: text-classifier, backbone: {tiny_backbone}}}\ndata: {{train: {data}}}\n")
    result = run("train", str(config), "--no-progress")
    assert result.exit_code == 2
    assert "mine.csv:3" in result.output and "empty text" in result.output
