"""The database handle: URLs an operator may write, SQLite safety settings, transactions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from solbot.errors import EnvironmentFaultError, UserError
from solbot.store import schema
from solbot.store.db import Database, async_url
from solbot.store.paths import default_url
from solbot.store.tables import MetaEntry


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("data/solbot.db", "sqlite+aiosqlite:///data/solbot.db"),
        (Path("/var/lib/solbot/solbot.db"), "sqlite+aiosqlite:////var/lib/solbot/solbot.db"),
        ("sqlite:///data/solbot.db", "sqlite+aiosqlite:///data/solbot.db"),
        ("sqlite:////abs/solbot.db", "sqlite+aiosqlite:////abs/solbot.db"),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@db:5432/solbot", "postgresql+asyncpg://u:p@db:5432/solbot"),
        ("postgres://u@db/solbot", "postgresql+asyncpg://u@db/solbot"),
        ("postgresql+psycopg2://u@db/solbot", "postgresql+asyncpg://u@db/solbot"),
        ("postgresql+asyncpg://u@db/solbot", "postgresql+asyncpg://u@db/solbot"),
        ("postgresql+psycopg://u@db/solbot", "postgresql+psycopg://u@db/solbot"),
    ],
)
def test_async_url(given: str | Path, expected: str) -> None:
    assert async_url(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///file::memory:?cache=shared&uri=true", "in-memory"),
        ("mysql://u@db/solbot", "unsupported database 'mysql'"),
        ("   ", "empty"),
    ],
)
def test_async_url_refusals(given: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        async_url(given)


def test_default_url_is_a_file_in_the_data_dir() -> None:
    assert default_url(Path("/srv/data")) == "sqlite:////srv/data/solbot.db"
    assert default_url(Path("data")) == "sqlite:///data/solbot.db"


def test_a_missing_postgres_driver_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if not installed
    with pytest.raises(UserError, match="PostgreSQL needs the asyncpg package"):
        Database("postgresql://u:secret@127.0.0.1/solbot")


def test_repr_hides_the_password(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.db")
    assert repr(db) == f"Database('sqlite+aiosqlite:///{tmp_path / 'x.db'}')"
    assert db.dialect == "sqlite"


async def test_sqlite_connections_are_set_up_for_safety(tmp_path: Path) -> None:
    db = Database(tmp_path / "deep" / "er" / "solbot.db")
    async with db, db.engine.connect() as conn:
        pragmas = {
            name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 2,
        "busy_timeout": 10_000,
    }
    assert (tmp_path / "deep" / "er" / "solbot.db").is_file()


async def test_a_session_commits_on_success_and_rolls_back_on_error(db: Database) -> None:
    async with db.session() as s:
        s.add(MetaEntry(key="kept", value="1"))

    async def add_then_fail() -> None:
        async with db.session() as s:
            s.add(MetaEntry(key="dropped", value="2"))
            await s.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await add_then_fail()
    async with db.session() as s:
        keys = (await s.scalars(select(MetaEntry.key).where(MetaEntry.key != "world"))).all()
    assert keys == ["kept"]


async def test_rows_stay_readable_after_the_session(db: Database) -> None:
    async with db.session() as s:
        entry = MetaEntry(key="k", value="v")
        s.add(entry)
    assert (entry.key, entry.value) == ("k", "v")  # no expiry, no lazy load after commit


async def test_sqlite_transactions_take_the_write_lock_up_front(tmp_path: Path) -> None:
    """A transaction that has only read already holds the write lock (BEGIN IMMEDIATE), so it
    can never fail later on upgrading a stale read snapshot; other writers wait for it."""
    url = tmp_path / "lock.db"
    await schema.prepare(url)
    async with Database(url) as db, db.engine.connect() as a, db.engine.connect() as b:
        raw = await b.get_raw_connection()
        await raw.driver_connection.execute("PRAGMA busy_timeout=50")  # fail fast, not in 10 s
        await a.execute(text("SELECT count(*) FROM meta"))  # autobegins: BEGIN IMMEDIATE
        with pytest.raises(EnvironmentFaultError, match="stayed locked by another process"):
            await b.execute(text("SELECT 1"))
        await a.rollback()
        assert (await b.execute(text("SELECT 1"))).scalar_one() == 1


async def _commit_mode(db: Database, s: object) -> str:
    """How the session's transaction will commit: SQLite's safety level, PostgreSQL's
    `synchronous_commit`."""
    query = "PRAGMA synchronous" if db.dialect == "sqlite" else "SHOW synchronous_commit"
    value = (await s.execute(text(query))).scalar_one()  # type: ignore[attr-defined]
    return {2: "durable", 1: "lazy", "on": "durable", "off": "lazy"}[value]


async def test_a_lazy_session_commits_without_waiting_for_the_disk_and_only_it(
    db: Database,
) -> None:
    """`durable=False` is one transaction's choice: the sessions before and after it wait for
    the disk again, and what it wrote is committed like any other write."""
    modes = []
    for durable, key in ((True, "a"), (False, "b"), (True, "c"), (False, "d"), (False, "e")):
        async with db.session(durable=durable) as s:
            modes.append(await _commit_mode(db, s))
            s.add(MetaEntry(key=key, value=key))
    async with db.session() as s:
        modes.append(await _commit_mode(db, s))
        mine = select(MetaEntry.key).where(MetaEntry.key != "world")  # the template's world
        keys = (await s.scalars(mine.order_by(MetaEntry.key))).all()
    assert modes == ["durable", "lazy", "durable", "lazy", "lazy", "durable"]
    assert keys == ["a", "b", "c", "d", "e"]


async def test_a_lazy_session_through_aiosqlite_too(tmp_path: Path) -> None:
    url = tmp_path / "aio.db"
    await schema.prepare(url)
    async with Database(url, local_sqlite=False) as db:
        modes = []
        for durable in (False, True, False):
            async with db.session(durable=durable) as s:
                modes.append(await _commit_mode(db, s))
    assert modes == ["lazy", "durable", "lazy"]


async def test_a_reader_takes_no_write_lock_and_cannot_write(db: Database) -> None:
    """The dashboard reads beside a running loop: a read-only transaction, open, must not make
    a writer wait (SQLite: BEGIN DEFERRED), and a write inside it is refused (PostgreSQL: READ
    ONLY; SQLite would take the lock on its first write, which the dashboard never makes)."""
    import asyncio

    async with db.session(read_only=True) as reader:
        assert (await reader.execute(text("SELECT 1"))).scalar_one() == 1

        async def write() -> None:
            async with db.session() as writer:
                writer.add(MetaEntry(key="w", value="1"))

        await asyncio.wait_for(write(), timeout=5)  # not held up by the open reader
    if db.dialect == "postgresql":
        with pytest.raises(EnvironmentFaultError, match="read-only"):
            async with db.session(read_only=True) as reader:
                reader.add(MetaEntry(key="x", value="1"))
    async with db.session(durable=False, read_only=True) as s:
        assert await s.get(MetaEntry, "w") is not None
