"""The database handle: one async engine, SQLite made safe, one transaction per `session()`.

SQLite settings and why:
- WAL: readers do not block the writer and the writer does not block readers.
- synchronous=FULL: a commit is on disk before it returns. The journal's promise (the signature
  is stored before the transaction is sent) must survive a power cut, not only a process crash.
  A session opened with `durable=False` commits with synchronous=NORMAL instead (no fsync of
  its own; see `Database.session`).
- foreign_keys=ON: SQLite ignores foreign keys unless asked, per connection.
- busy_timeout: a second writer waits for the lock instead of failing at once; when the wait
  ends, the operator reads one line (`store.failures`). PostgreSQL waits as long for a lock
  (`lock_timeout`) and `CONNECT_TIMEOUT_SECONDS` for a connection, so a locked table or a
  server that never answers ends in one line too, never in a hang.
- BEGIN IMMEDIATE for every transaction: the write lock is taken at the start, so a
  transaction that reads and then writes cannot fail halfway with "database is locked" (SQLite
  cannot upgrade a stale WAL read snapshot to a write; it gives up without waiting). Python's
  sqlite3 would otherwise not begin a transaction before a SELECT or DDL at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from solbot.errors import UserError
from solbot.private_files import private_file
from solbot.store import failures

_LAZY_COMMIT = "solbot_lazy_commit"  # execution option of a `durable=False` session
_READ_ONLY = "solbot_read_only"  # execution option of a `read_only=True` session
_SYNCHRONOUS = "solbot_synchronous"  # a SQLite connection's current safety level
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
_ASYNC_POSTGRES_DRIVERS = ("postgresql+asyncpg", "postgresql+psycopg")


def async_url(url: str | Path) -> str:
    """The async driver URL for what an operator may write.

    A bare path or `sqlite:///path` becomes `sqlite+aiosqlite:///path`; `postgresql://` and
    `postgres://` (or a sync driver) become `postgresql+asyncpg://`; asyncpg and psycopg (3) are
    kept. In-memory
    SQLite is refused: each connection would see its own empty database, and the migrations
    would vanish with theirs.
    """
    text = str(url)
    if "://" not in text:
        if not text.strip():
            raise UserError("the database URL is empty; give a file path or a URL")
        text = f"sqlite:///{text}"
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise UserError(f"cannot parse the database URL {_redact(text)!r}") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or ":memory:" in database or "mode=memory" in text:
            raise UserError("an in-memory SQLite database would not persist; give a file path")
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        if parsed.drivername not in _ASYNC_POSTGRES_DRIVERS:
            parsed = parsed.set(drivername="postgresql+asyncpg")
        return parsed.render_as_string(hide_password=False)
    raise UserError(f"unsupported database {backend!r}: use a SQLite path or a postgresql:// URL")


def sqlite_path(url: str | Path) -> Path | None:
    """The file of a SQLite URL (None for another database)."""
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def shown_url(url: str | Path) -> str:
    """A database as the operator may see it: a SQLite file's path, else the URL without its
    password."""
    path = sqlite_path(url)
    return str(path) if path is not None else _redact(async_url(url))


def _redact(text: str) -> str:
    try:
        return make_url(text).render_as_string(hide_password=True)
    except ArgumentError:
        return text.split("@")[-1]


def create_engine(url: str | Path, *, foreign_keys: bool = True, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url` with the SQLite settings above.

    `foreign_keys=False` is for migrations only: SQLite rebuilds a table to alter it, and with
    enforcement on, dropping the old copy would cascade or fail (SQLite's own advice is to turn
    enforcement off and run `PRAGMA foreign_key_check` before committing, which `schema` does).
    """
    target = async_url(url)
    parsed = make_url(target)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        _private_sqlite_files(Path(parsed.database))
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {
            **postgres_connect_args(parsed.drivername),
            **kwargs.get("connect_args", {}),
        }
    try:
        engine = create_async_engine(target, **kwargs)
    except (ModuleNotFoundError, NoSuchModuleError) as exc:
        raise UserError(
            f"the database driver for {parsed.drivername} is not installed ({exc}); "
            "PostgreSQL needs the asyncpg package"
        ) from None
    failures.explain_failures(engine.sync_engine)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, foreign_keys=foreign_keys)
    return engine


def postgres_connect_args(drivername: str) -> dict[str, Any]:
    """Every PostgreSQL connection gives up connecting after `failures.CONNECT_TIMEOUT_SECONDS`
    and waiting for a lock after `failures.LOCK_WAIT_SECONDS` (SQLite's busy timeout), in the
    driver's terms."""
    connect = failures.CONNECT_TIMEOUT_SECONDS
    lock_timeout = str(_lock_wait_ms())
    if drivername == "postgresql+psycopg":
        return {
            "connect_timeout": max(1, round(connect)),
            "options": f"-c lock_timeout={lock_timeout}",
        }
    return {"timeout": connect, "server_settings": {"lock_timeout": lock_timeout}}


def _lock_wait_ms() -> int:
    return max(1, round(failures.LOCK_WAIT_SECONDS * 1000))


def _private_sqlite_files(database: Path) -> None:
    """The database file made (or kept) 0600 in private folders before SQLite opens it:
    SQLite would create it 0644 under the usual umask, and gives its `-wal` and `-shm` files
    the database's mode. Companions left by an older version are tightened too."""
    private_file(database)
    for suffix in _SQLITE_COMPANIONS:
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            private_file(companion)


def _local_engine(url: str) -> Engine:
    """The synchronous SQLite engine behind `LocalSession`, with the same settings."""
    parsed = make_url(url).set(drivername="sqlite+pysqlite")
    engine = sa_create_engine(parsed)
    failures.explain_failures(engine)
    _configure_sqlite_sync(engine, foreign_keys=True)
    return engine


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    _configure_sqlite_sync(engine.sync_engine, foreign_keys=foreign_keys)


def _configure_sqlite_sync(engine: Engine, *, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Take transaction control away from the driver; `_on_begin` emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout={_lock_wait_ms()}")
        finally:
            cursor.close()
        record.info[_SYNCHRONOUS] = "FULL"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # The safety level cannot change inside a transaction: set it first, when it differs.
        wanted = "NORMAL" if conn.get_execution_options().get(_LAZY_COMMIT) else "FULL"
        if conn.info.get(_SYNCHRONOUS) != wanted:
            conn.exec_driver_sql(f"PRAGMA synchronous={wanted}")
            conn.info[_SYNCHRONOUS] = wanted
        # A reader takes no write lock (BEGIN DEFERRED): the dashboard's reads never make the
        # loop's writes wait; a writer takes it at once, so it never fails half-way on a lock.
        read_only = conn.get_execution_options().get(_READ_ONLY)
        conn.exec_driver_sql("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")


class LocalSession:
    """The async session interface the repositories use, over a synchronous SQLite session.

    Why: on SQLite, aiosqlite runs every statement on a worker thread and wakes the event loop
    for its result. Measured on this project's machines, that hop and SQLAlchemy's async
    plumbing cost ~0.5 ms a statement and ~2 ms a commit, against ~0.05 ms and ~0.7 ms
    (fsync included) for the same statements on the loop's own thread; the journal writes a
    few statements per order, so the hop was most of an order's cost. SQLite work is local and
    short, so running it on the loop's thread only ever blocks the loop for about a millisecond.
    The transactions, statements and locks are exactly the same. PostgreSQL, a network peer,
    keeps the truly asynchronous driver.

    The rule that comes with it (and held before, for SQLite's single writer): inside a
    `session()` block, await nothing but the session and the repositories built on it. A
    block that awaited the network while holding SQLite's write lock would make every other
    writer wait for it; here it would stall the loop.
    """

    def __init__(self, session: Session) -> None:
        self.sync_session = session

    async def execute(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return self.sync_session.execute(statement, params, **kwargs)

    async def scalars(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return self.sync_session.scalars(statement, params, **kwargs)

    async def scalar(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        return self.sync_session.scalar(statement, params, **kwargs)

    async def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        return self.sync_session.get(entity, ident, **kwargs)

    def add(self, instance: object) -> None:
        self.sync_session.add(instance)

    def add_all(self, instances: Any) -> None:
        self.sync_session.add_all(instances)

    async def flush(self) -> None:
        self.sync_session.flush()

    def get_bind(self) -> Any:
        return self.sync_session.get_bind()

    async def stream_scalars(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        """Rows as an async iterator, fetched `yield_per` at a time (an export of every trade).
        It never yields to the event loop: this session holds a pooled connection, and a
        coroutine waiting for one blocks the loop's thread (`LocalSession`'s rule)."""
        return _Batched(self.sync_session.scalars(statement, params, **kwargs))

    @asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[Any]:
        with self.sync_session.begin_nested() as nested:
            yield nested


class _Batched:
    def __init__(self, rows: Any) -> None:
        self.rows = rows

    async def __aiter__(self) -> AsyncIterator[Any]:
        for batch in self.rows.partitions():
            for row in batch:
                yield row


class Database:
    """The application's database: `async with db.session() as s:` is one transaction.

    The session commits when the block ends normally and rolls back when it raises. Objects stay
    usable after the commit (`expire_on_commit=False`), so a row returned by a repository can be
    read outside the block without another query. On SQLite the session is a `LocalSession`
    (see there); on PostgreSQL an `AsyncSession` over asyncpg. Both offer the same calls.
    """

    def __init__(self, url: str | Path, *, local_sqlite: bool = True, **engine_kwargs: Any) -> None:
        """`local_sqlite=False` keeps SQLite on aiosqlite too (benchmarks compare the two)."""
        self.url = async_url(url)
        self.engine = create_engine(self.url, **engine_kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._local: sessionmaker[Session] | None = None
        if self.engine.dialect.name == "sqlite" and local_sqlite:
            self._local = sessionmaker(_local_engine(self.url), expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(
        self, *, durable: bool = True, read_only: bool = False
    ) -> AsyncIterator[AsyncSession]:
        """One transaction. `durable=False` lets its commit return before it is on disk: no
        fsync of its own on SQLite (synchronous=NORMAL; WAL order still holds, so the next
        durable commit carries it to disk), `synchronous_commit` off on PostgreSQL. Only for
        writes whose loss in a power cut the journal already survives: it costs nothing after
        a process crash, and it never corrupts anything. `read_only`: a transaction that only
        reads (the dashboard's): no write lock on SQLite, and PostgreSQL refuses a write in it."""
        options = {_LAZY_COMMIT: True} if not durable else {}
        if read_only:
            options[_READ_ONLY] = True
        if self._local is not None:
            with self._local() as local, local.begin():
                if options:
                    local.connection(execution_options=options)
                yield cast(AsyncSession, LocalSession(local))
            return
        async with self._sessions() as session, session.begin():
            if self.dialect == "postgresql":
                if not durable:
                    await session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                if read_only:
                    await session.execute(text("SET TRANSACTION READ ONLY"))
            elif options:
                await session.connection(execution_options=options)
            yield session

    async def dispose(self) -> None:
        """Close every pooled connection (call once, at shutdown)."""
        if self._local is not None:
            bind = self._local.kw.get("bind")
            if bind is not None:
                bind.dispose()
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.dispose()

    @property
    def safe_url(self) -> str:
        """The URL with any password masked: what may be printed or logged."""
        return make_url(self.url).render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"Database({self.safe_url!r})"
