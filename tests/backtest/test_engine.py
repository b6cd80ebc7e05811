"""The backtest kernel on cases worked out by hand."""

import math

import numpy as np
import pytest

from solbot.backtest.engine import align, backtest_strategy, simulate
from solbot.backtest.result import BacktestConfig
from solbot.domain import BlockReason, CandleSeries, ExitReason, ExitRules, RiskLimits, Timeframe
from solbot.market.synth import synth_candles
from solbot.strategy.registry import load_strategy

H = 3600
# Three trades, worked out by hand in test_three_trades_close_fills.
BARS = [
    (100, 101, 99, 100),  # 0: entry signal
    (100, 110, 95, 105),  # 1
    (105, 121, 104, 118),  # 2: high 121 >= target 120
    (118, 119, 100, 100),  # 3: entry signal
    (95, 96, 80, 85),  # 4: low 80 <= stop 90
    (85, 90, 84, 88),  # 5: entry signal
    (90, 95, 89, 92),  # 6: exit signal
    (92, 93, 91, 92),  # 7
]


def ohlc(bars):
    return [np.array(col, dtype=np.float64) for col in zip(*bars, strict=True)]


def flags(n, *idx):
    a = np.zeros(n, dtype=bool)
    a[list(idx)] = True
    return a


def free_risk(**overrides):
    base = dict(
        position_size_pct=50.0,
        max_position_pct=50.0,
        max_daily_loss_pct=100.0,
        max_drawdown_pct=100.0,
        max_open_positions=5,
        cooldown_losses=0,
        fee_reserve_sol=0.0,
    )
    base.update(overrides)
    return RiskLimits(**base)


def config(**overrides):
    base = dict(
        initial_cash=1_000.0,
        fee_bps=0.0,
        slippage_bps=0.0,
        price_impact=False,
        fill="close",
        risk=free_risk(),
        exits=ExitRules(stop_loss_pct=10.0, take_profit_pct=20.0),
    )
    base.update(overrides)
    return BacktestConfig(**base)


def run(bars, entries, exits, cfg, **kw):
    o, h, lo, c = ohlc(bars)
    times = np.arange(len(bars), dtype=np.int64) * H
    return simulate(times, o, h, lo, c, entries, exits, config=cfg, timeframe=Timeframe.H1, **kw)


def test_three_trades_close_fills():
    """By hand, cash 1000, 50% per position, no costs, stop -10%, target +20%:
    bar 0 buys 500/100 = 5 at 100 (stop 90, target 120);
    bar 2 reaches 120: sells 5 at 120 = 600, pnl +100, cash 1100;
    bar 3 buys 550/100 = 5.5 at 100; bar 4 opens 95, low 80: stop at 90 = 495, pnl -55, cash 1045;
    bar 5 buys 522.5/88 = 5.9375 at 88; bar 6 exit signal at 92 = 546.25, pnl +23.75;
    final 1068.75."""
    r = run(BARS, flags(8, 0, 3, 5), flags(8, 6), config())
    t = r.trades
    assert list(t.pnl) == pytest.approx([100.0, -55.0, 23.75])
    assert list(t.reason) == [ExitReason.TAKE_PROFIT, ExitReason.STOP_LOSS, ExitReason.SIGNAL]
    assert list(t.entry_index) == [0, 3, 5]
    assert list(t.exit_index) == [2, 4, 6]
    assert list(t.quantity) == pytest.approx([5.0, 5.5, 5.9375])
    assert list(t.exit_price) == pytest.approx([120.0, 90.0, 92.0])
    assert list(r.equity) == pytest.approx([1000, 1025, 1100, 1100, 1045, 1045, 1068.75, 1068.75])
    assert r.final_equity == pytest.approx(1068.75)
    assert list(r.exposure) == [True, True, False, True, False, True, False, False]
    assert list(t.entry_time) == [H, 4 * H, 6 * H]  # close fills happen at the bar's close


def test_three_trades_next_open_fills():
    """Same signals, filled at the next open; a stop is live from the fill on:
    bar 1 opens 100: buys 5 (budget 500 from the value at bar 0's close), stop 90, target 120;
    bar 2 high 121: target 120, +100, cash 1100;
    bar 3's signal sizes 550 from the close value; bar 4 opens 95: buys 550/95, stop 85.5;
    bar 4's own low 80 (after the fill) hits 85.5: sells at 85.5 = 495, pnl -55, cash 1045;
    bar 5's signal sizes 522.5; bar 6 opens 90: buys 522.5/90;
    bar 6's exit signal fills at bar 7's open 92: 534.11..., pnl +11.61...; final 1056.61..."""
    r = run(BARS, flags(8, 0, 3, 5), flags(8, 6), config(fill="next_open"))
    t = r.trades
    q3 = 522.5 / 90.0
    assert list(t.entry_index) == [1, 4, 6]
    assert list(t.exit_index) == [2, 4, 7]
    assert list(t.entry_price) == pytest.approx([100.0, 95.0, 90.0])
    assert list(t.exit_price) == pytest.approx([120.0, 85.5, 92.0])
    assert list(t.pnl) == pytest.approx([100.0, -55.0, q3 * 92.0 - 522.5])
    assert list(t.reason) == [ExitReason.TAKE_PROFIT, ExitReason.STOP_LOSS, ExitReason.SIGNAL]
    assert list(t.entry_time) == [H, 4 * H, 6 * H]  # next-open fills happen at the bar's open
    assert r.final_equity == pytest.approx(1045.0 - 522.5 + q3 * 92.0)
    assert r.final_equity == pytest.approx(1056.6111, abs=1e-4)


def test_stop_is_active_from_the_bar_after_entry():
    """The entry bar's own low (below the stop) must not stop out a close-filled entry."""
    bars = [(100, 100, 50, 100), (100, 101, 99, 100), (100, 100, 89, 95)]
    r = run(bars, flags(3, 0), flags(3), config())
    assert list(r.trades.exit_index) == [2]
    assert r.trades.reason[0] == ExitReason.STOP_LOSS


def test_next_open_fill_is_stopped_inside_its_own_bar():
    """Bought at bar 1's open (100); bar 1's low of 90 comes after the fill: stopped at 95."""
    bars = [(100, 100, 100, 100), (100, 101, 90, 99), (99, 99, 99, 99)]
    cfg = config(fill="next_open", exits=ExitRules(stop_loss_pct=5.0))
    r = run(bars, flags(3, 0), flags(3), cfg)
    assert list(r.trades.entry_index) == [1]
    assert list(r.trades.exit_index) == [1]
    assert r.trades.reason[0] == ExitReason.STOP_LOSS
    assert r.trades.exit_price[0] == pytest.approx(95.0)


def test_trade_capacity_bound_holds_when_every_bar_signals():
    """One trade per bar at most (next-open fill, stopped in the same bar), never more."""
    bars = [(100, 100, 90, 100)] * 6
    cfg = config(fill="next_open", risk=free_risk(max_open_positions=1))
    r = run(bars, flags(6, 0, 1, 2, 3, 4, 5), flags(6), cfg)
    assert len(r.trades) == 5
    assert list(r.trades.entry_index) == [1, 2, 3, 4, 5]


def test_fees_and_slippage_on_both_fills():
    """fee 1%, slippage 1%: buy 500 at 101 -> 500/(101*1.01) tokens; sell at 99*(1-1%) fee."""
    bars = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 100, 100)]
    r = run(bars, flags(3, 0), flags(3, 1), config(fee_bps=100.0, slippage_bps=100.0))
    qty = 500.0 / (101.0 * 1.01)
    proceeds = qty * 99.0 * 0.99
    assert r.trades.quantity[0] == pytest.approx(qty)
    assert r.trades.pnl[0] == pytest.approx(proceeds - 500.0)
    assert r.trades.fees[0] == pytest.approx(500.0 - 500.0 / 1.01 + qty * 99.0 * 0.01)
    assert r.final_equity == pytest.approx(500.0 + proceeds)


def test_price_impact_uses_each_tokens_liquidity():
    bars = [(100, 100, 100, 100)] * 3
    cfg = config(price_impact=True)
    r = run(bars, flags(3, 0), flags(3, 1), cfg, liquidity=np.array([10_000.0]))
    assert r.trades.entry_price[0] == pytest.approx(100.0 * (1 + 500.0 / 10_000.0))
    qty = 500.0 / r.trades.entry_price[0]
    assert r.trades.exit_price[0] == pytest.approx(100.0 / (1 + qty * 100.0 / 10_000.0))
    assert r.trades.pnl[0] < 0  # a round trip through a pool costs money


def test_trailing_stop_ratchets_on_previous_highs():
    bars = [
        (100, 100, 100, 100),  # entry at 100
        (100, 120, 99, 118),  # highest becomes 120 after this bar
        (118, 119, 107, 110),  # trail 10% of 120 = 108: low 107 hits it
    ]
    cfg = config(exits=ExitRules(stop_loss_pct=50.0, trailing_stop_pct=10.0))
    r = run(bars, flags(3, 0), flags(3), cfg)
    assert r.trades.reason[0] == ExitReason.TRAILING_STOP
    assert r.trades.exit_price[0] == pytest.approx(108.0)


def test_max_hold_exits_at_the_close():
    bars = [(100, 100, 100, 100 + i) for i in range(6)]
    cfg = config(exits=ExitRules(stop_loss_pct=0.0, max_hold_minutes=180.0))
    r = run(bars, flags(6, 0), flags(6), cfg)
    assert r.trades.reason[0] == ExitReason.MAX_HOLD
    assert r.trades.exit_index[0] == 3
    assert r.trades.exit_price[0] == 103.0


def test_strategy_stop_overrides_the_default_distance():
    bars = [(100, 100, 100, 100), (100, 100, 97, 99), (99, 99, 99, 99)]
    stops = np.array([0.02, np.nan, np.nan])
    r = run(bars, flags(3, 0), flags(3), config(), stop_loss=stops)
    assert r.trades.reason[0] == ExitReason.STOP_LOSS
    assert r.trades.exit_price[0] == pytest.approx(98.0)


def test_open_position_at_the_end_is_marked_without_exit_costs():
    bars = [(100, 100, 100, 100), (100, 100, 100, 110)]
    r = run(bars, flags(2, 0), flags(2), config(fee_bps=50.0))
    assert r.trades.reason[0] == ExitReason.END_OF_DATA
    assert r.trades.exit_value[0] == pytest.approx(r.final_equity - 500.0)


def two_token_run(cfg, b_missing=()):
    n = 6
    times = np.arange(n, dtype=np.int64) * H
    a = np.array([100.0, 100, 100, 100, 100, 100])
    b = np.array([10.0, 10, 10, 10, 10, 10])
    b[list(b_missing)] = np.nan
    prices = np.stack([a, b], axis=1)
    entries = np.zeros((n, 2), dtype=bool)
    entries[0, :] = True
    entries[2, :] = True
    return simulate(
        times,
        prices,
        prices,
        prices,
        prices,
        entries,
        np.zeros((n, 2), dtype=bool),
        config=cfg,
        tokens=("A", "B"),
        timeframe=Timeframe.H1,
    )


def test_shared_portfolio_sizes_each_token_from_the_same_value():
    r = two_token_run(config(risk=free_risk(position_size_pct=25.0)))
    assert list(r.trades.entry_value) == pytest.approx([250.0, 250.0])
    assert r.blocked == {}


def test_max_open_positions_blocks_with_a_reason():
    """A takes the only slot at bar 0; B's signals at bars 0 and 2 are both refused."""
    r = two_token_run(config(risk=free_risk(max_open_positions=1)))
    assert len(r.trades) == 1
    assert r.trades.token[0] == 0
    assert r.blocked == {"max open positions": 2}
    # each refusal on its own row: the close that decided it (bars 0 and 2), the token, why
    hour = Timeframe.H1.seconds
    assert list(r.refusals.time) == [int(r.open_time[0]) + hour, int(r.open_time[2]) + hour]
    assert list(r.refusals.token) == [1, 1]
    assert set(r.refusals.reason) == {int(BlockReason.MAX_OPEN_POSITIONS)}


def test_token_without_a_bar_does_nothing_until_it_has_one():
    r = two_token_run(config(), b_missing=(0, 1))
    assert list(r.trades.token) == [0, 1]
    assert list(r.trades.entry_index) == [0, 2]


def test_daily_loss_breaker_blocks_entries_in_the_backtest():
    """A 60% crash trips the 5% daily limit: the next entry signal that day is blocked."""
    bars = [(100, 100, 100, 100), (100, 100, 40, 40), (40, 40, 40, 40), (40, 40, 40, 40)]
    cfg = config(risk=free_risk(max_daily_loss_pct=5.0), exits=ExitRules(stop_loss_pct=0.0))
    r = run(bars, flags(4, 0, 3), flags(4, 2), cfg)
    assert len(r.trades) == 1
    assert r.blocked == {"daily loss": 1}


def test_cooldown_after_losses_in_the_backtest():
    bars = [(100, 100, 100, 100), (90, 90, 90, 90)] * 3
    cfg = config(
        risk=free_risk(cooldown_losses=2, cooldown_minutes=600.0),
        exits=ExitRules(stop_loss_pct=0.0),
    )
    r = run(bars, flags(6, 0, 2, 4), flags(6, 1, 3, 5), cfg)
    assert len(r.trades) == 2
    assert r.blocked == {"cooldown": 1}
    assert list(r.refusals.reason) == [int(BlockReason.COOLDOWN)]


def test_sol_quote_keeps_the_fee_reserve():
    bars = [(100, 100, 100, 100)] * 3
    risk = free_risk(position_size_pct=100.0, max_position_pct=100.0, fee_reserve_sol=0.05)
    r = run(bars, flags(3, 0), flags(3), config(initial_cash=1.0, quote="SOL", risk=risk))
    assert r.trades.entry_value[0] == pytest.approx(0.95)
    r_usdc = run(bars, flags(3, 0), flags(3), config(initial_cash=1.0, risk=risk))
    assert r_usdc.trades.entry_value[0] == pytest.approx(1.0)


def test_no_signals_no_trades_flat_equity():
    r = run(BARS, flags(8), flags(8), config())
    assert len(r.trades) == 0
    assert np.all(r.equity == 1_000.0)


def test_align_puts_tokens_on_the_union_of_times():
    def series(times, price):
        t = np.array(times, dtype=np.int64)
        p = np.full(len(t), price)
        return CandleSeries(Timeframe.H1, t, p, p, p, p, p)

    index, cols = align({"A": series([0, H, 3 * H], 1.0), "B": series([H, 2 * H], 2.0)})
    assert list(index) == [0, H, 2 * H, 3 * H]
    assert math.isnan(cols["close"][0, 1])
    assert cols["close"][1, 1] == 2.0
    assert math.isnan(cols["close"][2, 0])


def test_bad_shapes_are_refused():
    o, h, lo, c = ohlc(BARS)
    with pytest.raises(ValueError, match="shape"):
        simulate(np.arange(8) * H, o, h, lo, c[:5], flags(8), flags(8), config=config())
    with pytest.raises(ValueError, match="increasing"):
        simulate(np.zeros(8, dtype=np.int64), o, h, lo, c, flags(8), flags(8), config=config())


def test_trade_from_warms_up_on_earlier_bars_and_reports_from_there():
    """Bars before `trade_from` feed the indicators but take no trade and leave the report."""
    series = synth_candles(Timeframe.H1, 3000, seed=5, start_price=1.0, start_time=0)
    start = int(series.open_time[1000])
    strategy = load_strategy("ema_trend", {})
    cfg = config(fill="next_open", risk=free_risk(position_size_pct=10.0))
    full = backtest_strategy(strategy, {"X": series}, cfg)
    warm = backtest_strategy(strategy, {"X": series}, cfg, trade_from=start)
    assert warm.open_time[0] == start
    assert len(warm.equity) == len(series) - 1000
    assert len(warm.trades) > 0
    assert np.all(warm.trades.entry_time >= start)
    assert np.all(warm.open_time[warm.trades.entry_index] == warm.trades.entry_time)
    # The same signals as the full run from `start` on (the indicators were warm in both).
    first_full = full.trades.entry_time[full.trades.entry_time >= start][0]
    assert warm.trades.entry_time[0] >= first_full
