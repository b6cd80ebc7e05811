"""The sim RPC's reads beyond a transfer's path, as a validator answers them: a wallet's history
(getSignaturesForAddress with before/until/limit), block times, the priority fees of recent
slots, a mint's supply, jsonParsed transactions, the epoch's transaction count, and agave's
-32003 for a signature that does not verify."""

from __future__ import annotations

import base64

import pytest
from rpc_net import DECIMALS, Net, pay_bob, raw, signed
from solana.rpc.models import TxOpts
from solders.compute_budget import set_compute_unit_price
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain import builders
from solbot.sim.ledger import FIRST_SLOT, SLOT_SECONDS, SimLedger, new_keypair_from_seed


async def land(net: Net, tx: VersionedTransaction) -> Signature:
    await net.client.send_raw_transaction(bytes(tx), TxOpts(skip_preflight=True))
    return tx.signatures[0]


async def test_a_wallets_history_newest_first_in_pages(net: Net) -> None:
    sent = []
    for lamports in range(1, 6):
        sent.append(await land(net, await signed(net, pay_bob(net, lamports))))
        net.clock.advance(SLOT_SECONDS)
    _status, body = await raw(net, "getSignaturesForAddress", str(net.bob.pubkey()))
    history = body["result"]
    assert [h["signature"] for h in history] == [str(s) for s in reversed(sent)]
    first = history[-1]
    assert set(first) == {"signature", "slot", "err", "memo", "blockTime", "confirmationStatus"}
    assert first["err"] is None
    # a transaction's time is its block's, whatever instant inside the slot it ran at
    for entry in history:
        assert entry["blockTime"] == net.ledger.block_time(entry["slot"])
        _status, block = await raw(net, "getBlockTime", entry["slot"])
        assert block["result"] == entry["blockTime"]

    # a page of two, then the next from before its last, then up to (not including) one
    page = (await raw(net, "getSignaturesForAddress", str(net.bob.pubkey()), {"limit": 2}))[1]
    assert [h["signature"] for h in page["result"]] == [str(sent[4]), str(sent[3])]
    config = {"limit": 2, "before": str(sent[3])}
    page = (await raw(net, "getSignaturesForAddress", str(net.bob.pubkey()), config))[1]
    assert [h["signature"] for h in page["result"]] == [str(sent[2]), str(sent[1])]
    config = {"until": str(sent[1])}
    page = (await raw(net, "getSignaturesForAddress", str(net.bob.pubkey()), config))[1]
    assert [h["signature"] for h in page["result"]] == [str(s) for s in (sent[4], sent[3], sent[2])]

    # solana-py parses it with solders' strict types
    parsed = (await net.client.get_signatures_for_address(net.alice.pubkey(), limit=1)).value
    assert parsed[0].signature == sent[-1]


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"limit": 1001}, "Invalid limit; max 1000"),
        ({"limit": 0}, "Invalid limit; max 1000"),
        ({"commitment": "processed"}, "does not support commitment below `confirmed`"),
        ({"before": "not a signature"}, "Invalid param"),
    ],
)
async def test_a_history_request_out_of_bounds_is_refused(
    net: Net, config: dict[str, object], says: str
) -> None:
    _status, body = await raw(net, "getSignaturesForAddress", str(net.bob.pubkey()), config)
    assert body["error"]["code"] == -32602
    assert says in body["error"]["message"]


async def test_block_times_follow_the_clock(net: Net) -> None:
    slot = net.ledger.slot
    net.clock.advance(10 * SLOT_SECONDS)
    await net.client.get_slot()  # the server syncs to the clock
    assert (await net.client.get_block_time(slot)).value == net.ledger.block_time(slot)
    assert net.ledger.block_time(slot + 10) - net.ledger.block_time(slot) == 4  # 10 × 0.4 s
    _status, future = await raw(net, "getBlockTime", net.ledger.slot + 5)
    message = f"Block not available for slot {net.ledger.slot + 5}"
    assert future["error"] == {"code": -32004, "message": message}
    _status, past = await raw(net, "getBlockTime", FIRST_SLOT - 1)
    assert past["error"]["code"] == -32001


async def test_recent_priority_fees_are_each_slots_lowest_bid(net: Net) -> None:
    carol = new_keypair_from_seed(b"rpc reads: carol").pubkey()
    cheap = [builders.sol_transfer(net.bob.pubkey(), carol, 1_000_000)]  # alice untouched
    dear = [set_compute_unit_price(5_000), *pay_bob(net, 2)]
    bid_only = [set_compute_unit_price(700), *pay_bob(net, 3)]
    await land(net, await signed(net, dear))  # alone in its slot: 5,000
    slot_dear = net.ledger.slot
    net.clock.advance(SLOT_SECONDS)
    await land(net, await signed(net, bid_only))
    await land(net, await signed(net, cheap, payer=net.bob))  # same slot, no bid: 0
    slot_mixed = net.ledger.slot
    net.clock.advance(SLOT_SECONDS)
    await net.client.get_slot()

    _status, body = await raw(net, "getRecentPrioritizationFees")
    fees = {f["slot"]: f["prioritizationFee"] for f in body["result"]}
    assert fees[slot_dear] == 5_000
    assert fees[slot_mixed] == 0  # the lowest that landed
    assert max(fees) == net.ledger.slot
    assert len(fees) <= 150
    # locking alice's account writable: what she paid in that slot
    _status, body = await raw(net, "getRecentPrioritizationFees", [str(net.alice.pubkey())])
    fees = {f["slot"]: f["prioritizationFee"] for f in body["result"]}
    assert (fees[slot_dear], fees[slot_mixed]) == (5_000, 700)
    parsed = (await net.client.get_recent_prioritization_fees()).value
    assert any(f.prioritization_fee == 5_000 for f in parsed)

    _status, body = await raw(net, "getRecentPrioritizationFees", [str(net.bob.pubkey())] * 129)
    assert body["error"] == {"code": -32602, "message": "Too many inputs provided; max 128"}


async def test_a_mints_supply_and_what_is_not_a_mint(net: Net) -> None:
    supply = (await net.client.get_token_supply(net.mint)).value
    assert supply.amount == "1234567890"
    assert supply.decimals == DECIMALS
    assert supply.ui_amount_string == "1234.56789"
    _status, body = await raw(net, "getTokenSupply", str(net.alice.pubkey()))
    assert body["error"] == {"code": -32602, "message": "Invalid param: not a Token mint"}


async def test_json_parsed_transactions_decode_what_agave_decodes(net: Net) -> None:
    instructions = [
        set_compute_unit_price(1),
        builders.token_transfer_checked(net.alice.pubkey(), net.bob.pubkey(), net.mint, 5, 6),
        *pay_bob(net, 77),
    ]
    signature = await land(net, await signed(net, instructions))
    _status, body = await raw(
        net, "getTransaction", str(signature),
        {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0},
    )  # fmt: skip
    message = body["result"]["transaction"]["message"]
    keys = {k["pubkey"]: k for k in message["accountKeys"]}
    alice = str(net.alice.pubkey())
    assert keys[alice] == {
        "pubkey": alice,
        "writable": True,
        "signer": True,
        "source": "transaction",
    }
    assert keys[str(net.mint)]["writable"] is False
    budget, token, system = message["instructions"]
    assert set(budget) == {"programId", "accounts", "data", "stackHeight"}  # not parsed
    assert token["program"] == "spl-token"
    assert token["parsed"]["type"] == "transferChecked"
    assert token["parsed"]["info"]["tokenAmount"]["uiAmountString"] == "0.000005"
    assert token["parsed"]["info"]["authority"] == alice
    assert system["parsed"] == {
        "type": "transfer",
        "info": {"source": alice, "destination": str(net.bob.pubkey()), "lamports": 77},
    }
    # solders reads it as a parsed transaction
    got = await net.client.get_transaction(
        signature, "jsonParsed", max_supported_transaction_version=0
    )
    assert got.value is not None


async def test_a_signature_that_does_not_verify_answers_32003(net: Net) -> None:
    tx = await signed(net, pay_bob(net, 5))
    forged = bytearray(bytes(tx))
    forged[1] ^= 0xFF  # a byte of the signature
    _status, body = await raw(net, "sendTransaction", b64_bytes(forged), {"encoding": "base64"})
    assert body["error"] == {
        "code": -32003,
        "message": "Transaction signature verification failure",
    }
    config = {"encoding": "base64", "sigVerify": True}
    _status, body = await raw(net, "simulateTransaction", b64_bytes(forged), config)
    assert body["error"]["code"] == -32003
    # without preflight nothing is checked: the leader drops it and nothing lands
    _status, body = await raw(
        net, "sendTransaction", b64_bytes(forged), {"encoding": "base64", "skipPreflight": True}
    )
    assert "result" in body
    assert net.ledger.status(tx.signatures[0]) is None


def b64_bytes(data: bytes | bytearray) -> str:
    return base64.b64encode(bytes(data)).decode()


async def test_the_transaction_count_survives_a_restart(net: Net) -> None:
    before = net.ledger.transaction_count
    await land(net, await signed(net, pay_bob(net, 1)))
    await land(net, await signed(net, pay_bob(net, 2)))
    epoch = (await net.client.get_epoch_info()).value
    assert epoch.transaction_count == before + 2
    restored = SimLedger.restore(net.ledger.snapshot())
    assert restored.transaction_count == before + 2
