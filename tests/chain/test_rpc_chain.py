"""`RpcChain` against nodes that misbehave below the JSON-RPC level: garbage answers.

(Unreachable nodes, HTTP 503 and dropped sends are covered with the sim server in
tests/sim/test_rpc_server.py.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from solders.signature import Signature

from solbot.chain.port import NATIVE_MINT, ChainUnavailableError
from solbot.chain.rpc import RpcChain
from solbot.sim.ledger import new_keypair_from_seed

OWNER = new_keypair_from_seed(b"rpc chain tests: owner").pubkey()
MINT = new_keypair_from_seed(b"rpc chain tests: mint").pubkey()


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


async def _node_answering(result: object) -> tuple[asyncio.Server, str]:
    return await _garbage_node(json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode())


@pytest.mark.parametrize(
    ("level", "seen"), [("processed", False), ("confirmed", True), ("finalized", True)]
)
async def test_a_status_below_the_chains_commitment_is_not_one_yet(level: str, seen: bool) -> None:
    """A processed transaction may still be dropped, and `getTransaction` does not serve it:
    settling on it would read no costs and no fill. At `confirmed`, it is no status yet."""
    value = {"slot": 7, "confirmations": 0, "err": None, "confirmationStatus": level}
    server, url = await _node_answering({"context": {"slot": 7}, "value": [value]})
    try:
        async with RpcChain(url, timeout=2.0) as chain:
            [status] = await chain.statuses([Signature.default()])
    finally:
        server.close()
        await server.wait_closed()
    assert (status is not None) is seen


async def test_a_transaction_without_token_balances_says_nothing_of_tokens() -> None:
    """`preTokenBalances` null (a node that did not record them): what a token moved is unknown
    (None: the executor falls back), not zero; the lamports are still read."""
    payer = new_keypair_from_seed(b"rpc chain tests: payer").pubkey()
    transaction = {
        "slot": 7,
        "meta": {
            "err": None,
            "fee": 5000,
            "preBalances": [10_000, 1],
            "postBalances": [4_000, 1],
            "preTokenBalances": None,
            "postTokenBalances": None,
        },
        "transaction": {"message": {"accountKeys": [str(OWNER), str(payer)]}},
    }
    server, url = await _node_answering(transaction)
    try:
        async with RpcChain(url, timeout=2.0) as chain:
            token = await chain.received(Signature.default(), OWNER, MINT)
            lamports = await chain.received(Signature.default(), OWNER, NATIVE_MINT)
    finally:
        server.close()
        await server.wait_closed()
    assert token is None
    assert lamports == -6_000
