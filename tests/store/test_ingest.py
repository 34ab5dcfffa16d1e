"""Ingest: streaming in batches, idempotent reruns, changed texts, and a crash mid-file that a rerun completes."""

from __future__ import annotations

import csv
import json

import pytest

from sentimentkit.io import InputError
from sentimentkit.store import Store
from sentimentkit.store.ingest import ingest

from .conftest import FakePipeline

ROWS = [
    ("a1", "PHONE_X", "5", "Great battery and an excellent camera."),
    ("a2", "PHONE_X", "1", "The screen freezes when I touch it."),
    ("a3", "PHONE_X", "2", "The screen is dim and the speaker is awful."),
    ("a4", "PHONE_Y", "4", "The speaker is loud."),
    ("a5", "PHONE_X", "3", ""),
    ("a6", "PHONE_X", "4", "Good camera."),
    ("a7", "PHONE_Y", "5", "Bright screen, great battery."),
]


def write_csv(path, rows=ROWS):
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review_id", "product", "stars", "body"])
        writer.writerows(rows)
    return path


def run(path, store, pipeline, batch_size=2, **options):
    options = {
        "column": "body",
        "id_column": "review_id",
        "product_column": "product",
        "keep_columns": ["stars"],
    } | options
    return ingest(path, store, pipeline, batch_size=batch_size, **options)


def counts(store: Store) -> tuple[int, int, int]:
    return tuple(
        store.query(f"SELECT count(*) FROM {t}")[1][0][0]
        for t in ("documents", "document_predictions", "aspect_sentiments")
    )


def test_ingest_writes_documents_predictions_and_aspects(store, tmp_path):
    pipeline = FakePipeline()
    result = run(write_csv(tmp_path / "reviews.csv"), store, pipeline)
    assert (result.read, result.written, result.unchanged, result.errors) == (7, 7, 0, 1)
    assert pipeline.calls == 4  # batches of 2
    assert counts(store)[:2] == (7, 7)
    _, rows = store.query("SELECT product_id, metadata FROM documents WHERE id = 'a4'")
    metadata = rows[0][1] if isinstance(rows[0][1], dict) else json.loads(rows[0][1])
    assert rows[0][0] == "PHONE_Y" and metadata == {"stars": "4"}
    _, rows = store.query("SELECT label, error FROM document_predictions WHERE document_id = 'a5'")
    assert rows[0][0] is None and rows[0][1].startswith("blank input")
    _, runs = store.query(
        "SELECT source, model, status, rows_read, rows_written, rows_unchanged, rows_failed FROM ingest_runs"
    )
    assert runs == [(str(tmp_path / "reviews.csv"), "fake-model", "done", 7, 7, 0, 1)]
    assert "read 7 rows: wrote 7 (1 with errors), skipped 0 unchanged" in result.summary()


def test_reingesting_the_same_file_adds_nothing_and_scores_nothing(store, tmp_path):
    path = write_csv(tmp_path / "reviews.csv")
    run(path, store, FakePipeline())
    before = counts(store)
    again = FakePipeline()
    result = run(path, store, again, batch_size=3)
    assert (result.read, result.written, result.unchanged) == (7, 0, 7)
    assert again.seen == []  # nothing was scored again
    assert counts(store) == before
    _, runs = store.query("SELECT status, rows_unchanged FROM ingest_runs ORDER BY id")
    assert runs == [("done", 0), ("done", 7)]


def test_a_changed_text_updates_its_row(store, tmp_path):
    run(write_csv(tmp_path / "v1.csv"), store, FakePipeline())
    changed = [*ROWS]
    changed[1] = ("a2", "PHONE_X", "5", "The screen is great now.")
    pipeline = FakePipeline()
    result = run(write_csv(tmp_path / "v2.csv", changed), store, pipeline)
    assert (result.written, result.unchanged) == (1, 6)
    assert pipeline.seen == ["The screen is great now."]
    _, rows = store.query("SELECT text, aspect_term, polarity FROM reviews WHERE review_id = 'a2'")
    assert rows == [("The screen is great now.", "screen", "positive")]
    assert counts(store)[:2] == (7, 7)


def test_a_crash_mid_file_loses_nothing_committed_and_a_rerun_completes_it(store, tmp_path):
    path = write_csv(tmp_path / "reviews.csv")
    crashing = FakePipeline(fail_on_call=3)
    with pytest.raises(RuntimeError, match="crashed on call 3"):
        run(path, store, crashing)
    assert counts(store)[:2] == (4, 4)  # the two batches before the crash are committed
    _, runs = store.query("SELECT status, rows_read, rows_written, message FROM ingest_runs")
    assert runs[0][:3] == ("failed", 4, 4) and "crashed on call 3" in runs[0][3]

    rerun = FakePipeline()
    result = run(path, store, rerun)
    assert (result.read, result.written, result.unchanged) == (7, 3, 4)
    assert rerun.seen == ["", "Good camera.", "Bright screen, great battery."]  # only what was not committed
    assert counts(store)[:2] == (7, 7)
    _, runs = store.query("SELECT status FROM ingest_runs ORDER BY id")
    assert runs == [("failed",), ("done",)]


def test_jsonl_without_ids_uses_line_numbers(store, tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text(
        '{"text": "The screen is bad.", "product_id": "P"}\n\n{"text": "Great battery.", "product_id": "P"}\n'
    )
    result = ingest(path, store, FakePipeline(), keep_columns=["product_id"])
    assert result.written == 2
    assert store.query("SELECT id, product_id FROM documents ORDER BY id")[1] == [("1", "P"), ("3", "P")]


def test_input_errors_are_raised_before_any_run(store, tmp_path):
    path = write_csv(tmp_path / "reviews.csv")
    with pytest.raises(InputError, match="no column 'nope'"):
        ingest(path, store, FakePipeline(), column="nope")
    assert store.query("SELECT count(*) FROM ingest_runs")[1] == [(0,)]


MIXED = [
    ("en1", "PHONE_Z", "5", "The screen is dim and the speaker is awful."),
    ("en2", "PHONE_Z", "1", "The screen freezes when I touch it."),
    ("de1", "PHONE_Z", "1", "Der Screen friert ständig ein und der Akku ist nach zwei Stunden leer."),
    ("zh1", "PHONE_Z", "2", "这款手机的屏幕经常卡住，电池也不耐用。"),
    ("blank", "PHONE_Z", "3", ""),
]


def test_ingest_stores_each_text_s_detected_language(store, tmp_path):
    path = write_csv(tmp_path / "mixed.csv", MIXED)
    result = run(path, store, FakePipeline(language="en"))
    assert (result.written, result.errors) == (5, 1)
    sql = "SELECT document_id, language, warnings FROM document_predictions ORDER BY document_id"
    _, rows = store.query(sql)
    assert {i: language for i, language, _ in rows} == {
        "blank": None,
        "de1": "de",
        "en1": "en",
        "en2": "en",
        "zh1": "zh",
    }
    warnings = {i: w if isinstance(w, list) else json.loads(w) for i, _, w in rows}
    assert warnings["en1"] == warnings["en2"] == warnings["blank"] == []
    assert warnings["de1"] == ["input looks like German (de), but this model reads English: the label is unreliable"]
    assert warnings["zh1"] == ["input looks like Chinese (zh), but this model reads English: the label is unreliable"]

    again = FakePipeline(language="en")  # the language comes from the text: an unchanged text is not scored again
    rerun = run(path, store, again)
    assert (rerun.written, rerun.unchanged) == (0, 5) and again.seen == []
    assert store.query(sql)[1] == rows
