"""The store's first schema: models, ingest runs, documents, their predictions and aspect sentiments, the indices
for the usual queries (by product, aspect term, polarity, document), and the `reviews` view.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")

# One row per aspect occurrence with its document and the document's prediction. Plain SQL that SQLite and
# PostgreSQL read alike, so `SELECT aspect_term, sentiment_score FROM reviews WHERE product_id = 'PHONE_X'
# ORDER BY sentiment_score DESC` runs verbatim on both.
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
    d.updated_at AS updated_at
FROM aspect_sentiments a
JOIN documents d ON d.id = a.document_id
JOIN document_predictions p ON p.document_id = a.document_id AND p.model_id = a.prediction_model_id
JOIN models m ON m.id = p.model_id
JOIN models am ON am.id = a.model_id
"""


def _timestamp(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=None if nullable else sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("name", "fingerprint", name="uq_models_name_fingerprint"),
    )
    op.create_table(
        "ingest_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        _timestamp("started_at"),
        _timestamp("finished_at", nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), nullable=False),
        sa.Column("rows_failed", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('running', 'done', 'failed')", name="ck_ingest_runs_status"),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_runs"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("product_id", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_index("ix_documents_product_id", "documents", ["product_id"])
    op.create_table(
        "document_predictions",
        sa.Column("document_id", sa.Text(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("aspect_model_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("polarity", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("probabilities", JSON, nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("warnings", JSON, nullable=False),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_document_predictions_document_id_documents", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_document_predictions_model_id_models"),
        sa.ForeignKeyConstraint(
            ["aspect_model_id"], ["models.id"], name="fk_document_predictions_aspect_model_id_models"
        ),
        sa.PrimaryKeyConstraint("document_id", "model_id", name="pk_document_predictions"),
    )
    op.create_table(
        "aspect_sentiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Text(), nullable=False),
        sa.Column("prediction_model_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("start_char", sa.Integer(), nullable=False),
        sa.Column("end_char", sa.Integer(), nullable=False),
        sa.Column("polarity", sa.Text(), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("probabilities", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id", "prediction_model_id"],
            ["document_predictions.document_id", "document_predictions.model_id"],
            name="fk_aspect_sentiments_prediction",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_aspect_sentiments_model_id_models"),
        sa.PrimaryKeyConstraint("id", name="pk_aspect_sentiments"),
    )
    op.create_index("ix_aspect_sentiments_term", "aspect_sentiments", ["term"])
    op.create_index("ix_aspect_sentiments_polarity", "aspect_sentiments", ["polarity"])
    op.create_index("ix_aspect_sentiments_document_id", "aspect_sentiments", ["document_id"])
    op.execute(REVIEWS_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW reviews")
    op.drop_table("aspect_sentiments")
    op.drop_table("document_predictions")
    op.drop_table("documents")
    op.drop_table("ingest_runs")
    op.drop_table("models")
