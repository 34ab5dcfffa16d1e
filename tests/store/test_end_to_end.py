"""The issue's scenario with the shipped models: ingest phone reviews, then its query, verbatim, finds the screen."""

from __future__ import annotations

import csv

from typer.testing import CliRunner

from sentimentkit.cli import app
from sentimentkit.store import Store
from sentimentkit.store.core import ModelInfo

ISSUE_QUERY = (
    "SELECT aspect_term, sentiment_score FROM reviews WHERE product_id = 'PHONE_X' ORDER BY sentiment_score DESC"
)
REVIEWS = [
    ("x1", "PHONE_X", "The battery lasts two days and the camera is excellent."),
    ("x2", "PHONE_X", "The screen does not respond to touch and keeps freezing."),
    ("x3", "PHONE_X", "Fast charging and a great battery."),
    ("x4", "PHONE_X", "Terrible screen, it freezes every time I tap it."),
    ("x5", "PHONE_X", "The camera is excellent and the photos are sharp."),
    ("x6", "PHONE_X", "I love the design and the speakers are loud."),
    ("x7", "PHONE_Y", "The screen is bright and sharp."),
]


def test_ingest_with_the_shipped_models_and_the_issue_query(db_url, tmp_path):
    path = tmp_path / "phones.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([("review_id", "product_id", "text"), *REVIEWS])
    args = ["store", "ingest", str(path), "--db", db_url, "--id-column", "review_id", "--product-column", "product_id"]
    result = CliRunner().invoke(app, args)  # sentiment-en with absa-en
    assert result.exit_code == 0, result.output
    assert "read 7 rows: wrote 7" in result.stdout
    with Store(db_url, migrate=False) as store:
        columns, rows = store.query(ISSUE_QUERY)
        assert columns == ["aspect_term", "sentiment_score"]
        terms = [term.lower() for term, _ in rows]
        scores = [score for _, score in rows]
        assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
        # the criticised screen comes out lowest: both screen complaints are the last rows, clearly negative
        assert terms[-2:] == ["screen", "screen"] and max(scores[-2:]) < -0.5
        assert terms.count("screen") == 2  # PHONE_Y's bright screen is another product
        assert {"battery", "camera"} <= set(terms[:-2]) and min(scores[:-2]) > max(scores[-2:])
        _, labels = store.query(
            "SELECT label, score, language FROM document_predictions p JOIN documents d ON d.id = p.document_id "
            "WHERE d.id = 'x2'"
        )
        assert labels[0][0] in ("negative", "very negative") and labels[0][1] < 0
        assert labels[0][2] == "en"  # the pipeline's detected language is stored with the label
        # the compiled ONNX copies the CLI ran are recorded as the shipped models they were compiled from
        _, named = store.query("SELECT name, fingerprint FROM models ORDER BY name")
        assert named == [(n, ModelInfo.of(n).fingerprint) for n in ("absa-en", "sentiment-en")]
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "wrote 0" in again.stdout and "skipped 7 unchanged" in again.stdout
