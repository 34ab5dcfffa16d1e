"""`sentimentkit store ingest | query | report` (with a fake pipeline in place of the model)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.inference.pipeline import Pipeline

from .conftest import FakePipeline
from .test_ingest import write_csv

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["store", *args])


@pytest.fixture
def loads(monkeypatch):
    """Pipeline.load returns a FakePipeline; the list records the arguments of each load."""
    calls: list[tuple[tuple, dict]] = []

    def load(*args, **kwargs):
        calls.append((args, kwargs))
        return FakePipeline()

    monkeypatch.setattr(Pipeline, "load", load)
    return calls


@pytest.fixture
def ingested(db_url, tmp_path, loads):
    path = write_csv(tmp_path / "reviews.csv")
    result = run("ingest", str(path), "--db", db_url, "--column", "body", "--id-column", "review_id",
                 "--product-column", "product", "--keep-columns", "stars", "--batch-size", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    return db_url, path, result


def test_ingest_prints_a_summary_and_reruns_add_nothing(ingested, loads):
    db_url, path, result = ingested
    assert "read 7 rows: wrote 7 (1 with errors), skipped 0 unchanged" in result.stdout
    assert loads[0][0] == ("sentiment-en",) and loads[0][1]["aspects"] == "absa-en"
    again = run("ingest", str(path), "--db", db_url, "--column", "body", "--id-column", "review_id",
                "--product-column", "product", "--no-aspects")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "wrote 0" in again.stdout and "skipped 7 unchanged" in again.stdout
    assert loads[1][1]["aspects"] is None


def test_ingest_errors_exit_2(db_url, tmp_path, loads):
    path = write_csv(tmp_path / "reviews.csv")
    bad = [
        (["--no-aspects", "--aspect-model", "absa-en"], "--aspect-model goes with --aspects"),
        (["--column", "nope"], "no column 'nope'"),
    ]
    for options, message in bad:
        result = run("ingest", str(path), "--db", db_url, *options)
        assert result.exit_code == 2 and message in result.output, result.output
    result = run("ingest", str(tmp_path / "missing.csv"), "--db", db_url)
    assert result.exit_code == 2 and "no such file" in result.output
    result = run("ingest", str(path), "--db", "mysql://u@h/db")
    assert result.exit_code == 2 and "SQLite or PostgreSQL" in result.output


def test_query_prints_a_table_or_json(ingested):
    db_url, _, _ = ingested
    sql = "SELECT aspect_term, sentiment_score FROM reviews WHERE product_id = 'PHONE_X' ORDER BY sentiment_score DESC"
    result = run("query", sql, "--db", db_url)
    assert result.exit_code == 0, result.output
    assert "aspect_term" in result.stdout and "screen" in result.stdout
    result = run("query", sql, "--db", db_url, "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[-1]["sentiment_score"] < 0 < rows[0]["sentiment_score"]
    assert [r["sentiment_score"] for r in rows] == sorted((r["sentiment_score"] for r in rows), reverse=True)
    assert "screen" in {r["aspect_term"] for r in rows if r["sentiment_score"] < 0}
    result = run(
        "query", "SELECT id, created_at, metadata FROM documents ORDER BY id LIMIT 1", "--db", db_url, "--json"
    )
    row = json.loads(result.stdout)
    assert row["id"] == "a1" and row["created_at"]


@pytest.mark.parametrize(
    "sql", ["INSERT INTO models (name, task, fingerprint, labels) VALUES ('x', '', '', '[]')", "DROP TABLE documents"]
)
def test_query_refuses_writes_with_exit_2(ingested, sql):
    db_url, _, _ = ingested
    result = run("query", sql, "--db", db_url)
    assert result.exit_code == 2
    assert "refused" in result.output and "read-only" in result.output
    assert json.loads(run("query", "SELECT count(*) AS n FROM documents", "--db", db_url, "--json").stdout)["n"] == 7


def test_query_of_a_missing_sqlite_file_creates_nothing(tmp_path):
    result = run("query", "SELECT 1", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 2 and "no such database file" in result.output
    assert not (tmp_path / "none.db").exists()


def test_report_tables_json_and_chart(ingested, tmp_path):
    db_url, _, _ = ingested
    chart = tmp_path / "chart.png"
    result = run("report", "--product", "PHONE_X", "--db", db_url, "-o", str(chart))
    assert result.exit_code == 0, result.output
    assert "Aspects by polarity" in result.stdout and "Most negative aspects" in result.stdout
    assert "[a2] The screen freezes when I touch it." in result.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(run("report", "--product", "PHONE_X", "--db", db_url, "--json").stdout)
    assert data["documents"] == 5 and data["most_negative"][0]["term"] == "screen"
    missing = run("report", "--product", "NOPE", "--db", db_url)
    assert missing.exit_code == 2 and "'PHONE_X', 'PHONE_Y'" in missing.output
    bad_chart = run("report", "--product", "PHONE_X", "--db", db_url, "-o", str(tmp_path / "chart.svg"))
    assert bad_chart.exit_code == 2 and ".png" in bad_chart.output


def test_report_and_the_reviews_view_show_the_language(db_url, tmp_path, monkeypatch):
    from .test_ingest import MIXED

    monkeypatch.setattr(Pipeline, "load", lambda *args, **kwargs: FakePipeline(language="en"))
    path = write_csv(tmp_path / "mixed.csv", MIXED)
    result = run("ingest", str(path), "--db", db_url, "--column", "body", "--id-column", "review_id",
                 "--product-column", "product")  # fmt: skip
    assert result.exit_code == 0, result.output
    text = run("report", "--product", "PHONE_Z", "--db", db_url)
    assert text.exit_code == 0, text.output
    assert "documents by language: en 2, de 1, zh 1" in text.stdout
    data = json.loads(run("report", "--product", "PHONE_Z", "--db", db_url, "--json").stdout)
    assert data["languages"] == {"en": 2, "de": 1, "zh": 1} and data["documents"] == 5
    sql = "SELECT review_id, aspect_term, document_label, language FROM reviews ORDER BY review_id, start_char"
    rows = [json.loads(line) for line in run("query", sql, "--db", db_url, "--json").stdout.splitlines()]
    assert [(r["review_id"], r["aspect_term"], r["language"]) for r in rows] == [
        ("de1", "Screen", "de"),
        ("en1", "screen", "en"),
        ("en1", "speaker", "en"),
        ("en2", "screen", "en"),
    ]
