"""Store: schema and migrations, idempotent writes by document id, and read-only queries, on SQLite and
PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sentimentkit.store import ModelInfo, ReadOnlyError, Store, StoreError, database_url
from sentimentkit.types import AspectPrediction, Prediction

from .conftest import fake_prediction

ISSUE_QUERY = (
    "SELECT aspect_term, sentiment_score FROM reviews WHERE product_id = 'PHONE_X' ORDER BY sentiment_score DESC"
)


def reviews(*texts: str, product: str = "PHONE_X", start: int = 1) -> list[Prediction]:
    return [
        fake_prediction(text, f"r{i}", (("product_id", product), ("stars", str(i % 5 + 1))))
        for i, text in enumerate(texts, start)
    ]


def count(store: Store, table: str) -> int:
    return store.query(f"SELECT count(*) FROM {table}")[1][0][0]


def test_migrations_create_what_the_schema_declares(store):
    """The Alembic migration and the declarative tables agree (names, types, nullability, indices)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from sentimentkit.store.schema import VERSION_TABLE, Base

    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    columns, _ = store.query("SELECT * FROM reviews")
    view = {"review_id", "product_id", "text", "aspect_term", "polarity", "sentiment_score", "confidence"}
    view |= {"start_char", "end_char", "document_label", "document_polarity", "document_score", "model"}
    assert view <= set(columns)


def test_reopening_migrates_nothing_and_keeps_rows(db_url):
    with Store(db_url) as store:
        store.write(reviews("The screen is bad."), model="fake", source="t")
    with Store(db_url) as again:
        assert count(again, "documents") == 1
        assert again.query("SELECT version_num FROM sentimentkit_alembic_version")[1] == [(_head(),)]


def _head() -> str:
    """The newest migration's revision (the store migrates to it on open)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from sentimentkit.store.core import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_downgrade_to_base_and_back(store):
    from alembic import command
    from alembic.config import Config

    from sentimentkit.store.core import MIGRATIONS, migrate_to_head

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with pytest.raises(StoreError, match="reviews"):
        store.query("SELECT * FROM reviews")
    migrate_to_head(store.engine)
    assert store.query("SELECT count(*) FROM reviews")[1] == [(0,)]


# the `reviews` view's columns at revisions 0001 and 0002 (0003 adds `language`)
VIEW_0002 = [
    "review_id", "product_id", "source", "text", "aspect_term", "polarity", "sentiment_score", "confidence",
    "start_char", "end_char", "document_label", "document_polarity", "document_score", "model", "aspect_model",
    "updated_at",
]  # fmt: skip
OLD_TEXT = "The screen is bad."


def _alembic(conn: Any, command_name: str, revision: str) -> None:
    """Run Alembic's upgrade or downgrade to `revision` on an open connection (as `migrate_to_head` does)."""
    from alembic import command
    from alembic.config import Config

    from sentimentkit.store.core import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    getattr(command, command_name)(config, revision)


def _store_at_0002_with_a_row(db_url: str) -> None:
    """A store as revision 0002 left it: one document scored by "fake-model", with one aspect."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from sentimentkit.store.core import sha256

    engine = sa.create_engine(database_url(db_url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            _alembic(conn, "upgrade", "0002")
            conn.execute(
                sa.text("INSERT INTO models (name, task, fingerprint, labels) VALUES ('fake-model', '', '', '[]')")
            )
            model = conn.execute(sa.text("SELECT id FROM models")).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO documents (id, source, product_id, text, text_sha256, metadata) "
                    "VALUES ('old', 't', 'PHONE_X', :text, :sha, '{}')"
                ),
                {"text": OLD_TEXT, "sha": sha256(OLD_TEXT)},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO document_predictions (document_id, model_id, label, polarity, score, probabilities, "
                    "truncated, warnings) VALUES ('old', :model, 'negative', 'negative', -0.85, '{}', :no, '[]')"
                ),
                {"model": model, "no": False},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO aspect_sentiments (document_id, prediction_model_id, model_id, term, start_char, "
                    "end_char, polarity, sentiment_score, confidence, probabilities) "
                    "VALUES ('old', :model, :model, 'screen', 4, 10, 'negative', -0.85, 0.9, '{}')"
                ),
                {"model": model},
            )
    finally:
        engine.dispose()


def test_upgrading_a_0002_store_keeps_its_rows_with_no_language_and_downgrades(db_url):
    from sentimentkit.store.core import migrate_to_head
    from sentimentkit.store.schema import reviews as reviews_view

    _store_at_0002_with_a_row(db_url)
    with Store(db_url) as store:  # opening upgrades it to the newest revision
        assert store.query("SELECT version_num FROM sentimentkit_alembic_version")[1] == [(_head(),)]
        assert store.query("SELECT document_id, label, score, language FROM document_predictions")[1] == [
            ("old", "negative", -0.85, None)
        ]
        columns, rows = store.query("SELECT * FROM reviews")
        assert columns == [*VIEW_0002, "language"] == list(reviews_view.c.keys())
        assert [(r[0], r[4], r[10], r[-1]) for r in rows] == [("old", "screen", "negative", None)]
        assert store.unchanged([("old", OLD_TEXT)], model="fake-model") == {"old"}  # re-ingesting it scores nothing
        new = replace(fake_prediction("Great battery.", "new", (("product_id", "PHONE_X"),)), language="en")
        assert store.write([new], model="fake-model", source="t").inserted == 1
        assert store.query("SELECT review_id, language FROM reviews ORDER BY review_id")[1] == [
            ("new", "en"),
            ("old", None),
        ]

        with store.engine.begin() as conn:
            _alembic(conn, "downgrade", "0002")
        assert store.query("SELECT version_num FROM sentimentkit_alembic_version")[1] == [("0002",)]
        columns, rows = store.query("SELECT * FROM document_predictions ORDER BY document_id")
        assert "language" not in columns and [r[0] for r in rows] == ["new", "old"]
        columns, rows = store.query("SELECT * FROM reviews ORDER BY review_id")
        assert columns == VIEW_0002 and [(r[0], r[4]) for r in rows] == [("new", "battery"), ("old", "screen")]

        migrate_to_head(store.engine)  # and up again: the language dropped by the downgrade is NULL
        assert store.query("SELECT review_id, language FROM reviews ORDER BY review_id")[1] == [
            ("new", None),
            ("old", None),
        ]


def test_write_and_the_issue_query(store):
    result = store.write(
        reviews("Great battery and a bright screen.", "The screen is unresponsive.", "Good camera.")
        + reviews("The speaker is loud.", product="PHONE_Y", start=4),
        model="fake",
        source="test",
    )
    assert (result.inserted, result.updated, result.unchanged, result.errors) == (4, 0, 0, 0)
    columns, rows = store.query(ISSUE_QUERY)
    assert columns == ["aspect_term", "sentiment_score"]
    assert [r[0] for r in rows][-1] == "screen"  # the criticised screen comes out lowest
    assert rows[-1][1] == pytest.approx(-0.85) and all(-1 <= r[1] <= 1 for r in rows)
    assert sorted(r[0] for r in rows) == ["battery", "camera", "screen", "screen"]  # PHONE_Y's speaker is not here
    _, docs = store.query("SELECT id, product_id, metadata FROM documents WHERE id = 'r1'")
    product, metadata = docs[0][1], docs[0][2]
    assert product == "PHONE_X"
    assert (metadata if isinstance(metadata, dict) else __import__("json").loads(metadata)) == {"stars": "2"}


def test_write_is_idempotent_by_id_text_and_model(store):
    batch = reviews("The screen is bad.", "Great battery.")
    store.write(batch, model="fake", source="t")
    again = store.write(batch, model="fake", source="t")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert [count(store, t) for t in ("documents", "document_predictions", "aspect_sentiments", "models")] == [
        2,
        2,
        2,
        1,
    ]


def test_a_changed_text_updates_the_document_and_replaces_its_predictions(store):
    store.write(reviews("The screen is bad.", "Great battery."), model="fake", source="t")
    store.write(reviews("The screen is bad."), model="other", source="t")  # a second model's prediction of r1
    result = store.write(reviews("The camera is great and the speaker is loud."), model="fake", source="t2")
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 0)
    _, rows = store.query("SELECT text, source FROM documents WHERE id = 'r1'")
    assert rows == [("The camera is great and the speaker is loud.", "t2")]
    _, aspects = store.query(
        "SELECT term, polarity FROM aspect_sentiments WHERE document_id = 'r1' ORDER BY start_char"
    )
    assert aspects == [("camera", "positive"), ("speaker", "positive")]  # the old "screen" row is gone
    # the other model scored the old text: its prediction is stale and removed with it
    assert store.query("SELECT count(*) FROM document_predictions WHERE document_id = 'r1'")[1] == [(1,)]
    assert count(store, "documents") == 2


def test_models_and_versions(store):
    batch = reviews("The screen is bad.")
    store.write(batch, model=ModelInfo("fake", fingerprint="v1"), source="t")
    other = store.write(batch, model="other", source="t")
    assert (other.updated, other.unchanged) == (1, 0)  # another model scores it too
    assert count(store, "document_predictions") == 2
    newer = store.write(batch, model=ModelInfo("fake", fingerprint="v2"), source="t")
    assert newer.updated == 1
    # v2 replaced v1's prediction: the view has one row per aspect per model name
    _, rows = store.query("SELECT model, aspect_term FROM reviews ORDER BY model")
    assert rows == [("fake", "screen"), ("other", "screen")]
    with_aspects = store.write(batch, model=ModelInfo("fake", fingerprint="v2"), aspect_model="absa-fake", source="t")
    assert with_aspects.updated == 1  # another aspect model: scored again
    _, rows = store.query("SELECT model, aspect_model FROM reviews WHERE model = 'fake'")
    assert rows == [("fake", "absa-fake")]


def test_shipped_model_names_get_their_manifest_fingerprint():
    info = ModelInfo.of("sentiment-en")
    assert info.task and len(info.fingerprint) == 64 and "neutral" in info.labels
    assert ModelInfo.of("no-such-model") == ModelInfo("no-such-model")


def test_errors_are_stored_without_a_label(store):
    result = store.write(
        [fake_prediction("", "blank"), Prediction("x", id="bad", error="x.csv:3: not UTF-8")], model="fake", source="t"
    )
    assert result.errors == 2 and result.inserted == 2
    _, rows = store.query("SELECT document_id, label, error FROM document_predictions ORDER BY document_id")
    assert rows == [("bad", None, "x.csv:3: not UTF-8"), ("blank", None, "blank input: nothing to score")]


def test_a_prediction_needs_an_id(store):
    with pytest.raises(StoreError, match="prediction 1 .*has no id"):
        store.write([fake_prediction("ok", "1"), fake_prediction("no id")], model="fake", source="t")
    assert count(store, "documents") == 0  # nothing of the batch was written


def test_duplicate_ids_in_one_batch_keep_the_last(store):
    result = store.write(reviews("The screen is bad.") + reviews("Great battery."), model="fake", source="t")
    assert result.duplicates == 1 and result.inserted == 1
    assert store.query("SELECT text FROM documents")[1] == [("Great battery.",)]


def test_aspect_score_is_positive_minus_negative(store):
    aspect = AspectPrediction("screen", 0, 6, "negative", 0.7, {"negative": 0.7, "neutral": 0.1, "positive": 0.2})
    no_probabilities = replace(aspect, probabilities={})
    store.write(
        [Prediction("screen", id="a", aspects=(aspect,)), Prediction("screen", id="b", aspects=(no_probabilities,))],
        model="m",
        source="t",
    )
    _, rows = store.query("SELECT document_id, sentiment_score FROM aspect_sentiments ORDER BY document_id")
    assert rows[0][1] == pytest.approx(-0.5) and rows[1][1] == pytest.approx(-0.7)


def test_unchanged_tells_what_write_would_skip(store):
    store.write(reviews("The screen is bad.", "Great battery."), model="fake", source="t")
    items = [("r1", "The screen is bad."), ("r2", "Changed."), ("r9", "New.")]
    assert store.unchanged(items, model="fake") == {"r1"}
    assert store.unchanged(items, model="other") == set()


# --- read-only queries -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO documents (id, text, text_sha256, metadata) VALUES ('x', 'x', 'x', '{}')",
        "DROP TABLE documents",
        "DELETE FROM documents",
        "UPDATE documents SET text = 'gone'",
        "CREATE TABLE evil (x integer)",
    ],
)
def test_query_refuses_writes(store, sql):
    store.write(reviews("The screen is bad."), model="fake", source="t")
    with pytest.raises(ReadOnlyError, match=r"refused: \w+ writes"):
        store.query(sql)
    assert store.query("SELECT text FROM documents")[1] == [("The screen is bad.",)]


def test_query_refuses_a_second_statement(store):
    store.write(reviews("The screen is bad."), model="fake", source="t")
    for sql in ("SELECT 1; DROP TABLE documents", "SELECT 1; COMMIT; DROP TABLE documents"):
        with pytest.raises(StoreError):
            store.query(sql)
    assert count(store, "documents") == 1


def test_query_with_parameters_and_percent_signs(store):
    store.write(reviews("The screen is bad.", "Great battery."), model="fake", source="t")
    _, rows = store.query("SELECT id FROM documents WHERE text LIKE '%screen%'")
    assert rows == [("r1",)]
    _, rows = store.query(
        "SELECT id FROM documents WHERE product_id = :p AND text LIKE :t", {"p": "PHONE_X", "t": "%battery%"}
    )
    assert rows == [("r2",)]
    with pytest.raises(StoreError, match="the query failed"):
        store.query("SELECT nope FROM documents")


def test_a_reader_does_not_create_or_migrate(tmp_path):
    missing = tmp_path / "missing.db"
    with pytest.raises(StoreError, match="no such database file"):
        Store(missing, migrate=False)
    assert not missing.exists()


def test_in_memory_sqlite(tmp_path):
    with Store("sqlite://") as store:
        store.write(reviews("The screen is bad."), model="fake", source="t")
        with pytest.raises(ReadOnlyError):
            store.query("DELETE FROM documents")
        assert store.write(reviews("Great battery."), model="fake", source="t").updated == 1  # writable again


def test_urls():
    assert database_url("reviews.db").render_as_string() == "sqlite:///reviews.db"
    assert database_url("postgresql://u:pw@h:5/db").drivername == "postgresql+psycopg"
    assert database_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    with pytest.raises(StoreError, match="SQLite or PostgreSQL"):
        database_url("mysql://u@h/db")
    with pytest.raises(StoreError, match="folder"):
        Store("sqlite:////no/such/folder/x.db")
