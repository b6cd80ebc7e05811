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

# What each failure means, as a template over: {path} (SQLite's file), {server} (host:port),
# {database} (PostgreSQL's database), {detail} (the driver's first line), {wait} (seconds).
_OTHER_DATA_DIR = "or choose another data dir (SOLBOT_DATA_DIR) or DATABASE_URL"
_SQLITE = (  # by SQLite's error name, primary or extended (`SQLITE_READONLY_DIRECTORY`...)
    (
        ("SQLITE_BUSY",),
        "the database {path} stayed locked by another process for {wait} s: stop the other "
        "solbot command (or whatever holds it) and try again",
    ),
    (
        ("SQLITE_FULL",),
        "the database {path} is full (disk full or its size limit reached): free space on its "
        "disk and try again",
    ),
    (
        ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH"),
        "the database {path} is read-only: make the file and its folder writable by solbot's "
        "user (SQLite writes -wal and -shm files next to it), " + _OTHER_DATA_DIR,
    ),
    (
        ("SQLITE_CANTOPEN",),
        "cannot open the database {path}: its folder must exist and be writable by solbot's "
        "user; " + _OTHER_DATA_DIR,
    ),
    (
        ("SQLITE_NOTADB", "SQLITE_CORRUPT"),
        "{path} is not a readable SQLite database ({detail}): point SOLBOT_DATA_DIR or "
        "DATABASE_URL at solbot's database, or restore a backup",
    ),
    (("SQLITE_IOERR",), "disk I/O error on the database {path} ({detail}): check the disk"),
)
_POSTGRES = {  # by SQLSTATE
    "55P03": "waited {wait} s for a lock in the database {database} on {server} that another "
    "session holds: end that session (see pg_stat_activity) and try again",  # lock_timeout
    "3D000": "PostgreSQL at {server} has no database '{database}': create it (createdb "
    "{database}) or fix DATABASE_URL",
    "28000": "PostgreSQL at {server} refused the login ({detail}): fix the user or password in "
    "DATABASE_URL",  # no such role
    "42501": "PostgreSQL at {server}: {detail}; grant solbot's role the rights on database "
    "{database} or use its owner in DATABASE_URL",
    "53100": "PostgreSQL at {server}: {detail}; free space on the server",  # disk full
    "53300": "PostgreSQL at {server} has no free connection ({detail}): stop idle clients or "
    "raise max_connections",
    "57P01": "PostgreSQL at {server} is not available ({detail}): start it or wait until it "
    "accepts connections",  # shutting down
    "25006": "PostgreSQL at {server} is read-only (a standby?): point DATABASE_URL at the primary",
}
_POSTGRES_ALIKE = {"28P01": "28000", "53200": "53100", "57P02": "57P01", "57P03": "57P01"}
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
    for names, template in _SQLITE:
        if name.startswith(names):
            return _fault(template, url, exc)
    return None


def _postgres_problem(state: str, url: URL, exc: BaseException) -> EnvironmentFaultError | None:
    template = _POSTGRES.get(_POSTGRES_ALIKE.get(state, state))
    if template is None and state.startswith(_CONNECTION_CLASS):
        template = "lost the connection to PostgreSQL at {server} ({detail}): check the server"
    return None if template is None else _fault(template, url, exc)


def _fault(template: str, url: URL, exc: BaseException) -> EnvironmentFaultError:
    return EnvironmentFaultError(
        template.format(
            path=url.database or "?",
            database=url.database,
            server=_server(url),
            detail=_first_line(exc),
            wait=f"{LOCK_WAIT_SECONDS:g}",
        )
    )


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
