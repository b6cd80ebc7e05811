"""Structured logs: one JSON object per line, so `jq` and log shippers read them as they are.

Each line has `time` (ISO-8601 UTC), `level`, `logger` and `message`, plus `error` with the
exception's type and message when one is attached (not the traceback's locals: tracebacks can
carry values such as request bodies). The wall time stamps a log line; the bot's own clock
(simulated on the sim) is in the messages that matter. Every line passes `RedactSecrets`, which
masks anything shaped like a private or master key that reached a message by accident.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from solbot.private_files import private_file
from solbot.wallet.redact import RedactSecrets

NOISY = ("httpx", "httpx2", "alembic", "sqlalchemy")  # httpx2: solana-py's transport


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            line["error"] = f"{type(exc).__name__}: {exc}"
        return json.dumps(line, ensure_ascii=False)


class PrivateFileHandler(logging.FileHandler):
    """A `FileHandler` whose file is 0600 in 0700 folders whatever the umask, also when it is
    (re)opened later (`delay`, or after a rotation)."""

    def _open(self) -> io.TextIOWrapper:
        private_file(self.baseFilename)
        return super()._open()


def log_to_file(
    path: Path, *, verbose: bool = False, level: str = "info", delay: bool = False
) -> None:
    """Send every log record of the process to `path` as JSON lines (appending).

    `level` "debug" logs everything, the libraries' chatter included (HTTP, SQL); otherwise the
    noisy libraries log warnings only, or their info lines too with `verbose`. `delay`: the
    file is made only when a first record comes (a command that may have nothing to log)."""
    handler = PrivateFileHandler(path, encoding="utf-8", delay=delay)
    handler.setFormatter(JsonLines())
    handler.addFilter(RedactSecrets())  # the last line of defence: see `wallet.redact`
    root = logging.getLogger()
    root.handlers[:] = [handler]
    debug = level.lower() == "debug"
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    for name in NOISY:
        noisy = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
        logging.getLogger(name).setLevel(noisy)
