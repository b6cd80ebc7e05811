"""Structured logs: one JSON object per line, so `jq` and log shippers read them as they are.

Each line has `time` (ISO-8601 UTC, the wall clock), `level`, `logger` and `message`, plus
`error` with the exception's type and message when one is attached (not the traceback's locals:
tracebacks can carry values such as request bodies). On a simulated clock (the sim, a run at
`--speed`), `bot_time` is the bot's own time, the one its candles, orders and events carry:
the CLI hands the clock over once the bot has one (`use_bot_clock`). Every line passes
`RedactSecrets`, which masks anything shaped like a private or master key that reached a message
by accident.

The file is private (0600 in 0700 folders, whatever the umask: `private_files`) and works with
logrotate without `copytruncate`: a log that was moved or deleted is noticed before the next
line and a new one is made, and SIGHUP (logrotate's `postrotate`) makes the process open its
log again in any case (`reopen_on_hangup`).
"""

from __future__ import annotations

import io
import json
import logging
import logging.handlers
import signal
from datetime import UTC, datetime
from pathlib import Path

from solbot.clock import Clock
from solbot.private_files import private_file
from solbot.wallet.redact import RedactSecrets

NOISY = ("httpx", "httpx2", "alembic", "sqlalchemy")  # httpx2: solana-py's transport
_SAME_TIME = 1.0  # seconds: a bot clock this close to the wall's adds nothing to a line


class JsonLines(logging.Formatter):
    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__()
        self.clock = clock  # the bot's clock, when it may differ from the wall's

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": _iso(record.created)}
        if self.clock is not None:
            bot = self.clock.now()
            if abs(bot - record.created) >= _SAME_TIME:
                line["bot_time"] = _iso(bot)
        line |= {
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            line["error"] = f"{type(exc).__name__}: {exc}"
        return json.dumps(line, ensure_ascii=False)


class PrivateLogFile(logging.handlers.WatchedFileHandler):
    """Appends to a log file that is 0600 in 0700 folders whatever the umask, also each time it
    is opened again. Before each line it checks that the path is still the file it has open
    (`WatchedFileHandler`: logrotate moved it away, someone deleted it) and opens the path
    again if not; after `request_reopen` (SIGHUP) it opens it again in any case, at the next
    line, under the handler's lock. `delay`: the file is made only by a first line."""

    def __init__(self, path: Path, *, delay: bool = False) -> None:
        self._reopen = False
        super().__init__(path, encoding="utf-8", delay=delay)

    def _open(self) -> io.TextIOWrapper:
        private_file(self.baseFilename)
        return super()._open()

    def request_reopen(self) -> None:
        """Open the file again before the next line (safe to call from a signal handler)."""
        self._reopen = True

    def emit(self, record: logging.LogRecord) -> None:
        if self._reopen:
            self._reopen = False
            if self.stream is not None:
                self.stream.close()
                self.stream = self._open()
                self._statstream()
        super().emit(record)


def log_to_file(
    path: Path, *, verbose: bool = False, level: str = "info", delay: bool = False
) -> None:
    """Send every log record of the process to `path` as JSON lines (appending).

    `level` "debug" logs everything, the libraries' chatter included (HTTP, SQL); otherwise the
    noisy libraries log warnings only, or their info lines too with `verbose`. `delay`: the
    file is made only when a first record comes (a command that may have nothing to log)."""
    handler = PrivateLogFile(path, delay=delay)
    handler.setFormatter(JsonLines())
    handler.addFilter(RedactSecrets())  # the last line of defence: see `wallet.redact`
    root = logging.getLogger()
    root.handlers[:] = [handler]
    debug = level.lower() == "debug"
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for name in NOISY:
        noisy = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
        logging.getLogger(name).setLevel(noisy)


def use_bot_clock(clock: Clock) -> None:
    """Stamp log lines with `clock`'s time too, whenever it differs from the wall's."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, JsonLines):
            handler.formatter.clock = clock


def reopen_on_hangup() -> None:
    """On SIGHUP, open the log files again (after logrotate moved them) instead of dying,
    which is SIGHUP's default. The handler only sets a flag: the file is reopened by the next
    log line, never in the middle of one."""

    def hangup(_signum: int, _frame: object) -> None:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, PrivateLogFile):
                handler.request_reopen()

    signal.signal(signal.SIGHUP, hangup)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
