"""Alembic environment of the store: run by `Store` (sentimentkit.store.core.migrate) with an open connection in
`config.attributes["connection"]`, so no alembic.ini is needed. Run from the alembic command line instead, it
connects to the URL of the `sqlalchemy.url` option."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from sentimentkit.store.schema import VERSION_TABLE, Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("the store's migrations need a connection (Store runs them) or the sqlalchemy.url option")
    with create_engine(url).connect() as opened:
        run(opened)
        opened.commit()
