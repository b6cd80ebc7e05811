"""Backtest–live parity: the candles a sim run traded on, backtested with the same strategy and
risk settings, give the same trades (token, entry bar, exit bar, size, reason).

Live trading fills an entry at the first tick after the signal candle closes, which is the next
candle's first tick (its open): the backtester's `next_open`; a `close` backtest prices the same
fill at the close before it. The maker prices with the very `execution.costs` functions the
backtester uses, at the same configured fee and slippage, and the live rules run on bar time
(`solbot.engine`), so the trades are the same and the sizes differ by what the prices do: a
stop or target fills at its level in the backtest and at the first tick past it live.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from solbot.backtest.engine import backtest_strategy
from solbot.backtest.result import BacktestConfig
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.domain import CandleSeries, ExitReason
from solbot.events import Event
from solbot.execution.exits import PRICE_EXITS
from solbot.market.store import CandleStore
from solbot.market.synth import synth_candles
from solbot.risk import tier
from solbot.runner import build
from solbot.runtime import RunOptions
from solbot.sim.replay import Replay
from solbot.store.tables import PositionRow
from solbot.strategy.registry import load_strategy

from .test_sim_day import START, day_settings

# entry bar, token, exit bar, reason, quantity, PnL in the quote and the quote received per
# token sold, fees paid (None while open)
Trade = tuple[int, str, int | None, str, float, float | None, float | None]
TIERS = ("conservative", "aggressive")
FILLS = ("next_open", "close")


@dataclass
class LiveDay:
    """What a simulated day of the live loop left: its positions, events and built candles."""

    settings: Settings
    positions: list[PositionRow]
    events: list[Event]
    series: dict[str, CandleSeries]
    liquidity: dict[str, float]
    decimals: dict[str, int]
    start: int  # the first tick: trades from here on are compared
    end: int  # the end of the last candle: the backtest's data stops there


async def live_day(tmp_path: Path, seed: int, risk: str, hours: float = 24.0) -> LiveDay:
    settings = day_settings(tmp_path, "v2").model_copy(update={"sim_seed": seed, "risk_tier": risk})
    return await live_run(settings, RunOptions(stop_after=hours * 3600.0), START)


async def live_run(settings: Settings, options: RunOptions, start: float) -> LiveDay:
    """The live loop from `start` for `options.stop_after` seconds, on a manual clock."""
    assert options.stop_after is not None
    clock = ManualClock(start)
    events: list[Event] = []
    async with build(settings, options, events.append, clock) as runtime:
        await runtime.run()
        tokens = runtime.engine.tokens
        async with runtime.db.session() as s:
            live = (await s.scalars(select(PositionRow).order_by(PositionRow.entry_time))).all()
    # The candles the bot built from its own ticks, as stored, over the live period (plus the
    # history it warmed up on).
    store = CandleStore(settings.built_candles_dir())
    end = int(start + options.stop_after)
    return LiveDay(
        settings,
        [p for p in live if p.entry_time.timestamp() < end],  # the last tick's: no next bar
        events,
        {t.symbol: store.load(t.symbol, settings.timeframe, None, end) for t in tokens},
        {t.symbol: t.liquidity_usd for t in tokens},
        {t.symbol: t.decimals for t in tokens},
        int(start),
        end,
    )


def backtest_of(day: LiveDay, fill: str) -> tuple[list[Trade], dict[str, int]]:
    """The day's candles backtested with the run's strategy, risk, exits and costs."""
    settings = day.settings
    config = BacktestConfig(  # the costs the sim's maker charged: the same settings
        initial_cash=settings.sim_wallet_usdc,
        fee_bps=settings.fee_bps,
        slippage_bps=settings.slippage_bps,
        price_impact=True,
        fill=fill,  # type: ignore[arg-type]
        risk=tier(settings.risk_tier),
        exits=settings.exit_rules(),
    )
    result = backtest_strategy(
        load_strategy(settings.strategy, settings.strategy_params),
        day.series,
        config,
        day.liquidity,
        trade_from=day.start,
    )
    t = result.trades
    trades = []
    for i in np.flatnonzero(t.entry_time >= day.start):
        done = t.reason[i] != ExitReason.END_OF_DATA
        trades.append(
            (
                int(t.entry_time[i]),
                result.tokens[int(t.token[i])],
                int(t.exit_time[i]) if done else None,
                ExitReason(int(t.reason[i])).name.lower(),
                float(t.quantity[i]),
                float(t.pnl[i]) if done else None,
                float(t.exit_value[i] / t.quantity[i]) if done else None,
            )
        )
    trades.sort()
    return trades, result.blocked


def lived(day: LiveDay) -> list[Trade]:
    """The run's positions as trades; one it left on the last tick, after the last candle the
    backtest has, is open at the end of the data, as there."""
    tf = day.settings.timeframe
    trades = []
    for p in day.positions:
        exit_bar = tf.floor(int(p.exit_time.timestamp())) if p.exit_time else None
        done = exit_bar is not None and exit_bar < day.end
        trades.append(
            (
                tf.floor(int(p.entry_time.timestamp())),
                p.token,
                exit_bar if done else None,
                (p.exit_reason or "") if done else ExitReason.END_OF_DATA.name.lower(),
                float(p.quantity) / 10 ** day.decimals[p.token],
                float(p.pnl) if done and p.pnl is not None else None,
                _net_exit_price(p) if done else None,
            )
        )
    return sorted(trades)


def _net_exit_price(p: PositionRow) -> float | None:
    """The quote received per token sold: the position's exit price (quote units per token)."""
    return None if p.exit_price is None else float(p.exit_price)


def assert_parity(day: LiveDay, fill: str) -> None:
    """Against a `next_open` backtest (what live does: it fills at the tick after the close):
    the same trades (entry bar, token, exit bar, reason) and sizes within the modelled costs.

    A `close` backtest prices each fill at the close before that tick, a tick's move away, and
    stops and targets are measured from the fill: so the same entries, and the same exits up
    to the first one a price exit decided at a level the other side does not share. After it
    the books differ (cash, a loss streak), so the comparison ends there."""
    live = lived(day)
    tested, blocked = backtest_of(day, fill)
    bar = day.settings.timeframe.seconds

    def why() -> str:  # only when an assertion fails: it names the first difference
        return first_divergence(live, tested, day.events, blocked, bar)

    if fill == "close":
        n = next(
            (i for i, (a, b) in enumerate(zip(live, tested, strict=False)) if a[:4] != b[:4]),
            None,
        )
        if n is not None:
            a, b = live[n], tested[n]
            if a[:2] == b[:2]:  # the same entry, left by a stop or target at its own level
                assert {a[3], b[3]} & PRICE_EXITS, why()
            else:  # or a breaker's loss streak, counted from a trade the prices lost or won
                flipped = [
                    _sign(x[5]) != _sign(y[5]) for x, y in zip(live, tested[:n], strict=False)
                ]
                assert any(flipped), why()
            live, tested = live[:n], tested[:n]
    assert [row[:4] for row in live] == [row[:4] for row in tested], why()
    tolerance = 0.005 if fill == "next_open" else 0.03  # a tick's move, from close to open
    for a, b in zip(live, tested, strict=True):
        assert a[4] == pytest.approx(b[4], rel=tolerance)
    if fill == "next_open":
        for a, b in zip(live, tested, strict=True):
            assert_exit_price(a, b)


def assert_exit_price(live: Trade, tested: Trade) -> None:
    """One fill model, two clocks: a stop fills live at the first tick past its level, never
    above what the backtest books at the level (or at the open, on a gap); a target never
    below; exits the close decided fill at the same next open on both sides. Within 0.1 %: the
    price impact of sizes that differ by up to 0.5 %."""
    reason, live_price, tested_price = live[3], live[6], tested[6]
    if live_price is None or tested_price is None:
        return
    slack = 0.001 * tested_price
    if reason in ("stop_loss", "trailing_stop"):
        assert live_price <= tested_price + slack, (live, tested)
    elif reason == "take_profit":
        assert live_price >= tested_price - slack, (live, tested)
    else:
        assert live_price == pytest.approx(tested_price, rel=0.001), (live, tested)


def _sign(pnl: float | None) -> int:
    return 0 if pnl is None else (pnl > 0) - (pnl < 0)


# Each of these failed before the live loop took the kernel's order (issue 13): seed 5 lost a
# BONK entry to a cooldown that a stop on the same tick started before the entry live (the
# kernel approves entries at the close), seed 2 cooled down in the backtest only, since two
# exits on one tick were booked in another order (the order decides the loss streak).
@pytest.mark.parametrize(("seed", "risk"), [(5, "aggressive"), (2, "conservative")])
async def test_a_sim_day_backtests_to_the_same_trades(tmp_path, seed, risk):
    day = await live_day(tmp_path, seed, risk)
    assert len(day.positions) >= 3
    for fill in FILLS:
        assert_parity(day, fill)


async def test_a_replay_of_recorded_candles_backtests_to_the_same_trades(tmp_path):
    """`solbot run --replay`: the live loop on a recorded path (a day of 5-minute candles of
    two tokens after the warm-up), against a backtest of the candles it built."""
    settings = day_settings(tmp_path, "v2")
    tf = settings.timeframe
    warm_up = load_strategy(settings.strategy, settings.strategy_params).samples_needed
    bars = warm_up + 288
    first = int(START) - bars * tf.seconds
    series = {
        symbol: synth_candles(tf, bars, seed, price, first)
        for symbol, seed, price in (("JUP", 11, 0.8), ("BONK", 12, 0.00002))
    }
    settings = settings.model_copy(
        update={"trade_tokens": list(series), "poll_seconds": tf.seconds / 12}
    )
    replay = Replay.over(series, tf, warm_up)
    options = RunOptions(stop_after=replay.end - replay.start, replay=replay)
    day = await live_run(settings, options, replay.start)
    assert len(day.positions) >= 5
    for fill in FILLS:
        assert_parity(day, fill)


# The whole sweep of issue 13: `pytest -m sweep tests/engine/test_parity.py -n auto` (about
# 3 s of one core per run); CI runs the two above.
@pytest.mark.sweep
@pytest.mark.parametrize("risk", TIERS)
@pytest.mark.parametrize("seed", range(1, 51))
async def test_every_seed_backtests_to_the_same_trades(tmp_path, seed, risk):
    day = await live_day(tmp_path, seed, risk)
    for fill in FILLS:
        assert_parity(day, fill)


def first_divergence(
    lived: list[Trade],
    backtested: list[Trade],
    events: list[Event],
    blocked: dict[str, int],
    bar: int,
) -> str:
    """The first trade the two sides disagree on, in time order, with what each side did around
    it: the live loop's events (breakers, refusals, fills) within two bars, and the backtest's
    refusals by reason. What a reader needs to tell a rule difference from noise."""
    n = next(
        (i for i, (a, b) in enumerate(zip(lived, backtested, strict=False)) if a[:4] != b[:4]),
        min(len(lived), len(backtested)),
    )
    live = lived[n] if n < len(lived) else None
    tested = backtested[n] if n < len(backtested) else None
    at = min(x[0] for x in (live, tested) if x is not None)
    around = [
        f"  {int(e.time)} {e.kind}: {e.text}"
        for e in events
        if at - 2 * bar <= e.time <= at + 2 * bar and e.kind not in ("chain", "prices")
    ]
    return "\n".join(
        [
            f"first diverging trade (#{n + 1}, after {n} that agree):",
            f"  live:     {live}",
            f"  backtest: {tested}",
            f"live events within two bars of {at}:",
            *around,
            f"backtest refusals over the day: {blocked}",
        ]
    )
