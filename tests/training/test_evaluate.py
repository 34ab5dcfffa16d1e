"""`evaluate` on the user's own labelled file: a 5-point model is compared by polarity on a positive/negative
file (not by label name, which would score 0), and labels it cannot map are refused with both sets named."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from sentimentkit.cli import app

runner = CliRunner()
POSITIVE = ["A joy from start to finish.", "I loved every minute of it.", "Brilliant, moving and funny.",
            "The best film of the year.", "Wonderful acting and a great script."]  # fmt: skip
NEGATIVE = ["A dull, lifeless mess.", "I hated every minute of it.", "Boring and far too long.",
            "The worst film of the year.", "Terrible acting and a stupid script."]  # fmt: skip


def test_a_five_point_model_is_scored_by_polarity_on_a_binary_file(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("text,label\n" + "".join(f'"{t}",positive\n' for t in POSITIVE) + "".join(
        f'"{t}",negative\n' for t in NEGATIVE))  # fmt: skip
    result = runner.invoke(app, ["evaluate", "sentiment-en", str(path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["compared_as"] == "polarity" and metrics["labels"] == ["negative", "positive"]
    assert metrics["n"] == 10 and metrics["accuracy"] >= 0.9


def test_labels_that_cannot_be_mapped_are_refused(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("text,label\nGreat,4 stars\nBad,1 star\n")
    result = runner.invoke(app, ["evaluate", "sentiment-en", str(path)])
    assert result.exit_code == 2
    assert "['1 star', '4 stars']" in result.stderr and "'very negative'" in result.stderr
