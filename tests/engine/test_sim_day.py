"""A simulated day, in-process: the whole loop on LiteSVM, and the books match the chain.

Real transactions signed by a real keypair and executed by the Solana runtime, through the
Jupiter-shaped API of the sim's market maker, journaled in a real SQLite database; a manual
clock makes it deterministic and fast.
"""

import gc
from pathlib import Path

import pytest
from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.chain.builders import associated_token_address
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.events import Event
from solbot.market.store import CandleStore
from solbot.rent_reclaim import RECLAIM_EVERY_SECONDS
from solbot.runner import OPERATOR, build
from solbot.runtime import GC_THRESHOLDS, RunOptions
from solbot.sim.network import SimNetwork
from solbot.store.states import OrderState
from solbot.store.tables import AccountCloseRow, OrderRow, PositionRow, TradeRow, UserRow
from solbot.store.types import utc_from_timestamp

START = 1_800_000_000.0
DAY = 86_400.0


def day_settings(tmp_path: Path, route: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        network="sim",
        timeframe="5m",
        risk_tier="aggressive",
        poll_seconds=60.0,
        jupiter_route=route,
        sim_seed=3,
        tokens=Settings().tokens,
    )


@pytest.mark.parametrize("route", ["v2", "build", "v1", "auto"])
async def test_a_simulated_day_trades_and_the_database_equals_the_chain(tmp_path, route):
    settings = day_settings(tmp_path, route)
    clock = ManualClock(START)
    events: list[Event] = []
    async with build(settings, RunOptions(stop_after=DAY), events.append, clock) as runtime:
        owner = runtime.signer.pubkey()
        usdc = settings.token("USDC")
        cash_before = await runtime.chain.token_balance(owner, Pubkey.from_string(usdc.mint))
        summary = await runtime.run()
        cash_after = await runtime.chain.token_balance(owner, Pubkey.from_string(usdc.mint))
        async with runtime.db.session() as s:
            orders = (await s.scalars(select(OrderRow))).all()
            positions = (await s.scalars(select(PositionRow))).all()
            trades = (await s.scalars(select(TradeRow))).all()
            for mint in {p.mint for p in positions}:
                held = await runtime.chain.token_balance(owner, Pubkey.from_string(mint))
                still_open = sum(
                    p.quantity for p in positions if p.mint == mint and p.status == "open"
                )
                assert held == still_open, mint  # nothing lost, nothing left over
                account = associated_token_address(owner, Pubkey.from_string(mint))
                emptied = [p.exit_time for p in positions if p.mint == mint and not still_open]
                if emptied and max(emptied).timestamp() < START + DAY - RECLAIM_EVERY_SECONDS:
                    # emptied by exits: closed for their rent (within the hour after, or kept
                    # for the next close when the user's last one is less than an hour old)
                    assert await runtime.chain.account(account) is None, mint
            closes = (await s.scalars(select(AccountCloseRow))).all()
            marked = await s.scalar(select(UserRow).where(UserRow.wallet_pubkey == str(owner)))
    # The last mark's cash is recorded (the dashboard's balances), on the trading clock.
    assert marked is not None
    assert marked.cash_atoms is not None
    assert marked.marked_at is not None
    assert START + DAY - 3600 <= marked.marked_at.timestamp() <= START + DAY + 600

    assert summary.ended - summary.started >= DAY
    assert summary.entries > 0, {o.error for o in orders}
    assert summary.exits > 0
    assert summary.consistent
    assert [e.text for e in events if e.kind == "deposit"] == []  # no fill taken for one
    assert all(OrderState(o.state).terminal for o in orders)
    confirmed = [o for o in orders if o.state == OrderState.CONFIRMED]
    assert len(trades) == len(confirmed)
    assert len({o.idempotency_key for o in orders}) == len(orders)
    # Every quote atom is accounted for: spent on entries, received from exits.
    spent = sum(p.cost for p in positions)
    received = sum(p.proceeds or 0 for p in positions)
    assert cash_after == cash_before - spent + received
    assert all(p.user_id == OPERATOR for p in positions)
    if route == "auto":  # the loop priced SOL: the maker's 25 bps lose to /build's fee
        assert {o.route for o in confirmed} == {"build"}
    assert closes
    assert all(c.state == "confirmed" for c in closes)


async def test_restarting_continues_the_same_world(tmp_path):
    settings = day_settings(tmp_path, "v2")
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=6 * 3600), clock=clock) as runtime:
        first = await runtime.run()
        wallet = runtime.signer.pubkey()
        open_before = [(h.token, h.quantity) for h in first.open_positions]
    saved = SimNetwork.saved_time(settings.sim_state_path)
    assert saved == pytest.approx(clock.now(), abs=1.0)
    async with build(settings, RunOptions(stop_after=60), clock=ManualClock(saved)) as runtime:
        assert runtime.signer.pubkey() == wallet
        usdc = Pubkey.from_string(settings.token("USDC").mint)
        assert await runtime.chain.token_balance(wallet, usdc) == int(first.cash.scaleb(6))
        second = await runtime.run()
    assert [(h.token, h.quantity) for h in second.open_positions] == open_before
    assert second.consistent


@pytest.mark.parametrize("route", ["v2", "build", "v1"])
async def test_a_sol_quoted_day_settles_in_native_sol_to_the_lamport(tmp_path, route):
    """The wallet's lamports move by exactly what the swaps spent and paid out, what each
    order's transaction cost it (nothing on v2, where the maker pays every fee), and what
    closing the accounts its exits emptied gave back."""
    settings = day_settings(tmp_path, route).model_copy(update={"quote": "SOL"})
    clock = ManualClock(START)
    events: list[Event] = []
    async with build(settings, RunOptions(stop_after=DAY / 2), events.append, clock) as runtime:
        owner = runtime.signer.pubkey()
        lamports_before = await runtime.chain.balance(owner)
        summary = await runtime.run()
        lamports_after = await runtime.chain.balance(owner)
        async with runtime.db.session() as s:
            positions = (await s.scalars(select(PositionRow))).all()
            orders = (await s.scalars(select(OrderRow))).all()
            closes = (await s.scalars(select(AccountCloseRow))).all()
            for mint in {p.mint for p in positions}:
                held = await runtime.chain.token_balance(owner, Pubkey.from_string(mint))
                assert held == sum(
                    p.quantity for p in positions if p.mint == mint and p.status == "open"
                )
    assert summary.quote == "SOL"
    assert summary.entries > 0
    assert summary.consistent
    assert [e.text for e in events if e.kind == "deposit"] == []  # no fill taken for one
    spent = sum(p.cost for p in positions)
    received = sum(p.proceeds or 0 for p in positions)
    paid = sum(o.fee_lamports or 0 for o in orders)
    # The rent the exits' emptied accounts gave back, less the fees of closing them.
    back = sum((c.reclaimed_lamports or 0) - (c.fee_lamports or 0) for c in closes)
    assert (paid == 0) == (route == "v2")
    assert back > 0
    assert summary.costs_lamports == paid - back
    assert lamports_after == lamports_before - spent + received - paid + back


async def test_solbot_run_tunes_the_collector_once_started_and_then_trades_as_before(tmp_path):
    """`tune_gc` (what `solbot run` sets) takes the start-up objects out of the collector's
    reach and collects the young generation less often, once the engine has started; the run
    goes on as without it."""
    settings = day_settings(tmp_path, "v2")
    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        options = RunOptions(stop_after=3600, tune_gc=True)
        async with build(settings, options, clock=ManualClock(START)) as runtime:
            assert gc.get_freeze_count() == 0
            summary = await runtime.run()
            assert gc.get_freeze_count() > 0
            assert gc.get_threshold() == GC_THRESHOLDS
        assert summary.ticks > 0
        assert summary.consistent
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def test_the_sims_candles_stay_out_of_market_history(tmp_path):
    """The sim's made-up (and, accelerated, future-dated) candles go to its world's folder:
    `data synth`, `data download` and backtests see market history only."""
    settings = day_settings(tmp_path, "v2")
    async with build(settings, RunOptions(stop_after=2 * 3600), clock=ManualClock(START)) as rt:
        await rt.run()
    built = CandleStore(settings.built_candles_dir())
    assert {s.symbol for s in built.list()} == set(settings.trade_tokens)
    assert all(s.last >= START for s in built.list())  # the run's own candles, not only history
    assert CandleStore(settings.candles_dir).list() == ()


async def test_the_summary_reconciles_every_asset_of_every_wallet(tmp_path):
    """Open positions were the only check, so a wallet that held tokens the books had sold, or
    cash the books never moved, still printed ✓. Now every traded token is compared with the
    open positions and every other asset with where it started plus the booked flows."""
    settings = day_settings(tmp_path, "v2")
    async with build(settings, RunOptions(stop_after=DAY / 2), clock=ManualClock(START)) as rt:
        summary = await rt.run()
        assert summary.consistent
        assert summary.mismatches == []
        assets = {line.asset for line in summary.reconciled}
        assert assets == set(settings.token_map())  # every token of the list, SOL included
        # The chain out of step with the books: tokens nobody booked, and cash gone.
        owner = rt.signer.pubkey()
        ledger = rt.network.ledger
        bonk = Pubkey.from_string(settings.token("BONK").mint)
        usdc = Pubkey.from_string(settings.token("USDC").mint)
        ledger.set_token_balance(owner, bonk, ledger.token_balance(owner, bonk) + 12_345)
        ledger.set_token_balance(owner, usdc, ledger.token_balance(owner, usdc) - 1_000_000)
        after = await rt.summary(summary.started)
    assert not after.consistent
    wrong = {(line.asset, line.difference) for line in after.mismatches}
    assert wrong == {("BONK", 12_345), ("USDC", -1_000_000)}


async def test_a_restarted_world_never_starts_behind_what_its_books_recorded(tmp_path):
    """The ledger's time moves only when it is used, so a world killed between ticks could stop
    behind the bot's last booked step; its time then ran backwards on the next start (orders
    dated after "now", and the run's reconciliation counted recovered fills as this run's)."""
    settings = day_settings(tmp_path, "v2")
    async with build(settings, RunOptions(stop_after=3600), clock=ManualClock(START)) as rt:
        await rt.run()
        async with rt.db.session() as s:
            ahead = (await s.scalars(select(OrderRow))).first()
            assert ahead is not None
            ahead.updated_at = utc_from_timestamp(START + 3 * 3600)  # booked after the save
    saved = SimNetwork.saved_time(settings.sim_state_path)
    assert saved is not None
    assert saved < START + 3 * 3600
    async with build(settings, RunOptions(stop_after=60)) as rt:
        assert rt.clock.now() >= START + 3 * 3600
