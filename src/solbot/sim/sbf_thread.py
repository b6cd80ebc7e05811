"""Run LiteSVM's program execution on a thread of its own.

Executing an SBF program in LiteSVM (solders 0.29: the SPL Token program, for instance) leaves
the calling thread's floating-point unit in a state where numpy's float remainder returns NaN
(`np.float64(1705503600.0) % 3600` → nan) and numpy prints 119.32 as 1.1932e+02. Python's own
float arithmetic is unaffected, `fegetenv`/`fesetenv` around the call do not reliably undo it,
and the state is per thread. Candle and indicator code in the same process would silently
compute garbage (we found it when a GeckoTerminal page lost a row after a sim test ran), so every
call that may execute a program goes through this one worker thread, and the threads that run
the bot never execute SBF code. A hop costs tens of microseconds per transaction.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="litesvm-sbf")
atexit.register(_worker.shutdown, wait=False)


def run_sbf(call: Callable[[], T]) -> T:
    """Run `call` on the SBF thread and return its result (exceptions propagate)."""
    return _worker.submit(call).result()
