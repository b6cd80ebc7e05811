"""Another process holding a database's run lock (`store.run_lock`), as a running `solbot run`
does: started, waited for until it holds it, and killed (SIGKILL) at the end."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

HOLD_RUN_LOCK = """
import asyncio, sys
from solbot.store import run_lock

async def main():
    await run_lock.acquire(sys.argv[1])
    print("held", flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


@contextlib.contextmanager
def holding_run_lock(url: str) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_RUN_LOCK, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait()
