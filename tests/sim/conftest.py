"""The `net` fixture: a sim RPC server of its own (rpc_net.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rpc_net import Net, start_net


@pytest.fixture
async def net() -> AsyncIterator[Net]:
    started = await start_net()
    try:
        yield started
    finally:
        await started.client.close()
        await started.server.stop()
