"""A scripted HTTP server on 127.0.0.1 for tests of clients that speak to outside services.

The fakes (GeckoTerminal, Jupiter) decide what to answer; this module does the HTTP: a
`Scripted` answer (status 0 drops the connection, as a flaky network does) and a threaded
server on an ephemeral loopback port for the duration of a `with` block.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from solbot.clock import Clock


@dataclass
class Scripted:
    """A forced answer: status, headers and body (JSON-able, or `bytes` sent as they are);
    status 0 drops the connection without an answer."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


def send_answer(
    handler: BaseHTTPRequestHandler,
    answer: Scripted,
    encode: Callable[[Any], str] = json.dumps,
) -> None:
    """Write `answer` on `handler`'s connection (JSON bodies through `encode`)."""
    if answer.status == 0:
        handler.close_connection = True
        handler.connection.shutdown(2)
        return
    if isinstance(answer.body, bytes):
        payload = answer.body
    else:
        payload = encode(answer.body if answer.body is not None else {}).encode()
    handler.send_response(answer.status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(payload)))
    for name, value in answer.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(payload)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that does not print every request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def loopback_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve `handler` on an ephemeral port of 127.0.0.1; yields `http://127.0.0.1:PORT`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@asynccontextmanager
async def loopback_client(clock: Clock, sent: list[float]) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client that fails a test sending anywhere but 127.0.0.1, and records in `sent`
    the clock time at which each request left."""

    async def stamp(request: httpx.Request) -> None:
        assert request.url.host == "127.0.0.1"  # never anywhere else
        sent.append(clock.now())

    async with httpx.AsyncClient(
        trust_env=False, timeout=10.0, event_hooks={"request": [stamp]}
    ) as client:
        yield client
