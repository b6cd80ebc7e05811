"""Fixtures shared by all tests: loopback HTTP clients (each test module provides its own
`clock`), the process's logging given back after a test that takes it over, and, from the
`databases` plugin, test databases on SQLite and PostgreSQL."""

import logging
import signal
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from local_http import loopback_client
from solbot.clock import ManualClock


@pytest.fixture
def sent() -> list[float]:
    """Clock time at which each request left the client."""
    return []


@pytest.fixture
async def http(clock: ManualClock, sent: list[float]) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client that may only talk to 127.0.0.1 and stamps each request in `sent`."""
    async with loopback_client(clock, sent) as client:
        yield client


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, given back as it was after the test (handlers, level, the SIGHUP
    handler): `solbot run` and `log_to_file` point the whole process's logging at a file."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, signal.getsignal(signal.SIGHUP)
    try:
        yield root
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:], level, hangup = saved
        root.setLevel(level)
        signal.signal(signal.SIGHUP, hangup)


pytest_plugins = ["databases"]
