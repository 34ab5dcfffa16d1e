"""Inputs and outputs that lose nothing (`sentimentkit.io` and the CLI around it): every input gets exactly one row
with its id, blank and undecodable inputs say so, kept columns travel, bad output paths fail before any work."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from sentimentkit import cli
from sentimentkit.cli import app
from sentimentkit.io import InputError, OutputError, PredictionWriter, read_inputs
from sentimentkit.labels import EMOTION4, SENTIMENT5
from sentimentkit.types import AspectPrediction, Prediction

runner = CliRunner()


def test_stdin_keeps_blank_lines_and_undecodable_ones_as_rows():
    data = b"good\n\n   \nbad \xff\xfe line\nfine\n"
    records = list(read_inputs(["-"], stdin=io.BytesIO(data)))
    assert [r.id for r in records] == ["1", "2", "3", "4", "5"]
    assert [r.text for r in records] == ["good", "", "", "", "fine"]
    assert records[3].error is not None and "<stdin>:4" in records[3].error and "UTF-8" in records[3].error
    assert all(r.error is None for i, r in enumerate(records) if i != 3)


def test_txt_file_keeps_blank_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(f"text {i}" if i % 100 else "" for i in range(1, 10_001)) + "\n")
    records = list(read_inputs(file=path))
    assert len(records) == 10_000 and sum(not r.text for r in records) == 100
    assert records[99].id == "100" and records[99].source == f"{path}:100"


def test_csv_and_jsonl_carry_the_id_and_kept_columns(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("review_id,product,text\nr1,phone,Great screen\nr2,phone,\nr3,laptop,Too slow\n")
    records = list(read_inputs(file=path, id_column="review_id", keep=["product"]))
    assert [(r.id, r.text, r.fields) for r in records] == [
        ("r1", "Great screen", (("product", "phone"),)),
        ("r2", "", (("product", "phone"),)),
        ("r3", "Too slow", (("product", "laptop"),)),
    ]
    lines = tmp_path / "in.jsonl"
    lines.write_text('{"id": 7, "text": "ok", "shop": "a"}\nnot json\n{"id": 8, "text": 3, "shop": "b"}\n')
    records = list(read_inputs(file=lines, id_column="id", keep=["shop"]))
    assert [r.id for r in records] == ["7", "2", "8"]
    assert records[1].error.startswith(f"{lines}:2: invalid JSON")
    assert "field 'text' is int" in records[2].error and records[2].fields == (("shop", "b"),)


def test_a_missing_column_is_named_before_any_work(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("body\nhello\n")
    with pytest.raises(InputError, match=r"no column 'text'; the header has \['body'\]"):
        read_inputs(file=path)
    with pytest.raises(InputError, match="unknown input format"):
        read_inputs(file=tmp_path / "x.docx") if (tmp_path / "x.docx").write_text("a") else None


def test_writer_checks_the_path_and_writes_every_column(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        PredictionWriter(tmp_path / "nodir" / "out.jsonl", SENTIMENT5)
    with pytest.raises(OutputError, match="unknown output format"):
        PredictionWriter(tmp_path / "out.parquet", SENTIMENT5)
    aspect = AspectPrediction("screen", 6, 12, "positive", 0.9, {"positive": 0.9})
    rows = [
        Prediction(
            "Great screen",
            "positive",
            "positive",
            0.5,
            dict.fromkeys(SENTIMENT5.names, 0.2),
            (aspect,),
            id="r1",
            fields=(("product", "phone"),),
        ),
        Prediction("", id="r2", error="blank input", fields=(("product", "phone"),)),
    ]
    with PredictionWriter(tmp_path / "out.csv", SENTIMENT5, keep=["product"], aspects=True) as writer:
        writer.write_all(rows)
    table = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [r["id"] for r in table] == ["r1", "r2"] and table[0]["product"] == "phone"
    assert table[0]["p_very negative"] == "0.2" and json.loads(table[0]["aspects"])[0]["aspect"] == "screen"
    assert table[1]["error"] == "blank input" and table[1]["label"] == ""
    emotions = next(iter(csv.reader(io.StringIO(_csv_header(tmp_path, EMOTION4)))))
    assert "polarity" not in emotions and "score" not in emotions and "p_anger" in emotions


def _csv_header(tmp_path, labels) -> str:
    with PredictionWriter(tmp_path / "h.csv", labels):
        pass
    return (tmp_path / "h.csv").read_text()


# --- through the CLI, with the shipped models ------------------------------------------------------------------


def test_analyze_stdin_gives_one_row_per_line_with_its_id():
    stdin = b"I loved it.\n\nTerrible \xff acting.\nNot worth the money.\n"
    result = runner.invoke(app, ["analyze", "-", "--json", "--no-aspects"], input=stdin)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["polarity"] == "positive" and rows[3]["polarity"] == "negative"
    assert rows[1]["error"].startswith("blank input") and "UTF-8" in rows[2]["error"] and "label" not in rows[2]
    assert "1 of 4 inputs could not be read" in result.stderr


def test_a_bad_output_path_fails_before_loading_or_scoring(tmp_path, monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the output path was checked")

    monkeypatch.setattr("sentimentkit.load", no_load)
    for target, message in ((tmp_path / "nodir" / "out.jsonl", "does not exist"), (tmp_path / "o.xlsx", "unknown")):
        result = runner.invoke(app, ["analyze", "some text", "-o", str(target)])
        assert result.exit_code == 2 and message in result.stderr, result.output
        assert "Traceback" not in result.output


def test_results_stream_to_the_file_as_they_are_scored(tmp_path, monkeypatch):
    path = tmp_path / "in.txt"
    path.write_text("".join(f"line {i}\n" for i in range(7)))
    out = tmp_path / "out.jsonl"
    seen = []

    class Recording:
        manifest = type("M", (), {"task": "text-classification.v1"})()
        labels = SENTIMENT5

        def __call__(self, examples, **options):
            seen.append(len(out.read_text().splitlines()) if out.exists() else 0)
            return [Prediction(x.text, "neutral", id=x.id) for x in examples]

    monkeypatch.setattr(cli, "CHUNK", 3)
    monkeypatch.setattr("sentimentkit.load", lambda *a, **k: Recording())
    result = runner.invoke(app, ["analyze", "--file", str(path), "-o", str(out), "--no-aspects"])
    assert result.exit_code == 0, result.output
    assert seen == [0, 3, 6]  # each chunk's rows were in the file before the next chunk was scored
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [str(i) for i in range(1, 8)]


def test_a_mistyped_aspect_model_fails_as_in_the_api():
    result = runner.invoke(app, ["analyze", "The food was great.", "--aspect-model", "absa-enn"])
    assert result.exit_code == 2 and "absa-enn" in result.stderr, result.output
    import sentimentkit
    from sentimentkit.hub import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="absa-enn"):
        sentimentkit.load("sentiment-en", aspects="absa-enn")


def test_given_terms_next_to_dashes_or_in_chinese_are_found_and_absent_ones_reported():
    result = runner.invoke(
        app,
        [
            "aspects",
            "--json",
            "The price-- way too high. Screen is ok.",
            "-a",
            "price",
            "-a",
            "battery",
            "-a",
            "screen",
        ],
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert [a["aspect"] for a in row["aspects"]] == ["price", "Screen"]
    assert row["warnings"] == ["aspect 'battery' does not occur in the text"]
    chinese = runner.invoke(
        app, ["aspects", "--json", "这个手机的屏幕很好，但是电池很差。", "-a", "屏幕", "-a", "电池"]
    )
    assert chinese.exit_code == 0, chinese.output
    assert [a["aspect"] for a in json.loads(chinese.stdout)["aspects"]] == ["屏幕", "电池"]


def test_long_texts_say_they_were_cut_or_are_scored_in_chunks():
    review = " ".join(["The first act drags badly and the dialogue is flat."] * 60) + " But the ending is wonderful!"
    cut = runner.invoke(app, ["analyze", "--json", "--no-aspects", review])
    row = json.loads(cut.stdout)
    assert row["truncated"] is True and "chunks" not in row
    chunked = runner.invoke(app, ["analyze", "--json", "--no-aspects", "--long", "chunks", review])
    row = json.loads(chunked.stdout)
    assert row["chunks"] > 5 and "truncated" not in row
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)


def test_a_long_text_without_sentence_ends_is_cut_into_windows_not_truncated():
    import sentimentkit

    run_on = "and then it went on " * 120 + "and the ending is great"
    prediction = sentimentkit.load("sentiment-en")([run_on], long_texts="chunks")[0]
    assert prediction.chunks >= 5 and not prediction.truncated
