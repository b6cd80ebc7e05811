"""Schema versions: upgrade, inspect, and the start-up check.

Alembic is configured here in code (no alembic.ini) and runs on an async engine made like the
application's, so these functions are coroutines and need only the async driver: call them from
the running loop, or with `asyncio.run` from a command.

At start-up `prepare` decides: a brand-new database is migrated to head (there is nothing to
lose); an existing one at another revision is refused with the command that fixes it, because
migrating someone's live journal should be a decision, not a side effect.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text

from solbot.errors import UserError
from solbot.store import world_mark
from solbot.store.db import create_engine
from solbot.worlds import Hints, World

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""Where the revisions live, inside the package, so an installed solbot carries them."""

UPGRADE_HINT = "run `solbot db upgrade`"
_ADVISORY_LOCK_KEY = 0x50_1B_07_5C_4E_4D_41  # arbitrary, fixed: "solbot schema"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic `Config` for the packaged migrations, optionally bound to a connection.

    Also what a developer passes to `alembic.command.revision(cfg, autogenerate=True)`.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this code expects the database to be at."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


async def current_revision(url: str | Path) -> str | None:
    """The database's revision, or None when it has never been migrated (or is empty)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(revision_of)
    finally:
        await engine.dispose()


async def upgrade(
    url: str | Path,
    revision: str = "head",
    *,
    world: World | None = None,
    hints: Hints | None = None,
) -> str:
    """Migrate the database to `revision` (head by default) in one transaction; returns it.

    With `world`, the same transaction records it in a new database and checks it in an existing
    one (`world_mark.claim`): a database of another world is refused before anything changes."""
    engine = create_engine(url, foreign_keys=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_lock)
            _current, empty = await conn.run_sync(_state_of)
            reached = await conn.run_sync(_upgrade, revision)
            if world is not None:
                await conn.run_sync(_claim, world, hints or Hints(str(url)), empty)
            return reached
    finally:
        await engine.dispose()


async def check_current(
    url: str | Path, world: World | None = None, hints: Hints | None = None
) -> None:
    """Raise `UserError` unless the database is exactly at the head revision (and, with
    `world`, belongs to it)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            current = await conn.run_sync(revision_of)
            require_head(current)
            if world is not None:
                await conn.run_sync(_claim, world, hints or Hints(str(url)), False)
    finally:
        await engine.dispose()


async def prepare(url: str | Path, world: World | None = None, hints: Hints | None = None) -> bool:
    """Make sure the database is ready for this code; True if it was created just now.

    A database without any table is migrated to head. One at head is left alone. Anything else
    raises `UserError` naming both revisions and the command to run. With `world`, a new
    database records it and an existing one must belong to it (`world_mark.claim`), in the same
    transaction: nothing is read or written in a database of another world.
    """
    engine = create_engine(url, foreign_keys=False)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_lock)
            current, empty = await conn.run_sync(_state_of)
            if current is None and empty:
                await conn.run_sync(_upgrade, "head")
            else:
                require_head(current)
            if world is not None:
                await conn.run_sync(_claim, world, hints or Hints(str(url)), empty)
            return empty
    finally:
        await engine.dispose()


async def adopt(url: str | Path, world: World, hints: Hints) -> None:
    """Record `world` in a database from before worlds (the operator's word for it): refused
    for a database that is marked already or whose contents say otherwise."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_lock)
            require_head(await conn.run_sync(revision_of))
            await conn.run_sync(world_mark.adopt, world, hints)
    finally:
        await engine.dispose()


def _claim(conn: Connection, world: World, hints: Hints, fresh: bool) -> None:
    world_mark.claim(conn, world, hints, fresh=fresh)


def _lock(conn: Connection) -> None:
    """Serialise schema changes between processes starting at the same time.

    SQLite needs nothing more: every transaction begins IMMEDIATE, holding the write lock.
    PostgreSQL gets a transaction-scoped advisory lock, released at commit or rollback.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})


def revision_of(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _state_of(conn: Connection) -> tuple[str | None, bool]:
    tables = inspect(conn).get_table_names()
    return revision_of(conn), not tables


def _upgrade(conn: Connection, revision: str) -> str:
    try:
        command.upgrade(alembic_config(conn), revision)
    except CommandError as exc:
        raise UserError(f"cannot upgrade the database: {exc}") from None
    if conn.dialect.name == "sqlite":
        # Foreign keys were not enforced while tables were rebuilt; check before committing.
        broken = conn.execute(text("PRAGMA foreign_key_check")).fetchall()
        if broken:
            raise RuntimeError(f"migration left rows with dangling foreign keys: {broken[:5]}")
    current = revision_of(conn)
    if current is None:
        raise RuntimeError("the migration finished without recording a revision")
    return current


def require_head(current: str | None) -> None:
    """Raise `UserError` unless `current` is the revision this code needs."""
    head = head_revision()
    if current == head:
        return
    scripts = ScriptDirectory.from_config(alembic_config())
    if current is not None and not _known(scripts, current):
        raise UserError(
            f"database schema is at {current}, which this version of solbot does not know "
            f"(it needs {head}); the database was written by a newer solbot: upgrade solbot"
        )
    shown = current if current is not None else "base (no solbot schema)"
    raise UserError(f"database schema is at {shown}, the code needs {head}; {UPGRADE_HINT}")


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False
