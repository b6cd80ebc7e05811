"""Fixtures: a migrated database per test, on SQLite by default.

Set `SOLBOT_TEST_POSTGRES_URL` (a PostgreSQL server URL whose user may create databases, e.g.
postgresql://postgres@127.0.0.1:5432/postgres) to run the same tests on PostgreSQL instead: each
test then gets its own database, cloned from a migrated template and dropped afterwards.
The schema is migrated once per run and copied, which keeps the suite fast.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from solbot.clock import ManualClock
from solbot.store import schema
from solbot.store.db import Database, async_url, create_engine

POSTGRES_ENV = "SOLBOT_TEST_POSTGRES_URL"
START = 1_700_000_000.0


def _postgres_server() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _with_database(url: str, name: str) -> str:
    return make_url(async_url(url)).set(database=name).render_as_string(hide_password=False)


async def _admin(server: str, *statements: str) -> None:
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head, to copy from: a SQLite file or a PostgreSQL template."""
    server = _postgres_server()
    if server is None:
        path = tmp_path_factory.mktemp("template") / "solbot.db"
        asyncio.run(schema.prepare(path))
        yield str(path)
        return
    name = f"solbot_tmpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    asyncio.run(schema.prepare(_with_database(server, name)))
    yield name
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def empty_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database that does not exist yet (SQLite) or has no tables (PostgreSQL)."""
    server = _postgres_server()
    if server is None:
        yield f"sqlite:///{tmp_path / 'data' / 'solbot.db'}"
        return
    name = f"solbot_test_{uuid.uuid4().hex[:12]}"
    await _admin(server, f'CREATE DATABASE "{name}"')
    yield _with_database(server, name)
    await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db_url(tmp_path: Path, migrated_template: str) -> AsyncIterator[str]:
    """A database at the head revision, private to the test."""
    server = _postgres_server()
    if server is None:
        path = tmp_path / "solbot.db"
        shutil.copyfile(migrated_template, path)
        yield f"sqlite:///{path}"
        return
    name = f"solbot_test_{uuid.uuid4().hex[:12]}"
    await _admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield _with_database(server, name)
    await _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)
