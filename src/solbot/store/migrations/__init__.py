"""Alembic migrations of the solbot schema, run through `solbot.store.schema` (no alembic.ini)."""
