"""Fixtures shared by all tests: loopback HTTP clients (each test module provides its own
`clock`) and, from the `databases` plugin, test databases on SQLite and PostgreSQL."""

from collections.abc import AsyncIterator

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


pytest_plugins = ["databases"]
