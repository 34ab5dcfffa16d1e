"""`Store`: opens a database by URL, brings its schema to the latest migration, writes predictions in one
transaction per call (idempotent by document id), and answers SQL on a read-only connection.

One writer at a time: a write transaction starts with `BEGIN IMMEDIATE` on SQLite and takes an advisory lock on
PostgreSQL, so the service and an ingest writing the same ids cannot interleave their read-then-write steps.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool, StaticPool

from ..hub import PRETRAINED_DIR, Manifest, read_manifest, shipped_models
from ..inference.compiled import cache_root
from ..labels import LabelSet
from ..types import AspectPrediction, Prediction
from . import ReadOnlyError, StoreError
from .schema import aspect_sentiments, document_predictions, documents, ingest_runs, models, utcnow

DEFAULT_URL = "sqlite:///sentimentkit.db"
MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_LOCK = 0x53544F5245  # PostgreSQL advisory lock key of the store's writers and migrations ("STORE")
READ_ONLY = "sentimentkit_read_only"  # Connection.info flag of an in-memory SQLite store's read-only use
IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's bound-parameter limits


@dataclass(frozen=True)
class ModelInfo:
    """A model version as the store records it: name, task, labels, and the sha256 of its manifest (config.json),
    so a retrained model under the same name is a new version whose predictions replace the old ones."""

    name: str
    task: str = ""
    fingerprint: str = ""
    labels: tuple[str, ...] = ()

    @classmethod
    def of(cls, model: str | ModelInfo | Any) -> ModelInfo:
        """From a ModelInfo, a loaded Pipeline (its manifest), or a name: a shipped model or model directory is
        read for its manifest; any other name is recorded as given, with no fingerprint."""
        if isinstance(model, ModelInfo):
            return model
        if isinstance(model, str):
            return _named(model)
        manifest = getattr(model, "manifest", None)
        if not isinstance(manifest, Manifest):
            raise StoreError(f"model must be a name, a ModelInfo or a loaded Pipeline, not {type(model).__name__}")
        path = Path(manifest.path)
        source = getattr(model, "source", None)
        if isinstance(source, str) and manifest.onnx is not None and path.is_relative_to(cache_root()):
            return _named(source)  # a compiled copy (inference/compiled.py) is its source model, on any backend
        return cls.from_manifest(path.name if path.parent == PRETRAINED_DIR else str(path), manifest)

    @classmethod
    def from_manifest(cls, name: str, manifest: Manifest) -> ModelInfo:
        canonical = json.dumps(manifest.to_json(), sort_keys=True, ensure_ascii=False, default=str)
        fingerprint = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return cls(name, manifest.task, fingerprint, tuple(manifest.labels.names))


@lru_cache(maxsize=64)
def _named(name: str) -> ModelInfo:
    if not name.strip():
        raise StoreError("a model name is required (such as 'sentiment-en')")
    directory = PRETRAINED_DIR / name if name in shipped_models() else Path(name)
    if (directory / "config.json").is_file():
        try:
            return ModelInfo.from_manifest(name, read_manifest(directory))
        except ValueError:  # a broken manifest: the name still identifies the model
            pass
    return ModelInfo(name)


@dataclass(frozen=True)
class WriteResult:
    """What one `Store.write` did: documents inserted, updated (text changed or scored by another model version),
    left unchanged (same id, text and models), and how many of the written rows carry an input error."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: int = 0
    duplicates: int = 0  # ids given more than once in the call (the last one is written)

    @property
    def written(self) -> int:
        return self.inserted + self.updated


def database_url(url: str | Path) -> URL:
    """A SQLAlchemy URL from a URL or a plain file path (SQLite). `postgresql://` and `postgres://` get the psycopg
    (3) driver, the one the `store` extra installs."""
    text = str(url).strip()
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise StoreError(f"{text!r} is not a database URL; expected {_EXPECTED}") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"{parsed.render_as_string()}: the store runs on SQLite or PostgreSQL; expected {_EXPECTED}")
    return parsed


_EXPECTED = "sqlite:///FILE.db, postgresql+psycopg://USER@HOST:PORT/DATABASE, or a file path"


def open_store(url: str | Path = DEFAULT_URL, *, migrate: bool = True) -> Store:
    """`Store(url)`: a URL or a SQLite file path."""
    return Store(url, migrate=migrate)


class Store:
    """Predictions in a SQL database. Opening migrates the schema to the latest version (`migrate=False` leaves it
    alone, for readers); `write` adds a batch in one transaction; `query` reads on a read-only connection."""

    def __init__(self, url: str | Path = DEFAULT_URL, *, migrate: bool = True) -> None:
        self.url = database_url(url)
        self.dialect = self.url.get_backend_name()
        self.name = self.url.render_as_string(hide_password=True)
        self._memory = self.dialect == "sqlite" and self.url.database in (None, "", ":memory:")
        if self.dialect == "sqlite" and not self._memory:
            path = Path(self.url.database or "")
            if not migrate and not path.is_file():
                raise StoreError(f"{path}: no such database file; create it with `sentimentkit store ingest`")
            if not path.parent.is_dir():
                raise StoreError(f"{path}: the folder {path.parent} does not exist")
        self.engine = _engine(self.url, self._memory)
        self._reader: Engine | None = None
        if migrate:
            try:
                migrate_to_head(self.engine)
            except (DBAPIError, SQLAlchemyError) as err:
                self.engine.dispose()
                raise StoreError(f"{self.name}: cannot open the store: {_reason(err)}") from err

    def __repr__(self) -> str:
        return f"Store({self.name!r})"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection of this store (the object cannot be used afterwards)."""
        if self._reader is not None and self._reader is not self.engine:
            self._reader.dispose()
        self.engine.dispose()

    # --- writing ---------------------------------------------------------------------------------------------

    def write(
        self,
        predictions: Sequence[Prediction],
        *,
        model: str | ModelInfo | Any,
        source: str,
        product_field: str = "product_id",
        aspect_model: str | ModelInfo | Any | None = None,
        in_transaction: Callable[[Connection], None] | None = None,
    ) -> WriteResult:
        """Write predictions in one transaction, by document id (`Prediction.id`, required).

        The product id comes from `Prediction.fields[product_field]`, the other fields go into the document's
        `metadata`. `model` is the model (a name, ModelInfo or Pipeline) that labelled the documents;
        `aspect_model` the one that found their aspects (default: `model`). A document whose id, text and models
        are stored already is left as it is; a changed text replaces the document and all its predictions; a new
        model version replaces that model's prediction. A prediction with `error` is stored with its error and
        no label; `Prediction.language` (the text's detected language) is stored beside the label.
        `in_transaction(conn)` runs inside the same transaction, after the write lock is taken and before the
        predictions are written, so a caller's own rows (the monitor's rule state and alerts) commit or roll back
        with the batch.
        """
        batch, duplicates = _by_id(predictions)
        info = ModelInfo.of(model)
        aspect_info = ModelInfo.of(aspect_model) if aspect_model is not None else None
        try:
            with self.engine.begin() as conn:
                self._lock(conn)
                if in_transaction is not None:
                    in_transaction(conn)
                model_id = _model_id(conn, info)
                aspect_id = _model_id(conn, aspect_info) if aspect_info is not None else None
                states = _states(conn, [(i, p.text) for i, p in batch.items()], model_id, aspect_id)
                todo = {i: p for i, p in batch.items() if states[i] != "unchanged"}
                now = utcnow()
                new = [i for i in todo if states[i] == "new"]
                if new:
                    conn.execute(sa.insert(documents), [_document(batch[i], source, product_field, now) for i in new])
                old = [i for i in todo if states[i] != "new"]
                if old:
                    _update_documents(conn, [batch[i] for i in old], source, product_field, now)
                    changed = [i for i in old if states[i] == "changed"]  # the text changed: every model's is stale
                    rescored = [i for i in old if states[i] == "rescore"]
                    same_name = sa.select(models.c.id).where(models.c.name == info.name)
                    _delete_predictions(conn, changed, None)
                    _delete_predictions(conn, rescored, same_name)
                if todo:
                    conn.execute(
                        sa.insert(document_predictions),
                        [_prediction(p, model_id, aspect_id, now) for p in todo.values()],
                    )
                    aspects = [row for p in todo.values() for row in _aspects(p, model_id, aspect_id or model_id)]
                    if aspects:
                        conn.execute(sa.insert(aspect_sentiments), aspects)
        except (DBAPIError, SQLAlchemyError) as err:
            raise StoreError(f"{self.name}: writing {len(batch)} predictions failed: {_reason(err)}") from err
        return WriteResult(
            inserted=len(new),
            updated=len(todo) - len(new),
            unchanged=len(batch) - len(todo),
            errors=sum(p.error is not None for p in todo.values()),
            duplicates=duplicates,
        )

    def unchanged(
        self,
        items: Iterable[tuple[str, str]],
        *,
        model: str | ModelInfo | Any,
        aspect_model: str | ModelInfo | Any | None = None,
    ) -> set[str]:
        """The ids among (id, text) pairs that `write` would leave unchanged: stored with this text and scored by
        these model versions. Ingest asks before scoring, so a rerun does not score again what it committed."""
        items = list(items)
        info = ModelInfo.of(model)
        aspect_info = ModelInfo.of(aspect_model) if aspect_model is not None else None
        with self.reading() as conn:
            model_id = _find_model(conn, info)
            aspect_id = _find_model(conn, aspect_info) if aspect_info is not None else None
            if model_id is None or (aspect_info is not None and aspect_id is None):
                return set()
            states = _states(conn, items, model_id, aspect_id)
        return {i for i, state in states.items() if state == "unchanged"}

    def _lock(self, conn: Connection) -> None:
        """Serialize writers on PostgreSQL (SQLite's BEGIN IMMEDIATE does it there)."""
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})

    # --- ingest runs -----------------------------------------------------------------------------------------

    def start_run(self, source: str, model: str) -> int:
        """Record the start of an ingest of `source` (status "running"); returns the run id."""
        with self.engine.begin() as conn:
            row = {"source": source, "model": model, "started_at": utcnow(), "status": "running"}
            row |= {"rows_read": 0, "rows_written": 0, "rows_unchanged": 0, "rows_failed": 0}
            return int(conn.execute(sa.insert(ingest_runs).returning(ingest_runs.c.id), row).scalar_one())

    def update_run(
        self,
        run_id: int,
        *,
        read: int,
        written: int,
        unchanged: int,
        failed: int,
        status: str | None = None,
        message: str | None = None,
    ) -> None:
        """Set a run's counts so far; with `status` "done" or "failed" also its end time (and an error message)."""
        values: dict[str, Any] = {"rows_read": read, "rows_written": written, "rows_unchanged": unchanged}
        values["rows_failed"] = failed
        if status is not None:
            values |= {"status": status, "finished_at": utcnow(), "message": message}
        with self.engine.begin() as conn:
            conn.execute(sa.update(ingest_runs).where(ingest_runs.c.id == run_id).values(**values))

    # --- reading ---------------------------------------------------------------------------------------------

    def query(self, sql: str, params: dict[str, Any] | None = None) -> tuple[list[str], list[tuple]]:
        """Run one SQL statement on a read-only connection: (column names, rows). `params` fill `:name` markers.

        SQLite opens the file read-only (`mode=ro`, `PRAGMA query_only`); PostgreSQL runs a READ ONLY transaction
        and sends the statement with the extended protocol, which refuses a second statement. A statement that
        writes raises ReadOnlyError.
        """
        try:
            with self.reading() as conn:
                if self.dialect == "postgresql":
                    return _pg_query(conn, sql, params)
                result = conn.execute(sa.text(sql), params) if params else conn.exec_driver_sql(sql)
                if not result.returns_rows:
                    return [], []
                return list(result.keys()), [tuple(row) for row in result]
        except (DBAPIError, SQLAlchemyError) as err:
            raise _query_error(sql, err) from err

    def reading(self) -> _ReadOnly:
        """A read-only Connection for Core queries (`with store.reading() as conn: ...`), rolled back on exit."""
        if self._reader is None:
            self._reader = self.engine if self._memory else _read_engine(self.url)
        return _ReadOnly(self._reader, toggle=self._memory)


class _ReadOnly:
    """A connection that cannot write, rolled back on exit. In-memory SQLite shares the store's one connection,
    so it switches `PRAGMA query_only` on for the duration."""

    def __init__(self, engine: Engine, toggle: bool) -> None:
        self.engine, self.toggle = engine, toggle

    def __enter__(self) -> Connection:
        self.conn = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            self.conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        elif self.toggle:
            self.conn.info[READ_ONLY] = True  # _begin: a plain BEGIN, not the write lock
            self.conn.connection.dbapi_connection.execute("PRAGMA query_only = ON")
        return self.conn

    def __exit__(self, *exc: object) -> None:
        try:
            self.conn.rollback()
            if self.toggle:
                self.conn.connection.dbapi_connection.execute("PRAGMA query_only = OFF")
                del self.conn.info[READ_ONLY]
        finally:
            self.conn.close()


def _pg_query(conn: Connection, sql: str, params: dict[str, Any] | None) -> tuple[list[str], list[tuple]]:
    """psycopg runs a statement without parameters with the simple protocol, which takes several statements at
    once ("SELECT 1; COMMIT; ..."); binary results force the extended protocol, which takes exactly one."""
    import psycopg

    statement, values = sql, None
    if params:
        compiled = sa.text(sql).compile(dialect=conn.dialect)
        statement, values = compiled.string, compiled.construct_params(params)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(statement, values, binary=True)
        if cursor.description is None:
            return [], []
        return [column.name for column in cursor.description], [tuple(row) for row in cursor.fetchall()]
    except psycopg.Error as err:  # the raw cursor's errors are not wrapped by SQLAlchemy
        raise _query_error(sql, err) from err
    finally:
        cursor.close()


def _query_error(sql: str, err: BaseException) -> StoreError:
    orig = getattr(err, "orig", None) or err
    reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    verb = (sql.split() or ["(empty)"])[0].upper()
    if getattr(orig, "sqlstate", None) == "25006" or "readonly database" in reason:
        return ReadOnlyError(
            f"refused: {verb} writes, and store queries run on a read-only connection (the database said: {reason}); "
            "write with `sentimentkit store ingest`"
        )
    if "one statement at a time" in reason or "multiple commands" in reason:
        return StoreError(f"one SQL statement per query, please (the database said: {reason})")
    return StoreError(f"the query failed: {reason}")


def _reason(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


# --- engines and migrations ----------------------------------------------------------------------------------


def _engine(url: URL, memory: bool) -> Engine:
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    options: dict[str, Any] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    if memory:
        options["poolclass"] = StaticPool  # one connection: a second would see another, empty database
    engine = sa.create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not the sqlite3 module, begins transactions
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # take the write lock now, so the reads and writes of a batch see one state (a read-only use: plain BEGIN)
        conn.exec_driver_sql("BEGIN" if conn.info.get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine


def _read_engine(url: URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        read_only = {"options": "-c default_transaction_read_only=on"}
        return sa.create_engine(url, poolclass=NullPool, connect_args=read_only)
    uri = Path(url.database or "").resolve().as_uri() + "?mode=ro"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, timeout=30, check_same_thread=False)
        connection.execute("PRAGMA query_only = ON")
        return connection

    return sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)


def migrate_to_head(engine: Engine) -> None:
    """Bring the schema to the newest migration (Alembic, in one transaction; a no-op when it is there)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # replicas starting together migrate one after the other
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


# --- the write steps -----------------------------------------------------------------------------------------


def _by_id(predictions: Sequence[Prediction]) -> tuple[dict[str, Prediction], int]:
    batch: dict[str, Prediction] = {}
    for i, prediction in enumerate(predictions):
        if not isinstance(prediction, Prediction):
            raise StoreError(f"prediction {i}: expected a Prediction, got {type(prediction).__name__}")
        if prediction.id is None or not str(prediction.id).strip():
            raise StoreError(
                f"prediction {i} (text {prediction.text[:40]!r}) has no id; the store keys documents by id"
            )
        batch[str(prediction.id)] = prediction
    return batch, len(predictions) - len(batch)


def _find_model(conn: Connection, info: ModelInfo) -> int | None:
    where = (models.c.name == info.name) & (models.c.fingerprint == info.fingerprint)
    return conn.execute(sa.select(models.c.id).where(where)).scalar()


def _model_id(conn: Connection, info: ModelInfo) -> int:
    found = _find_model(conn, info)
    if found is not None:
        return found
    row = {"name": info.name, "task": info.task, "fingerprint": info.fingerprint, "labels": list(info.labels)}
    return int(conn.execute(sa.insert(models).returning(models.c.id), row | {"created_at": utcnow()}).scalar_one())


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()  # a lone surrogate still hashes


def _chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _states(conn: Connection, items: Sequence[tuple[str, str]], model_id: int, aspect_id: int | None) -> dict[str, str]:
    """id -> "new" (no such document), "changed" (another text), "rescore" (same text, not yet scored by these
    model versions) or "unchanged"."""
    hashes: dict[str, str] = {}
    scored: dict[str, int | None] = {}
    for ids in _chunks([i for i, _ in items]):
        hashes.update(
            conn.execute(sa.select(documents.c.id, documents.c.text_sha256).where(documents.c.id.in_(ids))).all()
        )
        where = document_predictions.c.document_id.in_(ids) & (document_predictions.c.model_id == model_id)
        columns = document_predictions.c.document_id, document_predictions.c.aspect_model_id
        scored.update(conn.execute(sa.select(*columns).where(where)).all())
    states = {}
    for i, text in items:
        if i not in hashes:
            states[i] = "new"
        elif hashes[i] != sha256(text):
            states[i] = "changed"
        elif i in scored and scored[i] == aspect_id:
            states[i] = "unchanged"
        else:
            states[i] = "rescore"
    return states


def _document(p: Prediction, source: str, product_field: str, now: Any) -> dict[str, Any]:
    fields = dict(p.fields)
    product = fields.pop(product_field, None)
    return {
        "id": str(p.id),
        "source": source,
        "product_id": None if product is None or product == "" else str(product),
        "text": p.text.replace("\x00", "\ufffd"),  # PostgreSQL text cannot hold NUL; the hash keeps the original
        "text_sha256": sha256(p.text),
        "metadata": _jsonable(fields),
        "created_at": now,
        "updated_at": now,
    }


def _update_documents(conn: Connection, batch: list[Prediction], source: str, product_field: str, now: Any) -> None:
    rows = []
    for p in batch:
        row = _document(p, source, product_field, now)
        del row["created_at"]
        rows.append({f"new_{k}": v for k, v in row.items()})
    columns = [c for c in rows[0] if c != "new_id"]
    statement = (
        sa.update(documents)
        .where(documents.c.id == sa.bindparam("new_id"))
        .values({c.removeprefix("new_"): sa.bindparam(c) for c in columns})
    )
    conn.execute(statement, rows)


def _delete_predictions(conn: Connection, ids: list[str], model_ids: Any) -> None:
    """Delete the predictions (and their aspects) of these documents: by every model, or by `model_ids`."""
    for chunk in _chunks(ids):
        aspects = aspect_sentiments.c.document_id.in_(chunk)
        labels = document_predictions.c.document_id.in_(chunk)
        if model_ids is not None:
            aspects = aspects & aspect_sentiments.c.prediction_model_id.in_(model_ids)
            labels = labels & document_predictions.c.model_id.in_(model_ids)
        conn.execute(sa.delete(aspect_sentiments).where(aspects))
        conn.execute(sa.delete(document_predictions).where(labels))


def _prediction(p: Prediction, model_id: int, aspect_id: int | None, now: Any) -> dict[str, Any]:
    return {
        "document_id": str(p.id),
        "model_id": model_id,
        "aspect_model_id": aspect_id,
        "label": p.label,
        "polarity": p.polarity,
        "score": p.score if p.score is not None else p.value,
        "probabilities": {k: float(v) for k, v in p.probabilities.items()},
        "truncated": bool(p.truncated),
        "chunks": p.chunks,
        "error": p.error,
        "warnings": list(p.warnings),
        "language": p.language,
        "created_at": now,
    }


def _aspects(p: Prediction, model_id: int, aspect_id: int) -> list[dict[str, Any]]:
    return [
        {
            "document_id": str(p.id),
            "prediction_model_id": model_id,
            "model_id": aspect_id,
            "term": a.aspect,
            "start_char": a.start,
            "end_char": a.end,
            "polarity": a.polarity,
            "sentiment_score": aspect_score(a),
            "confidence": float(a.confidence),
            "probabilities": {k: float(v) for k, v in a.probabilities.items()},
        }
        for a in p.aspects
    ]


def aspect_score(aspect: AspectPrediction) -> float:
    """p(positive) - p(negative) in [-1, 1] (labels summed by polarity); from the polarity and confidence when the
    probabilities are missing or not polarities."""
    if aspect.probabilities:
        labels = LabelSet.of(tuple(aspect.probabilities))
        by_polarity = labels.polarity_probabilities([aspect.probabilities[n] for n in labels.names])
        if by_polarity is not None:
            return max(-1.0, min(1.0, by_polarity.get("positive", 0.0) - by_polarity.get("negative", 0.0)))
    sign = {"positive": 1.0, "negative": -1.0}.get(aspect.polarity, 0.0)
    return sign * float(aspect.confidence)


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    """Kept columns as JSON: values JSON cannot hold are stored as their text."""
    return json.loads(json.dumps(fields, ensure_ascii=False, default=str))
