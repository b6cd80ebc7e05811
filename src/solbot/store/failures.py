"""What a database failure means for the operator, in one line.

A database can fail for reasons that are nobody's bug: the PostgreSQL server is down or
unreachable, the database or the role does not exist, another process holds a lock for longer
than we wait, the disk is full, the file or its folder is read-only, the file is not a database.
Each is an `EnvironmentFaultError` naming what to fix. Every other error (a constraint violated,
a syntax error, a missing table) is a bug or a race the code handles, and stays as it was.

`explain_failures` installs the translation on an engine, so every user of the database (the
sessions, the migrations, backups) gets it at once: SQLAlchemy's `handle_error` event for what
the driver raises, and `do_connect` for the network errors a driver raises as plain `OSError`
while connecting (SQLAlchemy passes those through untouched).
"""

from __future__ import annotations

import errno
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, ExceptionContext

from solbot.errors import EnvironmentFaultError

LOCK_WAIT_SECONDS = 10.0
"""How long a transaction waits for another one's lock before giving up: SQLite's busy timeout
and PostgreSQL's `lock_timeout`. Long enough for any of our own transactions to finish (they
never wait on the network while holding a lock), short enough that a stuck holder is reported."""

CONNECT_TIMEOUT_SECONDS = 10.0
"""How long to wait for PostgreSQL to accept a connection and log us in."""

_SQLITE_BUSY = ("SQLITE_BUSY",)
_SQLITE_FULL = ("SQLITE_FULL",)
_SQLITE_READ_ONLY = ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")
_SQLITE_CANNOT_OPEN = ("SQLITE_CANTOPEN",)
_SQLITE_NOT_A_DATABASE = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
_SQLITE_IO = ("SQLITE_IOERR",)
_CONNECTION_CLASS = "08"  # PostgreSQL SQLSTATE class "connection exception"


def explain_failures(engine: Engine) -> None:
    """Turn the operator's database problems into `EnvironmentFaultError` on `engine` (a sync
    engine, or an async engine's `sync_engine`)."""
    url = engine.url

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:  # refused, unreachable, no such host, timed out
            raise _unreachable(url, exc) from exc

    @event.listens_for(engine, "handle_error")
    def _explain(context: ExceptionContext) -> BaseException | None:
        return problem_of(context.original_exception, url)


def problem_of(exc: BaseException, url: URL) -> EnvironmentFaultError | None:
    """The operator's problem behind a driver's exception, or None if it is not one."""
    if isinstance(exc, OSError):
        return _unreachable(url, exc) if url.get_backend_name() != "sqlite" else None
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        return _sqlite_problem(name, url, exc)
    state = _sqlstate(exc)
    if state is not None:
        return _postgres_problem(state, url, exc)
    return None


def _sqlite_problem(name: str, url: URL, exc: BaseException) -> EnvironmentFaultError | None:
    path = url.database or "?"
    if name.startswith(_SQLITE_BUSY):
        return EnvironmentFaultError(
            f"the database {path} stayed locked by another process for {LOCK_WAIT_SECONDS:g} s: "
            "stop the other solbot command (or whatever holds it) and try again"
        )
    if name.startswith(_SQLITE_FULL):
        return EnvironmentFaultError(
            f"the database {path} is full (disk full or its size limit reached): free space "
            "on its disk and try again"
        )
    if name.startswith(_SQLITE_READ_ONLY):
        return EnvironmentFaultError(
            f"the database {path} is read-only: make the file and its folder writable by "
            "solbot's user (SQLite writes -wal and -shm files next to it), or choose another "
            "data dir (SOLBOT_DATA_DIR) or DATABASE_URL"
        )
    if name.startswith(_SQLITE_CANNOT_OPEN):
        return EnvironmentFaultError(
            f"cannot open the database {path}: its folder must exist and be writable by "
            "solbot's user; or choose another data dir (SOLBOT_DATA_DIR) or DATABASE_URL"
        )
    if name.startswith(_SQLITE_NOT_A_DATABASE):
        return EnvironmentFaultError(
            f"{path} is not a readable SQLite database ({_first_line(exc)}): point "
            "SOLBOT_DATA_DIR or DATABASE_URL at solbot's database, or restore a backup"
        )
    if name.startswith(_SQLITE_IO):
        return EnvironmentFaultError(
            f"disk I/O error on the database {path} ({_first_line(exc)}): check the disk"
        )
    return None


def _postgres_problem(state: str, url: URL, exc: BaseException) -> EnvironmentFaultError | None:
    server = _server(url)
    detail = _first_line(exc)
    if state == "55P03":  # lock_not_available: lock_timeout expired
        return EnvironmentFaultError(
            f"waited {LOCK_WAIT_SECONDS:g} s for a lock in the database {url.database} on "
            f"{server} that another session holds: end that session (see pg_stat_activity) "
            "and try again"
        )
    if state == "3D000":  # invalid_catalog_name
        return EnvironmentFaultError(
            f"PostgreSQL at {server} has no database {url.database!r}: create it (createdb "
            f"{url.database}) or fix DATABASE_URL"
        )
    if state in ("28000", "28P01"):  # authorization: no such role, wrong password
        return EnvironmentFaultError(
            f"PostgreSQL at {server} refused the login ({detail}): fix the user or password "
            "in DATABASE_URL"
        )
    if state == "42501":  # insufficient_privilege
        return EnvironmentFaultError(
            f"PostgreSQL at {server}: {detail}; grant solbot's role the rights on database "
            f"{url.database} or use its owner in DATABASE_URL"
        )
    if state in ("53100", "53200"):  # disk_full, out_of_memory
        return EnvironmentFaultError(f"PostgreSQL at {server}: {detail}; free space on the server")
    if state == "53300":  # too_many_connections
        return EnvironmentFaultError(
            f"PostgreSQL at {server} has no free connection ({detail}): stop idle clients or "
            "raise max_connections"
        )
    if state in ("57P01", "57P02", "57P03"):  # shut down, crashed, starting
        return EnvironmentFaultError(
            f"PostgreSQL at {server} is not available ({detail}): start it or wait until it "
            "accepts connections"
        )
    if state == "25006":  # read_only_sql_transaction: a standby
        return EnvironmentFaultError(
            f"PostgreSQL at {server} is read-only (a standby?): point DATABASE_URL at the primary"
        )
    if state.startswith(_CONNECTION_CLASS):
        return EnvironmentFaultError(
            f"lost the connection to PostgreSQL at {server} ({detail}): check the server"
        )
    return None


def _unreachable(url: URL, exc: OSError) -> EnvironmentFaultError:
    server = _server(url)
    if isinstance(exc, TimeoutError):
        why = f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
    elif exc.errno == errno.ECONNREFUSED or isinstance(exc, ConnectionRefusedError):
        why = "connection refused"
    else:
        why = exc.strerror or _first_line(exc)
    return EnvironmentFaultError(
        f"cannot reach PostgreSQL at {server} ({why}): is the server running? check DATABASE_URL"
    )


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL driver error (asyncpg's adapted errors carry it, and so
    does the asyncpg error behind them; psycopg's carry `sqlstate` too)."""
    for candidate in (exc, exc.__cause__):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str) and len(state) == 5:
            return state
    return None


def _server(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
