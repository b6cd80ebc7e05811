"""Serving an ASGI app with uvicorn inside a program that owns its own signals and event loop:
the sim's Jupiter API and RPC (`solbot sim serve`, the tests) and the dashboard (`solbot web`,
`solbot run --web`). One shape for all of them: the socket bound first (a taken port is an
OSError at once, not a SystemExit later), the server a task of the running loop, and a stop
that finishes what is in flight within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

GRACE_SECONDS = 2  # requests still running at a stop get this long


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside someone else's program: the program, not the server, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class ServedApp:
    """A running server: where it listens, and how to stop it."""

    host: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _task: asyncio.Task[None] = field(repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting, finish what is in flight, and wait for the server to end."""
        self._server.should_exit = True
        await self._task


async def serve_app(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    what: str = "server",
    forwarded_from: str | None = None,
) -> ServedApp:
    """Serve `app` as a task of the running event loop; port 0 picks a free one.

    A task, not a thread: what the app reads (a sim's ledger, the bot's engine) is not
    thread-safe, and the loop that owns it then also runs every request, one handler at a
    time between awaits. `X-Forwarded-For` is believed only from `forwarded_from` (a reverse
    proxy's address, or a comma-separated list): anyone else could name any client."""
    sock = bind(host, port)
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,  # an access log would keep every path and query for nothing
        timeout_graceful_shutdown=GRACE_SECONDS,
        proxy_headers=forwarded_from is not None,
        forwarded_allow_ips=forwarded_from,
    )
    server = EmbeddedServer(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name=what)
    while not server.started:
        if task.done():
            sock.close()
            raise OSError(f"the {what} could not start on {host}:{port}") from task.exception()
        await asyncio.sleep(0.005)
    return ServedApp(host, int(sock.getsockname()[1]), server, task)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (`IPPROTO_TCP` explicit: asyncio then sets TCP_NODELAY on the
    connections it accepts; without it Nagle's algorithm meets the client's delayed ACK)."""
    family, kind, _proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
