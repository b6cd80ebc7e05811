"""Alembic environment: runs on the connection that `solbot.store.schema` hands over.

There is no alembic.ini and no URL here: `schema` opens the (async) engine with the same settings
as the application, begins one transaction and runs Alembic inside it on that connection, so a
failed migration leaves the database as it was (SQLite and PostgreSQL both have transactional
DDL). SQLite uses batch mode, which rebuilds a table to alter it.
"""

from __future__ import annotations

from alembic import context

from solbot.store.tables import Base
from solbot.store.types import render_frozen_type

config = context.config
connection = config.attributes.get("connection")
if context.is_offline_mode() or connection is None:
    raise RuntimeError(
        "solbot migrations run through solbot.store.schema (e.g. `solbot db upgrade`), "
        "which passes Alembic an open connection; offline SQL generation is not supported"
    )

context.configure(
    connection=connection,
    # Tests may compare against other metadata; the application always uses the models'.
    target_metadata=config.attributes.get("target_metadata", Base.metadata),
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_frozen_type,
)
with context.begin_transaction():
    context.run_migrations()
