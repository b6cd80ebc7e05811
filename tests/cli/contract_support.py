"""Broken environments for the error-contract tests: services that are down or never answer,
a fake mainnet that answers just enough, folders solbot may not write, a database that cannot
grow, locks held by someone else, and a fingerprint of everything a command could change.

Every address is 127.0.0.1: "unreachable" is a closed port, "hangs" is a server that accepts
connections and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine, make_url

from local_http import QuietHandler, loopback_server
from solbot.errors import EnvironmentFaultError
from solbot.store.db import async_url, create_engine

SKIPPED_FILES = ("solbot.log",)  # the log records what happened: the one file a failure adds to
SQLITE_SIDE_FILES = ("-wal", "-shm")  # SQLite's own; the rows are compared instead
LOCK_FILES = (".run.lock",)  # who runs on the database (`store.run_lock`): not what it holds


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers; `contacted` is set on the first."""

    url: str
    contacted: threading.Event


@contextlib.contextmanager
def silent_server() -> Iterator[SilentServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)
    contacted = threading.Event()
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)
            contacted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield SilentServer(f"http://127.0.0.1:{listener.getsockname()[1]}", contacted)
    finally:
        stop.set()
        thread.join(timeout=5)
        for connection in held:
            connection.close()
        listener.close()


@dataclass
class FakeMainnet:
    """Just enough of a network to start on: Jupiter's Price API prices every mint at 1 USD and
    its swap paths find no route (400, as for a pair without liquidity); the RPC answers
    `getBlockHeight`, and `getBalance` and `getAccountInfo` (1 SOL, no token account) until
    `failing` is set. From then on, and for every other method, it answers 503: a bot past its
    start-up waits in `RetryingChain`'s back-off. `wants_key`: Jupiter answers 401 to a request
    without the key `key` (or with another); `gone`: the paths it answers 404 to."""

    url: str
    calls: list[str] = field(default_factory=list)
    failing: bool = False
    key: str = "the-right-key"
    wants_key: bool = False
    gone: set[str] = field(default_factory=set)


@contextlib.contextmanager
def fake_mainnet() -> Iterator[FakeMainnet]:
    state = FakeMainnet("")

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server names it)
            state.calls.append(self.path)
            path = self.path.split("?", 1)[0]
            if state.wants_key and self.headers.get("x-api-key") != state.key:
                self._send(401, {"error": "Unauthorized"})
                return
            if path in state.gone or not path.startswith(("/price/v3", "/swap/")):
                self._send(404, {"error": "not found"})
                return
            if path.startswith("/swap/"):
                self._send(400, {"error": "No routes found"})
                return
            ids = self.path.split("ids=", 1)[-1].split("&")[0].split("%2C")
            ids = [part for mint in ids for part in mint.split(",") if part]
            self._send(200, {mint: {"usdPrice": 1.0, "decimals": 6, "blockId": 1} for mint in ids})

        def do_POST(self) -> None:  # noqa: N802 (http.server names it)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            state.calls.append(body.get("method", ""))
            method = body.get("method")
            context = {"slot": 1}
            results: dict[str, Any] = {"getBlockHeight": 100}
            if not state.failing:
                results["getBalance"] = {"context": context, "value": 1_000_000_000}
                results["getAccountInfo"] = {"context": context, "value": None}
            if method in results:
                self._send(200, {"jsonrpc": "2.0", "id": body.get("id"), "result": results[method]})
                return
            self._send(503, {"error": "unavailable"})

        def _send(self, status: int, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    handler: type[BaseHTTPRequestHandler] = Handler
    with loopback_server(handler) as url:
        state.url = url
        yield state


# ---------------------------------------------------------------------------------- folders
@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make `path` (a folder or a file) unwritable for this process, even as root.

    An unprivileged process loses the write bits; root ignores those, so there the file system
    marks the path immutable (`chattr +i`), which refuses root as well (EPERM)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True, capture_output=True)


# ---------------------------------------------------------------------------------- SQLite
@contextlib.contextmanager
def sqlite_cannot_grow() -> Iterator[None]:
    """Every SQLite connection opened meanwhile may not grow its database by a single page
    (`PRAGMA max_page_count` = its size): the first write that needs a new page fails with
    SQLITE_FULL, the very error a full disk gives."""

    def limit(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA max_page_count={pages}")
        finally:
            cursor.close()

    event.listen(Engine, "connect", limit)
    try:
        yield
    finally:
        event.remove(Engine, "connect", limit)


@contextlib.contextmanager
def sqlite_write_lock(path: Path) -> Iterator[None]:
    """Another process's view: a connection holding SQLite's write lock (BEGIN IMMEDIATE)."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


# ---------------------------------------------------------------------------------- state
def state_of(folder: Path, url: str) -> dict[str, str]:
    """A fingerprint of what a command could change: every file below `folder` (its content;
    the log and SQLite's -wal/-shm files aside) and every row of every table of the database."""
    files = {}
    if folder.exists():
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.name in SKIPPED_FILES:
                continue
            if path.name.endswith(SQLITE_SIDE_FILES + LOCK_FILES):
                continue
            if path.suffix == ".db":
                continue  # compared by its rows: the file may hold them in its WAL
            files[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    files["(database)"] = asyncio.run(_rows_digest(url))
    return files


async def _rows_digest(url: str) -> str:
    parsed = make_url(async_url(url))
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return "(no database)"
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.run_sync(_all_rows)
    except EnvironmentFaultError:  # not a database at all: its bytes, then
        return hashlib.sha256(Path(parsed.database or "").read_bytes()).hexdigest()
    finally:
        await engine.dispose()
    return hashlib.sha256(rows.encode()).hexdigest()


def _all_rows(conn: Any) -> str:
    out = []
    for table in sorted(inspect(conn).get_table_names()):
        result = conn.execute(text(f'SELECT * FROM "{table}"'))
        out.append(f"{table}: {sorted(repr(tuple(row)) for row in result)}")
    return "\n".join(out)
