"""The dashboard as `solbot run --web` starts it: a process of its own (`web.process`), so a
page never waits for a tick and a tick never waits for a page (`benchmarks/dashboard.py`).

Its parent sends the run's settings and the port on stdin (pickled, length-prefixed: the
settings hold secrets, and a pipe between the two is private), and keeps the pipe open. The
child announces its address with one JSON line on stdout; it stops on SIGTERM, SIGINT, or
when the pipe closes: its parent stopped it, or died (even by kill -9), so it never outlives
the bot. What the operator must fix is one line on stderr and exit 2, which the parent
repeats as its own."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import sys
import threading

from solbot.errors import UserError

LENGTH_BYTES = 8
STDIN = 0


def read_order() -> tuple[object, int, int]:
    """(settings, port, niceness) as the parent sent them."""
    size = int.from_bytes(_read_exactly(LENGTH_BYTES), "big")
    payload = _read_exactly(size)
    if size == 0 or len(payload) != size:
        raise SystemExit("solbot.cli.web_child is started by `solbot run --web`, not by hand")
    settings, port, niceness = pickle.loads(payload)  # from our own parent, over a pipe
    return settings, int(port), int(niceness)


def _read_exactly(size: int) -> bytes:
    """`size` bytes from the pipe (fewer at its end), read from the descriptor: nothing is
    left in a buffer the parent-watching thread would not see."""
    chunks, got = [], 0
    while got < size:
        chunk = os.read(STDIN, size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


async def serve(settings: object, port: int) -> None:
    from solbot.cli import stores
    from solbot.cli.web import serve_dashboard

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def watch_parent() -> None:  # EOF: the parent closed the pipe or is gone
        # The file descriptor, not sys.stdin: a daemon thread blocked inside a buffered
        # reader holds its lock, and the interpreter aborts at exit trying to take it.
        while os.read(STDIN, 4096):
            pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()

    async def announce(url: str, _services: object) -> None:
        sys.stdout.write(json.dumps({"url": url}) + "\n")
        sys.stdout.flush()

    stores.log_file(settings)  # type: ignore[arg-type]
    await serve_dashboard(settings, stop, port, announce)  # type: ignore[arg-type]


def main() -> None:
    settings, port, niceness = read_order()
    os.nice(niceness)  # the loop first (`web.process.NICENESS`)
    try:
        asyncio.run(serve(settings, port))
    except UserError as exc:
        lines = str(exc).strip().splitlines()
        sys.stderr.write((lines[0] if lines else type(exc).__name__) + "\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
