"""The chain under test, twice: `LiteSvmChain` in-process, and `RpcChain` through the sim's
JSON-RPC server on 127.0.0.1 (a free port). Both see the same seeded world."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from solbot.chain.litesvm import LiteSvmChain
from solbot.chain.port import Chain
from solbot.chain.rpc import RpcChain
from solbot.sim.rpc_server import serve_rpc

from .support import World, make_world


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture(params=["litesvm", "rpc"])
async def chain(request: pytest.FixtureRequest, world: World) -> AsyncIterator[Chain]:
    if request.param == "litesvm":
        yield LiteSvmChain(world.ledger, world.clock)
        return
    server = await serve_rpc(world.ledger, world.clock)
    try:
        async with RpcChain(server.url) as rpc_chain:
            yield rpc_chain
    finally:
        await server.stop()
