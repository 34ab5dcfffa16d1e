"""Each document prediction's detected language: `document_predictions.language` (ISO 639-1 code, NULL for rows
stored before this revision and for texts without letters), also shown by the `reviews` view as its last column.

The view is dropped and created again around the change: SQLite has no CREATE OR REPLACE VIEW, and neither
database drops a column that a view reads. Downgrading drops the column (SQLite 3.35 or newer: ALTER TABLE ...
DROP COLUMN, which leaves the table's rows and the aspect rows that reference them in place) and restores
revision 0001's view.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Revision 0001's view with `{language}` after its last column: "" gives 0001's view, LANGUAGE this revision's.
REVIEWS_VIEW = """
CREATE VIEW reviews AS
SELECT
    d.id AS review_id,
    d.product_id AS product_id,
    d.source AS source,
    d.text AS text,
    a.term AS aspect_term,
    a.polarity AS polarity,
    a.sentiment_score AS sentiment_score,
    a.confidence AS confidence,
    a.start_char AS start_char,
    a.end_char AS end_char,
    p.label AS document_label,
    p.polarity AS document_polarity,
    p.score AS document_score,
    m.name AS model,
    am.name AS aspect_model,
    d.updated_at AS updated_at{language}
FROM aspect_sentiments a
JOIN documents d ON d.id = a.document_id
JOIN document_predictions p ON p.document_id = a.document_id AND p.model_id = a.prediction_model_id
JOIN models m ON m.id = p.model_id
JOIN models am ON am.id = a.model_id
"""
LANGUAGE = ",\n    p.language AS language"


def upgrade() -> None:
    op.add_column("document_predictions", sa.Column("language", sa.Text(), nullable=True))
    op.execute("DROP VIEW reviews")
    op.execute(REVIEWS_VIEW.format(language=LANGUAGE))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        raise RuntimeError(
            f"downgrading below 0003 drops document_predictions.language, which needs SQLite 3.35 or newer "
            f"(ALTER TABLE ... DROP COLUMN); this Python has SQLite {sqlite3.sqlite_version}"
        )
    op.execute("DROP VIEW reviews")
    op.drop_column("document_predictions", "language")
    op.execute(REVIEWS_VIEW.format(language=""))
