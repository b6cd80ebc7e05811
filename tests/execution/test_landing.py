"""Landing our own `/build` transactions: the compute budget (limit from a simulation, price a
percentile of recent fees, capped per order), and the behaviour against the sim's congestion
model over real JSON-RPC: a transaction bidding under the going rate is dropped and re-sent
(the same bytes) until it lands; one that never lands expires cleanly; a crash in the middle
never makes a second transaction or a second fill. On SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain.port import Simulation, TxCosts
from solbot.execution.build import SwapBuild
from solbot.execution.landing import (
    MICRO_LAMPORTS,
    LandingPolicy,
    SimulationFailedError,
    percentile,
    prepare,
)
from solbot.sim.maker import TOKEN_ACCOUNT_RENT
from solbot.sim.rpc_faults import Congestion
from solbot.store.states import OrderState, Route
from solbot.store.tables import OrderRow

from .sim_rig import DECIMALS, MINTS, USER, Rig, SimulatedCrash, crash, make_rig

USDC_UNITS = 10 ** DECIMALS["USDC"]
RATE = 50_000  # micro-lamports per compute unit: the going rate in a busy spell
SPELL = 50  # slots


def busy_then_calm(slot: int) -> Congestion:
    """A congestion whose spell holding `slot` is busy and the next one calm (a seeded search:
    the same every run)."""
    for seed in range(10_000):
        c = Congestion(going_rate=RATE, busy_share=0.5, spell_slots=SPELL, seed=seed)
        if c.busy(slot) and c.busy(slot + 5) and not c.busy((slot // SPELL + 1) * SPELL):
            return c
    raise AssertionError("no such seed")


# A cap well under what the going rate would cost: the price is capped below it.
TIGHT = LandingPolicy(max_priority_lamports=100)


async def first_slot(tmp_path: Path) -> int:
    """The slot a rig's world starts at (the same for every rig: one seed, one start)."""
    (tmp_path / "probe").mkdir()
    async with make_rig(tmp_path / "probe") as rig:
        return rig.net.ledger.slot


@pytest.fixture
async def calm(tmp_path: Path, db_url: str) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path, db_url) as r:
        yield r


# ---------------------------------------------------------------------- the budget
async def test_a_build_order_journals_a_budget_sized_by_its_simulation(calm: Rig) -> None:
    rig = calm
    sol = rig.balance("SOL")
    outcome = await rig.executor(Route.BUILD).submit(rig.buy("JUP", 50 * USDC_UNITS), rig.signer)
    assert outcome.state is OrderState.CONFIRMED, outcome.error
    order = await rig.order(outcome.order_id)
    assert order.signature == order.own_signature  # our transaction: our signature is its id
    landed = rig.net.ledger.status(Signature.from_string(outcome.signature or ""))
    assert landed is not None
    assert landed.units <= order.compute_unit_limit <= math.ceil(landed.units * 1.2) + 300
    assert order.compute_unit_price == 0  # the embedded sim is calm: nothing to outbid
    assert landed.fee == 5_000
    assert rig.balance("SOL") < sol  # the user paid (fee and the new token account's rent)
    await rig.check_books()


async def test_a_swap_that_would_fail_is_refused_before_signing(calm: Rig) -> None:
    rig = calm
    rig.set_usdc(10 * USDC_UNITS)
    sol = rig.balance("SOL")
    outcome = await rig.executor(Route.BUILD).submit(rig.buy("JUP", 50 * USDC_UNITS), rig.signer)
    assert outcome.state is OrderState.FAILED
    assert outcome.error is not None
    assert outcome.error.startswith("the swap would fail")
    order = await rig.order(outcome.order_id)
    assert order.signed_tx is None
    assert rig.balance("SOL") == sol  # nothing was sent, nothing paid
    assert rig.chain.sends == 0


class Fees:
    """A chain that answers fixed recent fees and simulated units (for `prepare` alone)."""

    def __init__(self, fees: Sequence[int], units: int, err: str | None = None) -> None:
        self.fees, self.units, self.err = list(fees), units, err
        self.asked: list[Sequence[Pubkey]] = []
        self.verified: list[bool] = []

    async def recent_fees(self, accounts: Sequence[Pubkey] = ()) -> list[int]:
        self.asked.append(accounts)
        return self.fees

    async def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = True) -> Simulation:
        self.verified.append(sig_verify)
        return Simulation(self.err, ("log",), self.units)


async def built_swap(rig: Rig) -> SwapBuild:
    http = rig.executor(Route.BUILD).jupiter
    usdc, jup = rig.buy("JUP", 1).input_mint, rig.buy("JUP", 1).output_mint
    return await http.build(usdc, jup, 10 * USDC_UNITS, taker=rig.owner)


async def test_the_price_is_the_percentile_capped_so_price_times_limit_fits(calm: Rig) -> None:
    built = await built_swap(calm)
    chain = Fees([0, 10, 20, 30, 40_000, 50_000, 60_000, 70_000], units=20_000)
    free = await prepare(chain, built, calm.owner, LandingPolicy(max_priority_lamports=10**9))
    assert (free.unit_limit, free.unit_price, free.capped) == (24_000, 50_000, False)
    assert free.priority_fee_lamports == 50_000 * 24_000 // MICRO_LAMPORTS
    capped = await prepare(chain, built, calm.owner, LandingPolicy(max_priority_lamports=100))
    assert capped.unit_limit == 24_000
    assert capped.unit_price == 100 * MICRO_LAMPORTS // 24_000
    assert capped.capped
    assert capped.wanted_price == 50_000
    assert capped.priority_fee_lamports <= 100
    # the fee market asked about is the swap's own writable accounts, simulated unsigned
    assert chain.asked[0]
    assert all(meta in chain.asked[0] for meta in [built.swap.accounts[0].pubkey])
    assert chain.verified == [False, False]


async def test_a_failing_simulation_raises_with_the_reason(calm: Rig) -> None:
    built = await built_swap(calm)
    chain = Fees([], units=0, err='{"InstructionError":[3,{"Custom":1}]}')
    with pytest.raises(SimulationFailedError, match="Custom"):
        await prepare(chain, built, calm.owner, LandingPolicy())


def test_percentile_is_a_fee_really_paid() -> None:
    fees = [0, 0, 10, 20, 30, 40, 50, 60]
    assert [percentile(fees, bps) for bps in (0, 2_500, 5_000, 7_500, 10_000)] == [
        0,
        0,
        20,
        40,
        60,
    ]
    assert percentile([], 7_500) == 0


# ---------------------------------------------------------------------- against congestion
async def test_a_capped_bid_is_dropped_while_busy_and_the_same_bytes_land_after(
    tmp_path: Path, db_url: str
) -> None:
    congestion = busy_then_calm(await first_slot(tmp_path))
    async with make_rig(tmp_path, db_url, congestion=congestion) as rig:
        sent: list[Signature] = []
        rig.chain.before_send = lambda tx: sent.append(tx.signatures[0])
        jup = rig.balance("JUP")
        outcome = await rig.executor(Route.BUILD, landing=TIGHT).submit(
            rig.buy("JUP", 40 * USDC_UNITS), rig.signer
        )
        assert outcome.state is OrderState.CONFIRMED, outcome.error
        order = await rig.order(outcome.order_id)
        assert order.compute_unit_price < RATE  # capped under the going rate ...
        assert order.compute_unit_price * order.compute_unit_limit <= 100 * MICRO_LAMPORTS
        assert order.attempts >= 2  # ... so it was dropped and sent again
        assert set(sent) == {Signature.from_string(order.signature)}  # always the same bytes
        landed = rig.net.ledger.status(Signature.from_string(order.signature))
        assert landed is not None
        assert not congestion.busy(landed.slot)  # it landed once the spell was over
        assert landed.fee <= 5_000 + 100
        assert rig.balance("JUP") == jup + order.quoted_out
        await rig.check_books()


async def test_an_uncapped_bid_lands_at_once_in_a_busy_spell(tmp_path: Path, db_url: str) -> None:
    always = Congestion(going_rate=RATE, busy_share=1.0, spell_slots=SPELL)
    async with make_rig(tmp_path, db_url, congestion=always) as rig:
        outcome = await rig.executor(Route.BUILD).submit(
            rig.buy("JUP", 40 * USDC_UNITS), rig.signer
        )
        assert outcome.state is OrderState.CONFIRMED, outcome.error
        order = await rig.order(outcome.order_id)
        assert order.compute_unit_price >= RATE  # the recent fees showed the going rate
        landed = rig.net.ledger.status(Signature.from_string(order.signature))
        assert landed is not None  # in a slot where every bid under the rate is dropped
        priority = -(-order.compute_unit_price * order.compute_unit_limit // MICRO_LAMPORTS)
        assert landed.fee == 5_000 + priority  # what the chain charged is what we bid
        await rig.check_books()


async def test_a_bid_that_never_wins_expires_cleanly_with_nothing_spent(
    tmp_path: Path, db_url: str
) -> None:
    always = Congestion(going_rate=RATE, busy_share=1.0, spell_slots=SPELL)
    async with make_rig(tmp_path, db_url, congestion=always) as rig:
        start = rig.holdings()
        outcome = await rig.executor(Route.BUILD, landing=TIGHT).submit(
            rig.buy("JUP", 40 * USDC_UNITS), rig.signer
        )
        assert outcome.state is OrderState.EXPIRED
        assert outcome.error == "blockhash expired before landing"
        assert rig.holdings() == start  # dropped transactions pay nothing
        assert await rig.positions() == []
        assert await rig.trades() == []
        order = await rig.order(outcome.order_id)
        assert rig.net.ledger.block_height > order.last_valid_block_height
        await rig.check_books()


async def test_a_crash_while_dropped_is_finished_by_recovery_with_one_fill(
    tmp_path: Path, db_url: str
) -> None:
    congestion = busy_then_calm(await first_slot(tmp_path))
    async with make_rig(tmp_path, db_url, congestion=congestion) as rig:
        sent: list[Signature] = []
        intent = rig.buy("JUP", 40 * USDC_UNITS)

        def dies_after_the_first_send(tx: VersionedTransaction) -> None:
            sent.append(tx.signatures[0])
            crash()

        rig.chain.after_send = dies_after_the_first_send
        with pytest.raises(SimulatedCrash):
            await rig.executor(Route.BUILD, landing=TIGHT).submit(intent, rig.signer)
        rig.chain.after_send = lambda tx: sent.append(tx.signatures[0])
        (order,) = await rig.orders()
        assert order.state == OrderState.SENT.value
        assert rig.net.ledger.status(Signature.from_string(order.signature)) is None  # dropped

        (outcome,) = await rig.executor(Route.BUILD, landing=TIGHT).recover(rig.signer, USER)
        assert outcome.state is OrderState.CONFIRMED, outcome.error
        assert set(sent) == {Signature.from_string(order.signature)}
        again = await rig.executor(Route.BUILD).submit(intent, rig.signer)
        assert again.order_id == outcome.order_id
        assert rig.balance("JUP") == order.quoted_out
        await rig.check_books()


# ---------------------------------------------------------------------- what the wallet paid
async def test_each_order_books_what_its_transaction_cost_the_wallet(calm: Rig) -> None:
    """The fee (and priority fee) and the rent of the accounts it created, read from the
    transaction's metadata, on the order and its trade; a sale into SOL is booked at what the
    swap paid, the costs apart (the balance change lost both)."""
    rig = calm
    ex = rig.executor(Route.BUILD)
    sol_before = rig.balance("SOL")
    bought = await ex.submit(rig.buy("JUP", 50 * USDC_UNITS), rig.signer)
    assert bought.state is OrderState.CONFIRMED, bought.error
    buy = await rig.order(bought.order_id)
    landed = rig.net.ledger.status(Signature.from_string(buy.signature))
    assert landed is not None
    assert buy.fee_lamports == landed.fee + TOKEN_ACCOUNT_RENT  # its new JUP account
    assert bought.costs_lamports == buy.fee_lamports
    (trade,) = await rig.trades()
    assert trade.fee_lamports == buy.fee_lamports
    assert rig.balance("SOL") == sol_before - buy.fee_lamports

    (position,) = await rig.positions()
    rig.clock.advance(60)
    sol_mint = MINTS["SOL"]
    sale = replace(rig.sell("JUP", position.quantity, position.id), output_mint=sol_mint)
    sold = await ex.submit(sale, rig.signer)
    assert sold.state is OrderState.CONFIRMED, sold.error
    order = await rig.order(sold.order_id)
    assert order.filled_out == order.quoted_out  # what the maker paid, not less its fee
    landed = rig.net.ledger.status(Signature.from_string(order.signature))
    assert landed is not None
    assert order.fee_lamports == landed.fee  # the wrapped SOL account came and went in it
    assert rig.balance("SOL") == sol_before - buy.fee_lamports + order.filled_out - landed.fee


async def test_a_gasless_order_costs_the_wallet_nothing(calm: Rig) -> None:
    rig = calm
    sol_before = rig.balance("SOL")
    outcome = await rig.executor(Route.V2).submit(rig.buy("JUP", 50 * USDC_UNITS), rig.signer)
    order = await rig.order(outcome.order_id)
    assert order.fee_lamports == 0
    assert outcome.costs_lamports == 0
    assert rig.balance("SOL") == sol_before


async def test_a_buy_with_sol_books_its_costs_apart_from_the_sol_it_spent(calm: Rig) -> None:
    rig = calm
    sol_before = rig.balance("SOL")
    spend = 10**9 // 4
    intent = replace(rig.buy("JUP", spend), input_mint=MINTS["SOL"])
    outcome = await rig.executor(Route.BUILD).submit(intent, rig.signer)
    assert outcome.state is OrderState.CONFIRMED, outcome.error
    order = await rig.order(outcome.order_id)
    landed = rig.net.ledger.status(Signature.from_string(order.signature))
    assert landed is not None
    assert order.fee_lamports == landed.fee + TOKEN_ACCOUNT_RENT
    assert rig.balance("SOL") == sol_before - spend - order.fee_lamports


class Metadata:
    """A chain whose every transaction cost `costs` (for `wallet_costs` alone)."""

    def __init__(self, costs: TxCosts) -> None:
        self.answer = costs

    async def costs(self, signature: Signature) -> TxCosts:
        return self.answer


SOL_IN = 250_000_000
RENT = 2_039_280


@pytest.mark.parametrize(
    ("pair", "swapped", "costs", "expected"),
    [
        # what the payer lost, tips included
        (("USDC", "JUP"), True, TxCosts(5_000, RENT, 5_000 + RENT + 777), 5_000 + RENT + 777),
        # less the SOL swapped away
        (("SOL", "JUP"), True, TxCosts(5_000, RENT, 5_000 + RENT + SOL_IN), 5_000 + RENT),
        # failed on chain: nothing swapped, nothing created
        (("SOL", "JUP"), False, TxCosts(5_000, 0, 5_000), 5_000),
        # the output arrives in the same balance: the fee and the rent kept
        (("JUP", "SOL"), True, TxCosts(5_000, 0, 5_000 - 123_456), 5_000),
    ],
)
async def test_wallet_costs_reads_the_metadata_as_the_pair_needs(
    calm: Rig, pair: tuple[str, str], swapped: bool, costs: TxCosts, expected: int
) -> None:
    ex = calm.executor(Route.BUILD)
    ex.chain = Metadata(costs)
    order = OrderRow(
        route=Route.BUILD.value,
        signature=str(Signature.default()),
        input_mint=MINTS[pair[0]],
        output_mint=MINTS[pair[1]],
        amount_in=SOL_IN if pair[0] == "SOL" else 10**6,
    )
    assert await ex.wallet_costs(order, swapped=swapped) == expected
