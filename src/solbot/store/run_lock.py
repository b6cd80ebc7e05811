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

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import socket
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from solbot.errors import EnvironmentFaultError, UserError
from solbot.private_files import private_dir
from solbot.store.db import async_url, create_engine

KEY = 0x50_1B_07_B0_7B_07  # the advisory lock id of "a bot runs here" (PostgreSQL)
SUFFIX = ".run.lock"
TAKEN = "this database is in use by {holder}"
UNKNOWN = "another solbot process"
LOOK_SECONDS = 5.0  # the longest a look at the lock's connection may take (a half-open TCP)
UNSURE_LOOKS = 3  # looks in a row that could not reach the lock: the run stops

log = logging.getLogger(__name__)


def holder_name(what: str = "solbot run") -> str:
    """How a holder names itself: what it is, its pid and host, and a tag of this machine's
    boot (`_orphaned`: a holder of this boot whose process is gone, or which is this very
    process, holds the lock through a connection nobody uses any more)."""
    tag = f" [{_boot_tag()}]" if _boot_tag() else ""
    return f"{what}, pid {os.getpid()} on {socket.gethostname()[:20]}{tag}"[:63]


def _boot_tag() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""


_NAMED = re.compile(r", pid (\d+) on .* \[([0-9a-f]{8})\]$")


def _orphaned(name: str) -> bool:
    """`name` is this machine's, this boot's, and its process is gone."""
    found = _NAMED.search(name)
    if found is None or found.group(2) != _boot_tag():
        return False
    pid = int(found.group(1))
    if pid == os.getpid():
        return False  # this process: only `still_held` knows which of its sessions is stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


class RunLock:
    """Held from `acquire` until `release` (or the process's end)."""

    async def still_held(self) -> None:
        """Nothing if this process still holds the lock; `EnvironmentFaultError` if another
        bot took it (this one must stop trading at once)."""

    async def release(self) -> None:
        """Free the lock (the process's end frees it too)."""


async def acquire(url: str, *, what: str = "solbot run", doing: str = "") -> RunLock:
    """The lock on `url`'s database for this process (`what` names it to a refused other);
    `UserError` naming the holder when another process has it. `doing` ends the refusal's
    line (what to do first)."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() == "sqlite":
        return _FileLock.acquire(Path(parsed.database or ""), what, doing)
    return await _AdvisoryLock.acquire(url, what, doing)


def _refusal(holder: str, doing: str) -> UserError:
    return UserError(
        TAKEN.format(holder=holder or UNKNOWN)
        + (doing or ": stop it first; two bots on one database would both trade every user")
    )


class _FileLock(RunLock):
    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, database: Path, what: str, doing: str) -> _FileLock:
        real = database.resolve()  # one file, one lock: whichever link or path names it
        path = private_dir(real.parent) / (real.name + SUFFIX)
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
        os.pwrite(fd, holder_name(what).encode() + b"\n", 0)
        return cls(fd)

    async def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class _AdvisoryLock(RunLock):
    def __init__(self, engine: AsyncEngine, conn: AsyncConnection, what: str) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = conn
        self._what = what
        self._backend: int | None = None  # the server session holding it for us
        self._unsure = 0  # looks in a row that could not reach the database

    async def _note_backend(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(LOOK_SECONDS):
                    self._backend = await self._conn.scalar(text("SELECT pg_backend_pid()"))

    @classmethod
    async def acquire(cls, url: str, what: str, doing: str) -> _AdvisoryLock:
        engine = create_engine(url, poolclass=NullPool)
        try:
            conn = await _take_or_orphan(engine, what)
            if conn is None:
                raise _refusal((await _holder(engine))[0], doing)
        except BaseException:
            await engine.dispose()
            raise
        made = cls(engine, conn, what)
        await made._note_backend()
        return made

    async def still_held(self) -> None:
        """The lock lives as long as its connection: a look at the connection, and if it
        dropped, the lock taken again on a new one. Another holder by then: this run stops.
        The database out of reach for `UNSURE_LOOKS` looks in a row: this run stops too (it
        cannot know that no other bot started meanwhile)."""
        if self._conn is not None:
            try:
                async with asyncio.timeout(LOOK_SECONDS):
                    await self._conn.execute(text("SELECT 1"))
                self._unsure = 0
                return
            except Exception:  # the connection is gone, and the lock with it
                await self._drop()
        try:
            async with asyncio.timeout(LOOK_SECONDS):
                self._conn = await _take_or_orphan(self._engine, self._what, self._backend)
        except Exception as exc:
            self._unsure += 1
            log.warning(
                "the run lock's connection dropped and cannot be made again (%s); look %d of %d",
                type(exc).__name__,
                self._unsure,
                UNSURE_LOOKS,
            )
            if self._unsure >= UNSURE_LOOKS:
                raise EnvironmentFaultError(
                    "this run lost its lock on the database and could not take it again in "
                    f"{UNSURE_LOOKS} looks: it stops rather than trade beside another bot; "
                    "check that PostgreSQL is reachable, then start it again"
                ) from None
            return
        if self._conn is None:
            raise EnvironmentFaultError(
                TAKEN.format(holder=(await _holder(self._engine))[0] or UNKNOWN)
                + " since this run lost its connection to it: this run stops; one bot per "
                "database"
            )
        self._unsure = 0
        await self._note_backend()
        log.warning("the run lock's connection dropped; the lock is taken again")

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await _let_go(conn)

    async def release(self) -> None:
        """Within seconds whatever the network does (a stop must not wait on a half-open
        TCP): the server frees the lock with the connection in any case."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(LOOK_SECONDS):
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": KEY})
            await _let_go(conn)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(LOOK_SECONDS):
                await self._engine.dispose()


async def _let_go(conn: AsyncConnection) -> None:
    """Close `conn` within seconds; one that will not close (dead, half-open) is thrown away."""
    try:
        async with asyncio.timeout(LOOK_SECONDS):
            await conn.close()
    except Exception:
        with contextlib.suppress(Exception):
            await conn.invalidate()
        with contextlib.suppress(Exception):
            await conn.close()


async def _take_or_orphan(
    engine: AsyncEngine, what: str, stale: int | None = None
) -> AsyncConnection | None:
    """`_take`; and if the holder is an orphan (its server session outlived the connection's
    other end: a session of a process of this boot that is gone (`_orphaned`), or `stale`,
    this process's own session it lost), that session ended and the lock taken."""
    conn = await _take(engine, what)
    if conn is not None:
        return conn
    name, backend = await _holder(engine)
    if backend is None or not (backend == stale or _orphaned(name)):
        return None
    log.warning("the run lock is held by a session nobody uses (%s): ending it", name)
    async with engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
    for _ in range(20):  # the server lets the lock go as the session ends
        await asyncio.sleep(0.1)
        conn = await _take(engine, what)
        if conn is not None:
            return conn
    return None


async def _take(engine: AsyncEngine, what: str) -> AsyncConnection | None:
    """A connection holding the lock, or None when another session holds it. The connection
    sits idle between ticks: the server must not end it for that (`idle_session_timeout`),
    and must notice within a minute a peer that vanished without closing it (a power cut, a
    cable: keepalives), or it would hold the lock for hours."""
    conn = await engine.connect()
    try:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            text("SELECT set_config('application_name', :n, false)"), {"n": holder_name(what)}
        )
        await conn.execute(  # PostgreSQL 14 and later have it
            text(
                "SELECT set_config('idle_session_timeout', '0', false) "
                "WHERE current_setting('server_version_num')::int >= 140000"
            )
        )
        await conn.execute(
            text(
                "SELECT set_config('tcp_keepalives_idle', '20', false), "
                "set_config('tcp_keepalives_interval', '5', false), "
                "set_config('tcp_keepalives_count', '4', false)"
            )
        )
        if await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": KEY}):
            return conn
    except BaseException:
        await conn.close()
        raise
    await conn.close()
    return None


async def _holder(engine: AsyncEngine) -> tuple[str, int | None]:
    """Who holds the lock, as its connection says, and its server session (best effort:
    ('', None) if unknown)."""
    query = text(
        "SELECT a.application_name, a.pid FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo "
        "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())"
    )
    try:
        async with engine.connect() as conn:
            found = (await conn.execute(query, {"hi": KEY >> 32, "lo": KEY & 0xFFFFFFFF})).first()
    except Exception:
        return "", None
    if found is None:
        return "", None
    return str(found[0] or ""), int(found[1])
