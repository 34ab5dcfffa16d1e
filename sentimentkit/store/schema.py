"""The store's tables as SQLAlchemy 2.x declarative classes, and the `reviews` view's columns.

Alembic's migrations (migrations/versions/) create these tables; this module is what the code reads and writes
through, and a test checks that the two agree. Core statements use `Class.__table__`: the store writes in bulk,
so it has no use for ORM sessions.

A document has at most one current prediction per model name (the key is document + model version; writing a
newer version of a model replaces the older one's). A prediction's aspect rows belong to it: they are deleted with
it (ON DELETE CASCADE, and explicitly by the writer, so SQLite without foreign keys behaves the same).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The same constraint and index names on every database, so migrations can name what they alter.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
VERSION_TABLE = "sentimentkit_alembic_version"  # not Alembic's default name: the database may hold an app's own

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONType, list[str]: JSONType, list[Any]: JSONType}


class Model(Base):
    """A model version: its name (a shipped name or a directory) and the sha256 of its manifest ("" if unknown)."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "fingerprint", name="uq_models_name_fingerprint"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    task: Mapped[str] = mapped_column(Text, default="")
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    labels: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())


class IngestRun(Base):
    """One `store ingest` of a file: counts are committed with each batch, so a crash leaves them accurate."""

    __tablename__ = "ingest_runs"
    __table_args__ = (CheckConstraint("status IN ('running', 'done', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(Text, default="running")
    message: Mapped[str | None] = mapped_column(Text)


class Document(Base):
    """An input text by its id, with its product and any other kept columns (`metadata`, a JSON object)."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    source: Mapped[str | None] = mapped_column(Text)
    product_id: Mapped[str | None] = mapped_column(Text, index=True)
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())


class DocumentPrediction(Base):
    """A document's label by one model version (label NULL and `error` set when the input could not be scored),
    with its text's detected language."""

    __tablename__ = "document_predictions"

    document_id: Mapped[str] = mapped_column(Text, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[int] = mapped_column(Integer, ForeignKey("models.id"), primary_key=True)
    aspect_model_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("models.id"))
    label: Mapped[str | None] = mapped_column(Text)
    polarity: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    probabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    chunks: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list[str]] = mapped_column(default=list)
    language: Mapped[str | None] = mapped_column(Text)  # detected ISO 639-1 code (NULL: none, or stored before 0003)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())


class AspectSentiment(Base):
    """One aspect occurrence: term, character span [start_char, end_char), polarity, and
    sentiment_score = p(positive) - p(negative) in [-1, 1]. `model_id` is the model that scored the aspect;
    (document_id, prediction_model_id) is the document prediction it belongs to."""

    __tablename__ = "aspect_sentiments"
    __table_args__ = (
        ForeignKeyConstraint(
            ["document_id", "prediction_model_id"],
            ["document_predictions.document_id", "document_predictions.model_id"],
            ondelete="CASCADE",
            name="fk_aspect_sentiments_prediction",
        ),
        Index("ix_aspect_sentiments_term", "term"),
        Index("ix_aspect_sentiments_polarity", "polarity"),
        Index("ix_aspect_sentiments_document_id", "document_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str] = mapped_column(Text)
    prediction_model_id: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[int] = mapped_column(Integer, ForeignKey("models.id"))
    term: Mapped[str] = mapped_column(Text)
    start_char: Mapped[int] = mapped_column(Integer)
    end_char: Mapped[int] = mapped_column(Integer)
    polarity: Mapped[str] = mapped_column(Text)
    sentiment_score: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)


class MonitorState(Base):
    """The monitor's durable state, one JSON value per (scope, key): a rule's windows and firing groups per stream
    and consumer group ("rule:NAME"), a followed file's byte offset, a sink's sender lease. Written in the same
    transaction as the batch it reflects, so a replayed batch is neither counted nor alerted twice."""

    __tablename__ = "monitor_state"

    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())


class Alert(Base):
    """An alert as an outbox row, one per sink: written with the batch that raised it, delivered oldest first,
    marked sent only after the sink accepted it (or dead after the sink kept refusing). `idempotency_key` is
    derived from the rule, the group key and the incident's start, so a replay raises the same key again."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("idempotency_key", "sink", name="uq_alerts_idempotency_key_sink"),
        CheckConstraint("kind IN ('raised', 'resolved')", name="kind"),
        CheckConstraint("status IN ('pending', 'sent', 'dead')", name="status"),
        Index("ix_alerts_sink_status", "sink", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    sink: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    group_key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


models = Model.__table__
ingest_runs = IngestRun.__table__
documents = Document.__table__
document_predictions = DocumentPrediction.__table__
aspect_sentiments = AspectSentiment.__table__
monitor_state = MonitorState.__table__
alerts = Alert.__table__

# The `reviews` view (created by the migrations, one row per aspect occurrence with its document's prediction),
# described for Core queries. Its own MetaData: it is not a table, so `Base.metadata.create_all` and Alembic's
# comparison leave it alone.
reviews = Table(
    "reviews",
    MetaData(),
    Column("review_id", Text),
    Column("product_id", Text),
    Column("source", Text),
    Column("text", Text),
    Column("aspect_term", Text),
    Column("polarity", Text),
    Column("sentiment_score", Float),
    Column("confidence", Float),
    Column("start_char", Integer),
    Column("end_char", Integer),
    Column("document_label", Text),
    Column("document_polarity", Text),
    Column("document_score", Float),
    Column("model", Text),
    Column("aspect_model", Text),
    Column("updated_at", DateTime(timezone=True)),
    Column("language", Text),  # the document prediction's detected language (migration 0003)
)
