"""A SQL store of document- and aspect-level predictions: SQLite by default, PostgreSQL by URL.

    from sentimentkit.store import Store
    with Store("sqlite:///reviews.db") as store:       # creates or migrates the schema (Alembic)
        store.write(pipeline(texts), model="sentiment-en", aspect_model="absa-en", source="api")
        columns, rows = store.query("SELECT aspect_term, sentiment_score FROM reviews WHERE product_id = 'PHONE_X'")

Importing this package does not import SQLAlchemy (the CLI mounts `store` commands and must start fast): `Store`
and the rest load from `.core` on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import DEFAULT_URL, ModelInfo, Store, WriteResult, database_url, open_store


class StoreError(Exception):
    """The store cannot do what was asked (bad URL, unreachable database, a prediction without an id, a failed
    query); the message says what and where."""


class ReadOnlyError(StoreError):
    """A query tried to write: `Store.query` and `sentimentkit store query` run on a read-only connection."""


_LAZY = {"DEFAULT_URL", "ModelInfo", "Store", "WriteResult", "database_url", "open_store"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import core

        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_URL",
    "ModelInfo",
    "ReadOnlyError",
    "Store",
    "StoreError",
    "WriteResult",
    "database_url",
    "open_store",
]
