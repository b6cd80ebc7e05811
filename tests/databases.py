"""Test databases on both backends: a SQLite file, and the real PostgreSQL server.

Every test that asks for `db_url`, `db` or `empty_url` runs twice, once per backend. The
PostgreSQL server is `SOLBOT_TEST_POSTGRES_URL`, by default the one this machine kind runs
(postgresql://postgres@127.0.0.1:5432/postgres, trust auth); each test gets a database of its
own, cloned from a migrated template and dropped afterwards. When the server cannot be reached
the PostgreSQL half is skipped on a developer's machine and fails under CI (`CI=true`), where
`.ci/run` has started it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from solbot.store import schema
from solbot.store.db import Database, async_url, create_engine
from solbot.worlds import SIM

POSTGRES_ENV = "SOLBOT_TEST_POSTGRES_URL"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgresql")

Seeder = Callable[[str], Awaitable[None]]


def postgres_server() -> str:
    return os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES


def with_database(url: str, name: str) -> str:
    return make_url(async_url(url)).set(database=name).render_as_string(hide_password=False)


async def admin(server: str, *statements: str) -> None:
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


_reachable: dict[str, str | None] = {}


def require_postgres() -> str:
    """The server URL, after checking once per run that it answers (skip or fail if not)."""
    server = postgres_server()
    if server not in _reachable:
        # On a thread of its own: callers may already be inside an event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            probe = pool.submit(asyncio.run, asyncio.wait_for(admin(server, "SELECT 1"), 10))
            try:
                probe.result()
                _reachable[server] = None
            except Exception as exc:  # any failure to connect means "not reachable"
                _reachable[server] = f"{type(exc).__name__}: {exc}"
    problem = _reachable[server]
    if problem is not None:
        shown = make_url(async_url(server)).render_as_string(hide_password=True)
        message = f"PostgreSQL at {shown} is unreachable ({problem[:200]})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; under CI the PostgreSQL tests must run")
        pytest.skip(message)
    return server


def make_template(
    backend: str, tmp_path_factory: pytest.TempPathFactory, seed: Seeder | None
) -> Iterator[str]:
    """A database migrated to head (and seeded), to copy from: a file or a template DB. It is
    the sim world's, as a `solbot` command on the default network would have made it."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "solbot.db"
        asyncio.run(schema.prepare(path, SIM))
        if seed is not None:
            asyncio.run(seed(f"sqlite:///{path}"))
        yield str(path)
        return
    server = require_postgres()
    name = f"solbot_tmpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(server, f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(schema.prepare(with_database(server, name), SIM))
        if seed is not None:
            asyncio.run(seed(with_database(server, name)))
        yield name
    finally:
        asyncio.run(admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def copy_of(backend: str, template: str, tmp_path: Path) -> AsyncIterator[str]:
    """A private database made from `template`, removed afterwards."""
    if backend == "sqlite":
        path = tmp_path / "solbot.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    server = postgres_server()
    name = f"solbot_test_{uuid.uuid4().hex[:12]}"
    await admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield with_database(server, name)
    finally:
        await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def empty_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database that does not exist yet (SQLite) or has no tables (PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'solbot.db'}"
        return
    server = require_postgres()
    name = f"solbot_test_{uuid.uuid4().hex[:12]}"
    await admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server, name)
    finally:
        await admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """'sqlite' or 'postgresql': the tests that use a database run on both."""
    return str(request.param)


@pytest.fixture(scope="session")
def migrated_template(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from make_template(backend, tmp_path_factory, None)


@pytest.fixture
async def db_url(backend: str, migrated_template: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database at the head revision, private to the test."""
    async for url in copy_of(backend, migrated_template, tmp_path):
        yield url


@pytest.fixture
async def empty_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    async for url in empty_database(backend, tmp_path):
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.dispose()
