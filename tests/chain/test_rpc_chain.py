"""`RpcChain` against nodes that misbehave below the JSON-RPC level: garbage answers.

(Unreachable nodes, HTTP 503 and dropped sends are covered with the sim server in
tests/sim/test_rpc_server.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from solders.signature import Signature

from solbot.chain.port import ChainUnavailableError
from solbot.chain.rpc import RpcChain
from solbot.sim.ledger import new_keypair_from_seed

OWNER = new_keypair_from_seed(b"rpc chain tests: owner").pubkey()


async def _garbage_node(body: bytes) -> tuple[asyncio.Server, str]:
    """An HTTP server on 127.0.0.1 that answers every request 200 with `body`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture(params=[b"<html>bad gateway</html>", b'{"jsonrpc":"2.0","id":1,"result":"x"}'])
async def garbage_chain(request: pytest.FixtureRequest) -> AsyncIterator[RpcChain]:
    server, url = await _garbage_node(request.param)
    try:
        async with RpcChain(url, timeout=2.0) as chain:
            yield chain
    finally:
        server.close()
        await server.wait_closed()


async def test_garbage_answers_are_chain_unavailable(garbage_chain: RpcChain) -> None:
    with pytest.raises(ChainUnavailableError):
        await garbage_chain.balance(OWNER)
    with pytest.raises(ChainUnavailableError):
        await garbage_chain.latest_blockhash()
    with pytest.raises(ChainUnavailableError):
        await garbage_chain.statuses([Signature.new_unique()])
