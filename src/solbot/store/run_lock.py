"""One bot per database: `solbot run` holds this lock for its whole life.

Two bots on one database would each read every user, each see the same closed candle and
each send the same entry: a trade executed twice, with real money. The embedded sim's lock
(`sim.lock`) stopped that only where the two shared a sim world; a served sim, devnet or
mainnet had nothing. So the database itself says who runs on it:

- SQLite: an exclusive `flock` on `<database file>.run.lock` (0600), which names its holder.
  The kernel frees it when the process ends, even by SIGKILL.
- PostgreSQL: a session-level advisory lock held on a connection of its own (autocommit: it
  holds no transaction open). The server frees it when that connection ends, which is when
  the process ends, even by SIGKILL. The connection carries the holder's name
  (`application_name`), which a refused second run reads. A connection that drops while the
  run goes on loses the lock: `still_held` (at every tick) takes it again, and if another
  run took it in between, this one must stop.

`solbot db upgrade` takes the lock too: a schema must not change under a running bot.
Several workers on one PostgreSQL database are a mode of their own (issue 16), not two of
these."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from solbot.errors import EnvironmentFaultError, UserError
from solbot.store.db import async_url, create_engine

KEY = 0x50_1B_07_B0_7B_07  # the advisory lock id of "a bot runs here" (PostgreSQL)
SUFFIX = ".run.lock"
TAKEN = "this database is in use by another `solbot run` ({holder})"


def holder_name() -> str:
    return f"solbot run, pid {os.getpid()} on {socket.gethostname()}"[:63]


class RunLock:
    """Held from `acquire` until `release` (or the process's end)."""

    async def still_held(self) -> None:
        """Nothing if this process still holds the lock; `EnvironmentFaultError` if another
        bot took it (this one must stop trading at once)."""

    async def release(self) -> None:
        """Free the lock (the process's end frees it too)."""


async def acquire(url: str, *, doing: str = "") -> RunLock:
    """The lock on `url`'s database for this process; `UserError` naming the holder when
    another process has it. `doing` ends the refusal's line (what to do first)."""
    backend = make_url(async_url(url)).get_backend_name()
    if backend == "sqlite":
        return _FileLock.acquire(Path(make_url(async_url(url)).database or ""), doing)
    return await _AdvisoryLock.acquire(url, doing)


def _refusal(holder: str, doing: str) -> UserError:
    return UserError(
        TAKEN.format(holder=holder or "its holder did not say who it is")
        + (doing or ": stop it first; two bots on one database would both trade every user")
    )


class _FileLock(RunLock):
    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, database: Path, doing: str) -> _FileLock:
        path = database.with_name(database.name + SUFFIX)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            raise _refusal(holder, doing) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder_name().encode() + b"\n", 0)
        return cls(fd)

    async def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class _AdvisoryLock(RunLock):
    def __init__(self, engine: AsyncEngine, conn: AsyncConnection, url: str) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = conn
        self._url = url

    @classmethod
    async def acquire(cls, url: str, doing: str) -> _AdvisoryLock:
        engine = create_engine(url, poolclass=NullPool)
        try:
            conn = await _take(engine)
            if conn is None:
                raise _refusal(await _holder(engine), doing)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, conn, url)

    async def still_held(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return
            except Exception:  # the connection is gone, and the lock with it
                with contextlib.suppress(Exception):
                    await self._conn.close()
                self._conn = None
        try:
            self._conn = await _take(self._engine)
        except Exception:  # the database is unreachable: so is it for any other bot
            return
        if self._conn is None:
            raise EnvironmentFaultError(
                TAKEN.format(holder=await _holder(self._engine))
                + " since this run lost its connection to it: this run stops; one bot per "
                "database"
            )

    async def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": KEY})
                await self._conn.close()
            self._conn = None
        await self._engine.dispose()


async def _take(engine: AsyncEngine) -> AsyncConnection | None:
    """A connection holding the lock, or None when another session holds it."""
    conn = await engine.connect()
    try:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            text("SELECT set_config('application_name', :n, false)"), {"n": holder_name()}
        )
        if await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": KEY}):
            return conn
    except BaseException:
        await conn.close()
        raise
    await conn.close()
    return None


async def _holder(engine: AsyncEngine) -> str:
    """Who holds the lock, as its connection says (best effort: '' if unknown)."""
    query = text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo "
        "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())"
    )
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(query, {"hi": KEY >> 32, "lo": KEY & 0xFFFFFFFF})
    except Exception:
        return ""
    return str(found or "")
