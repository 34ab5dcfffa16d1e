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
    assert [r["id"] for r in rows] == ["1", "2"]  # the argument's position
    assert list(rows[0])[:2] == ["id", "text"]  # every row starts with its id
    assert set(rows[0]) == {"id", "text", "label", "polarity", "score", "probabilities", "language"}
    assert -1.0 <= rows[0]["score"] <= 1.0


def test_analyze_human_output_shows_all_parts(tiny_model_dir):
    result = run("analyze", "good film", "--model", str(tiny_model_dir))
    assert result.exit_code == 0, result.output
    assert "polarity" in result.stdout and "score" in result.stdout and "very positive" in result.stdout


def test_analyze_stdin(tiny_model_dir):
    result = run("analyze", "-", "--json", "--model", str(tiny_model_dir), stdin="one\n\ntwo\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    # a blank line is not dropped: it keeps its line number and says why it has no label
    assert [(r["id"], r["text"]) for r in rows] == [("1", "one"), ("2", ""), ("3", "two")]
    assert rows[1]["error"].startswith("blank input") and "label" not in rows[1] and "probabilities" not in rows[1]
    assert "error" not in rows[0] and "error" not in rows[2]
    assert rows[0]["label"] in rows[0]["probabilities"] and rows[2]["label"] in rows[2]["probabilities"]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_analyze_files_to_files(tiny_model_dir, tmp_path, suffix):
    source = tmp_path / "reviews.csv"
    source.write_text('id,body\n1,"Great, really great"\n2,"multi\nline text"\n')
    out = tmp_path / f"out.{suffix}"
    result = run("analyze", "--file", str(source), "--column", "body", "-o", str(out), "--model", str(tiny_model_dir))
    assert result.exit_code == 0, result.output
    if suffix == "csv":
        with out.open(newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        assert reader.fieldnames[:5] == ["id", "text", "label", "polarity", "score"]
        assert [r["text"] for r in rows] == ["Great, really great", "multi\nline text"]
        # the record's line in the file: the header is line 1, and a quoted newline makes a record end a line later
        assert [r["id"] for r in rows] == ["2", "4"]
        assert "p_very negative" in rows[0]
        assert reader.fieldnames[-4:] == ["truncated", "chunks", "error", "warnings"]
        assert [r["error"] for r in rows] == ["", ""]
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == 2 and rows[1]["text"] == "multi\nline text"
        assert [r["id"] for r in rows] == ["2", "4"]


def test_analyze_jsonl_and_txt_inputs(tiny_model_dir, tmp_path):
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text('{"text": "a"}\n{"text": "b"}\n')
    txt = tmp_path / "in.txt"
    txt.write_text("x\ny\nz\n")
    for path, n in [(jsonl, 2), (txt, 3)]:
        result = run("analyze", "--file", str(path), "--json", "--model", str(tiny_model_dir))
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r["id"] for r in rows] == [str(i) for i in range(1, n + 1)]  # line numbers
        assert [r["text"] for r in rows] == (["a", "b"] if n == 2 else ["x", "y", "z"])


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
    summary = json.loads(result.stdout)
    assert summary["output"] == str(tmp_path / "run")
    assert summary["validation"]["accuracy"] == 1.0
    meta = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert meta["labels"] == ["neg", "pos"] and meta["task"] == "text-classification.v1"
    assert meta["preprocessing"] == {"max_length": 16, "truncation": "head", "emoji": "words"}
    assert (tmp_path / "run" / "experiment.json").exists()  # the run folder records its config
    evaluated = run("evaluate", str(tmp_path / "run" / "best"), str(data))
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["accuracy"] == 1.0
    from sentimentkit.training.experiment import evaluate

    sample = evaluate(tmp_path / "run" / "best", str(data), subset=6)  # stratified: 3 of each label
    assert sample["n"] == 6 and sample["confusion"] == [[3, 0], [0, 3]]
    assert evaluate(tmp_path / "run" / "best", str(data), subset=6) == sample  # a fixed sample
    predicted = run("analyze", "nice thing", "--json", "--model", str(tmp_path / "run" / "best"))
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.stdout)["label"] == "pos"

    # the run folder belongs to this config: rerunning it resumes (here: a finished run), another config is refused
    again = run("train", str(config), "--no-progress")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == summary
    changed = run("train", str(config), "--no-progress", "--set", "train.lr=0.01")
    assert changed.exit_code == 2
    assert "different config" in changed.output and "train.lr: 0.003 -> 0.01" in changed.output
    (tmp_path / "run" / "experiment.json").unlink()  # a run folder from before runs recorded their config
    unknown = run("train", str(config), "--no-progress")
    assert unknown.exit_code == 2 and "without experiment.json" in unknown.output


def test_evaluate_a_five_point_model_on_polarity_labels(tiny_model_dir, tmp_path):
    data = tmp_path / "polar.csv"
    data.write_text("text,label\ngood film,positive\nbad film,negative\nfine film,positive\n")
    result = run("evaluate", str(tiny_model_dir), str(data))
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["compared_as"] == "polarity" and metrics["labels"] == ["negative", "positive"]
    assert metrics["n"] == 3 and sum(map(sum, metrics["confusion"])) == 3
    # right when the positive classes together outweigh the negative ones, not only when "positive" itself wins
    import sentimentkit

    gold = {"good film": "positive", "bad film": "negative", "fine film": "positive"}
    right = 0
    for p in sentimentkit.load(str(tiny_model_dir))(list(gold)):
        pos = p.probabilities["very positive"] + p.probabilities["positive"]
        neg = p.probabilities["very negative"] + p.probabilities["negative"]
        right += ("positive" if pos > neg else "negative") == gold[p.text]
    assert metrics["accuracy"] == pytest.approx(right / 3)
    other = tmp_path / "other.csv"
    other.write_text("text,label\ngood film,pos\nbad film,neg\n")
    refused = run("evaluate", str(tiny_model_dir), str(other))
    assert refused.exit_code == 2
    assert "['neg', 'pos']" in refused.output and "very positive" in refused.output and "polarities" in refused.output


def test_a_bad_output_path_fails_before_the_model_is_loaded(tmp_path):
    missing_model = str(tmp_path / "no-model")  # loading it would fail: the output must be refused first
    folder = run("analyze", "hi", "-o", str(tmp_path / "no-folder" / "out.csv"), "--model", missing_model)
    assert folder.exit_code == 2 and "error:" in folder.output and "no-folder" in folder.output
    suffix = run("analyze", "hi", "-o", str(tmp_path / "out.txt"), "--model", missing_model)
    assert suffix.exit_code == 2 and ".csv or .jsonl" in suffix.output
    aspects = run("aspects", "hi", "-o", str(tmp_path / "out.txt"), "--model", missing_model)
    assert aspects.exit_code == 2 and ".csv or .jsonl" in aspects.output


def test_train_names_a_bad_label_file(tiny_backbone, tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("text,label\nfine,pos\n,neg\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"model: {{type: text-classifier, backbone: {tiny_backbone}}}\ndata: {{train: {data}}}\n"
        f"output: {tmp_path / 'run'}\n"
    )
    result = run("train", str(config), "--no-progress")
    assert result.exit_code == 2
    assert "mine.csv:3" in result.output and "empty text" in result.output


def test_a_run_that_failed_before_training_does_not_claim_its_folder(tiny_backbone, tmp_path):
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text("text,label\nfine,pos\n,neg\n")
    good.write_text("text,label\n" + "".join(f"nice {i},pos\nawful {i},neg\n" for i in range(4)))
    config = tmp_path / "c.yaml"

    def write_config(train) -> None:
        config.write_text(
            f"model: {{type: text-classifier, backbone: {tiny_backbone}, adapter: full}}\n"
            f"data: {{train: {train}, validation: {good}, max_length: 16}}\n"
            "train: {epochs: 1, batch_size: 4}\n"
            f"output: {tmp_path / 'run'}\n"
        )

    write_config(bad)
    failed = run("train", str(config), "--no-progress")
    assert failed.exit_code == 2 and "bad.csv:3" in failed.output
    write_config(good)  # the user fixes the data: nothing was trained in the folder yet
    fixed = run("train", str(config), "--no-progress")
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["output"] == str(tmp_path / "run")


def test_backend_option_picks_how_a_model_runs(tiny_model_dir):
    args = ["analyze", "--model", str(tiny_model_dir), "--json", "--no-aspects", "Great.", "Awful."]
    torch_run = runner.invoke(app, [*args, "--backend", "torch"])
    onnx_run = runner.invoke(app, [*args, "--backend", "onnx"])  # compiled on first use (conftest's cache)
    assert torch_run.exit_code == 0 and onnx_run.exit_code == 0, (torch_run.output, onnx_run.output)
    as_rows = [[json.loads(line) for line in r.stdout.splitlines()] for r in (torch_run, onnx_run)]
    assert [r["label"] for r in as_rows[0]] == [r["label"] for r in as_rows[1]]
    bad = runner.invoke(app, [*args, "--backend", "gpu"])
    assert bad.exit_code != 0 and "backend='gpu': expected one of auto, torch, onnx" in bad.output
