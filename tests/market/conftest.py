"""Fixtures of the market-data tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_gecko import FakeGecko, serve


@pytest.fixture
def gecko() -> Iterator[FakeGecko]:
    """A fake GeckoTerminal on 127.0.0.1; tests add pools and scripted failures to it."""
    with serve() as fake:
        yield fake
