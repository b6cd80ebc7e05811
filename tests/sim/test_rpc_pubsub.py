"""The sim's account and logs subscriptions, through solana-py's `SolanaWsClient` (solders'
strict notification types) and raw frames for the refusals: a change of an account is told
once its block reaches the commitment, logs of the transactions that mention the address."""

from __future__ import annotations

import asyncio
import json

import pytest
from rpc_net import Net, pay_bob, signed
from solana.rpc.commitment import Confirmed, Finalized
from solana.rpc.models import TxOpts
from solana.rpc.websocket_api import SolanaWsClient
from solders.rpc.config import RpcTransactionLogsFilter, RpcTransactionLogsFilterMentions
from solders.rpc.responses import AccountNotification, LogsNotification
from websockets.asyncio.client import connect

from solbot.chain import builders
from solbot.sim.ledger import SLOT_SECONDS, new_keypair_from_seed


async def send(net: Net, lamports: int, payer_is_bob: bool = False) -> str:
    if payer_is_bob:
        carol = new_keypair_from_seed(b"pubsub: carol").pubkey()
        instructions = [builders.sol_transfer(net.bob.pubkey(), carol, lamports)]
        tx = await signed(net, instructions, payer=net.bob)
    else:
        tx = await signed(net, pay_bob(net, lamports))
    await net.client.send_raw_transaction(bytes(tx), TxOpts(skip_preflight=True))
    return str(tx.signatures[0])


async def test_an_account_change_is_told_with_the_new_account(net: Net) -> None:
    before = net.ledger.balance(net.bob.pubkey())
    async with SolanaWsClient(net.server.ws_url) as ws:
        subscription = await ws.account_subscribe(
            pubkey=net.bob.pubkey(), commitment=Confirmed, encoding="base64"
        )
        await send(net, 4_000)
        notification = await asyncio.wait_for(ws.recv(), 3)
        assert isinstance(notification, AccountNotification)
        assert notification.result.value.lamports == before + 4_000
        assert notification.subscription == subscription.subscription_id
        await ws.unsubscribe(subscription)
        await send(net, 5_000)
        with pytest.raises(TimeoutError):  # unsubscribed: nothing more
            await asyncio.wait_for(ws.recv(), 0.5)


async def test_a_finalized_account_change_waits_for_32_slots(net: Net) -> None:
    async with SolanaWsClient(net.server.ws_url) as ws:
        await ws.account_subscribe(pubkey=net.bob.pubkey(), commitment=Finalized, encoding="base64")
        await send(net, 4_000)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)
        net.clock.advance(33 * SLOT_SECONDS)
        notification = await asyncio.wait_for(ws.recv(), 3)
        assert isinstance(notification, AccountNotification)


async def test_logs_of_the_transactions_that_mention_the_address(net: Net) -> None:
    mentions = RpcTransactionLogsFilterMentions(net.alice.pubkey())
    async with SolanaWsClient(net.server.ws_url) as ws:
        await ws.logs_subscribe(filter_=mentions, commitment=Confirmed)
        await send(net, 1_000, payer_is_bob=True)  # not hers: sent first, never told
        hers = await send(net, 2_000)
        notification = await asyncio.wait_for(ws.recv(), 3)
        assert isinstance(notification, LogsNotification)
        assert str(notification.result.value.signature) == hers  # bob's alone was not told
        assert notification.result.value.err is None
        assert "Program 11111111111111111111111111111111 success" in notification.result.value.logs
    async with SolanaWsClient(net.server.ws_url) as ws:
        await ws.logs_subscribe(filter_=RpcTransactionLogsFilter.All, commitment=Confirmed)
        first = await send(net, 3_000, payer_is_bob=True)
        second = await send(net, 4_000)
        told = [await asyncio.wait_for(ws.recv(), 3) for _ in range(2)]
        assert [str(n.result.value.signature) for n in told] == [first, second]  # in order


@pytest.mark.parametrize(
    ("method", "params", "says"),
    [
        ("logsSubscribe", [{"mentions": ["11111111111111111111111111111111"] * 2}], "Only 1"),
        ("logsSubscribe", ["everything"], "unknown filter"),
        ("accountSubscribe", ["not an address"], "Invalid param"),
        ("accountSubscribe", ["11111111111111111111111111111111", {"commitment": "x"}], "x"),
        ("accountUnsubscribe", [12345], "Invalid subscription id."),
        ("rootSubscribe", [], "Method not found"),
    ],
)
async def test_what_a_subscription_cannot_be_is_refused(
    net: Net, method: str, params: list[object], says: str
) -> None:
    async with connect(net.server.ws_url) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": method, "params": params}))
        answer = json.loads(await ws.recv())
    assert answer["id"] == 3
    assert says in answer["error"]["message"]


async def test_an_id_of_another_kind_does_not_unsubscribe(net: Net) -> None:
    async with connect(net.server.ws_url) as ws:
        request = {"jsonrpc": "2.0", "id": 1, "method": "logsSubscribe", "params": ["all"]}
        await ws.send(json.dumps(request))
        logs = json.loads(await ws.recv())["result"]
        request = {"jsonrpc": "2.0", "id": 2, "method": "accountUnsubscribe", "params": [logs]}
        await ws.send(json.dumps(request))
        assert json.loads(await ws.recv())["error"]["message"] == "Invalid subscription id."
        request = {"jsonrpc": "2.0", "id": 3, "method": "logsUnsubscribe", "params": [logs]}
        await ws.send(json.dumps(request))
        assert json.loads(await ws.recv())["result"] is True
