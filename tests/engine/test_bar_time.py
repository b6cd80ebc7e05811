"""The live loop's rules run on bar time, as the backtest's do (issue 13: one breaker timing, one
sizing point, one trailing rule).

A tick comes some seconds after a candle's close; the backtest only knows the close. So the live
loop decides entries, marks the breakers and sizes at the close's time and prices, counts a
position's holding time and a realised loss from the open of the bar it filled in, and ratchets
a trailing stop from closed candles' highs only. Each test below is a path on which the old
live loop (tick time, tick prices, tick highs) did something the backtest does not.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from solbot.domain import CandleSeries, ExitRules, RiskLimits, Signals
from solbot.events import Event
from solbot.risk import S_HWM
from solbot.store.tables import OrderRow, PositionRow

from .small_world import START, TF, EnterOnEveryBar, SmallWorld, small_world

WIDE = RiskLimits(position_size_pct=10.0, max_position_pct=10.0, max_open_positions=5)


async def world_of(tmp_path: Path, prices: dict[str, float], **kwargs) -> SmallWorld:
    return await small_world(
        tmp_path,
        users=1,
        symbols=tuple(prices),
        venue=lambda network, _clock: network.jupiter_in_process(),
        prices=prices,
        **kwargs,
    )


async def tick_at(world: SmallWorld, t: float, **prices: float) -> None:
    world.prices.update(prices)
    world.clock.advance(t - world.clock.now())
    await world.engine.tick()


async def positions(world: SmallWorld) -> list[PositionRow]:
    async with world.db.session() as s:
        return list(await s.scalars(select(PositionRow).order_by(PositionRow.entry_time)))


async def test_an_entry_is_decided_at_the_close_not_at_the_tick_after_it(tmp_path: Path) -> None:
    events: list[Event] = []
    limits = RiskLimits(cooldown_losses=1, cooldown_minutes=1.0)
    world = await world_of(tmp_path, {"JUP": 1.0}, limits=limits, on_event=events.append)
    # A loss 5 s into the first bar: the cooldown holds until 5 s after that bar's close.
    world.engine.accounts[0].gate.record_trade(-1.0, START + 5)
    await tick_at(world, START)
    await tick_at(world, START + TF.seconds + 10)  # the close's tick, after the cooldown ended
    await world.db.dispose()

    # At the close (the backtest's moment) the cooldown still held: no entry.
    assert world.engine.stats.entries == 0
    assert world.engine.stats.blocked == {"cooldown": 1}


async def test_a_trailing_stop_ratchets_from_closed_candles_only(tmp_path: Path) -> None:
    exits = ExitRules(stop_loss_pct=50.0, trailing_stop_pct=10.0)
    world = await world_of(tmp_path, {"JUP": 1.0}, limits=WIDE, exits=exits)
    bar = TF.seconds
    await tick_at(world, START)
    await tick_at(world, START + bar)  # the entry, at about 1.0
    await tick_at(world, START + bar + 10, JUP=1.2)
    await tick_at(world, START + bar + 20, JUP=1.05)  # 12.5 % under this bar's high
    held = await positions(world)
    assert [p.exit_reason for p in held] == [None]  # the high is not the level's until the close

    await tick_at(world, START + 2 * bar, JUP=1.05)  # the close: the level is 1.08 from now
    await world.db.dispose()
    first = (await positions(world))[0]
    assert first.exit_reason == "trailing_stop"
    assert first.exit_time is not None
    assert START + 2 * bar <= first.exit_time.timestamp() < START + 2 * bar + 10  # its fill


class EnterAtTen(EnterOnEveryBar):
    """Enters a token whose candle closed at 10 or more."""

    name = "enter_at_ten"

    def compute(self, series: CandleSeries) -> Signals:
        every = super().compute(series)
        return replace(every, entry=series.close >= 10.0)


async def test_breakers_mark_and_entries_size_at_the_close(tmp_path: Path) -> None:
    world = await world_of(tmp_path, {"JUP": 10.0, "WIF": 1.0}, limits=WIDE, strategy=EnterAtTen())
    bar = TF.seconds
    await tick_at(world, START)
    await tick_at(world, START + bar)  # JUP enters with 10 % of 10,000 USDC
    await tick_at(world, START + bar + 10, JUP=20.0)  # a spike inside the bar
    await tick_at(world, START + bar + 30, JUP=10.0, WIF=10.0)
    # The close (JUP 10, WIF 10: WIF enters), and a tick already far from it (JUP 15).
    await tick_at(world, START + 2 * bar + 5, JUP=15.0)
    await world.db.dispose()

    account = world.engine.accounts[0]
    async with world.db.session() as s:
        orders = list(await s.scalars(select(OrderRow).order_by(OrderRow.created_at)))
    assert [o.token for o in orders] == ["JUP", "WIF"]
    jup = (await positions(world))[0]
    cash = 10_000.0 - orders[0].amount_in / 1e6
    at_close = cash + float(jup.quantity) / 1e6 * 10.0
    # Sized from the value at the close (about 9,997), not at the tick (about 14,990).
    assert abs(orders[1].amount_in - 0.10 * at_close * 1e6) <= 1  # atoms, rounded down
    # The high-water mark saw the closes only: neither the spike nor the tick after the close.
    assert account.gate.state()[S_HWM] == 10_000.0


async def test_holding_time_counts_from_the_bar_of_the_fill(tmp_path: Path) -> None:
    exits = ExitRules(stop_loss_pct=50.0, max_hold_minutes=2 * TF.seconds / 60)
    world = await world_of(tmp_path, {"JUP": 1.0}, limits=WIDE, exits=exits)
    bar = TF.seconds
    await tick_at(world, START)
    await tick_at(world, START + bar + 30)  # the entry, 30 s into its bar
    await tick_at(world, START + 2 * bar + 10)
    await tick_at(world, START + 3 * bar + 10)  # two bars after the bar of the fill closed
    await world.db.dispose()

    first = (await positions(world))[0]
    assert first.exit_reason == "max_hold"
    assert first.exit_time is not None
    assert START + 3 * bar + 10 <= first.exit_time.timestamp() < START + 3 * bar + 20
