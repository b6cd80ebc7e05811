"""The sim's congestion model, as a bot's landing loop meets it on mainnet: in a busy spell a
transaction bidding under the going priority fee is dropped (its signature answered, no status,
no fee, nothing moved), one bidding the going rate lands, and the recent fees say the rate."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rpc_net import Net, pay_bob, raw, signed, start_net
from solana.rpc.models import TxOpts
from solders.compute_budget import set_compute_unit_price

from solbot.sim.ledger import SLOT_SECONDS
from solbot.sim.rpc_faults import Congestion

RATE = 20_000


@pytest.fixture
async def busy() -> AsyncIterator[Net]:
    net = await start_net(congestion=Congestion(going_rate=RATE, busy_share=1.0))
    yield net
    await net.client.close()
    await net.server.stop()


async def test_a_low_bid_is_dropped_and_the_going_rate_lands(busy: Net) -> None:
    alice_before = busy.ledger.balance(busy.alice.pubkey())
    low = await signed(busy, [set_compute_unit_price(RATE - 1), *pay_bob(busy, 1_000)])
    answer = await busy.client.send_raw_transaction(bytes(low), TxOpts(skip_preflight=False))
    assert answer.value == low.signatures[0]  # answered as sent
    busy.clock.advance(5 * SLOT_SECONDS)
    await busy.client.get_slot()
    assert busy.ledger.status(low.signatures[0]) is None  # dropped: never landed
    assert busy.ledger.balance(busy.alice.pubkey()) == alice_before  # no fee either

    enough = await signed(busy, [set_compute_unit_price(RATE), *pay_bob(busy, 1_000)])
    await busy.client.send_raw_transaction(bytes(enough), TxOpts(skip_preflight=True))
    assert busy.ledger.status(enough.signatures[0]) is not None

    _status, body = await raw(busy, "getRecentPrioritizationFees")
    assert all(f["prioritizationFee"] >= RATE for f in body["result"])


async def test_calm_spells_land_any_bid(net: Net) -> None:
    tx = await signed(net, pay_bob(net, 1_000))
    await net.client.send_raw_transaction(bytes(tx), TxOpts(skip_preflight=True))
    assert net.ledger.status(tx.signatures[0]) is not None
    _status, body = await raw(net, "getRecentPrioritizationFees")
    assert {f["prioritizationFee"] for f in body["result"]} == {0}


def test_busy_spells_are_seeded_and_take_their_share() -> None:
    crowd = Congestion(going_rate=RATE, busy_share=0.3, spell_slots=10, seed=4)
    busy = [crowd.busy(slot) for slot in range(0, 100_000, 10)]
    assert 0.27 < sum(busy) / len(busy) < 0.33
    assert busy == [Congestion(RATE, 0.3, 10, 4).busy(s) for s in range(0, 100_000, 10)]
    assert all(crowd.busy(s) == crowd.busy(s - s % 10) for s in range(1000, 1100))  # spells
    assert not Congestion(going_rate=0, busy_share=1.0).busy(5)
    with pytest.raises(ValueError, match="busy_share"):
        Congestion(going_rate=1, busy_share=2.0)
