"""The shared rules: the backtester's compiled versions and live trading's interpreted ones must
give the same answers bit for bit, and a live process must not load numba."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solbot import risk
from solbot.domain import RiskLimits
from solbot.execution import costs, exits
from solbot.rules import compiled, rule

prices = st.floats(min_value=1e-9, max_value=1e9, allow_nan=False)
fractions = st.floats(min_value=0.0, max_value=0.9, allow_nan=False)
levels = st.one_of(st.just(math.nan), prices)
times = st.floats(min_value=0.0, max_value=4e9, allow_nan=False)
reasons = st.sampled_from([1, 2, 3])


def same(a: object, b: object) -> bool:
    """Equal, with NaN equal to NaN and tuples compared item by item."""
    if isinstance(a, tuple):
        return (
            isinstance(b, tuple)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def both(func, *args):
    return func(*args), compiled(func)(*args)


@settings(max_examples=300, deadline=None)
@given(prices, prices, prices, fractions)
def test_costs_agree(price, value, liquidity, slippage):
    assert same(*both(costs.buy_price, price, value, liquidity, slippage))
    assert same(*both(costs.sell_price, price, value, liquidity, slippage))
    assert same(*both(costs.buy_quantity, value, price, slippage))
    assert same(*both(costs.sale_proceeds, value, price, slippage))


@settings(max_examples=300, deadline=None)
@given(prices, prices, prices, levels, reasons, levels, fractions, prices)
def test_exit_rules_agree(open_, high, low, stop, owner, target, trail, highest):
    assert same(*both(exits.stop_level, stop, highest, trail))
    assert same(*both(exits.price_exit, open_, high, low, stop, owner, target))
    assert same(*both(exits.levels_from_fill, open_, trail, trail / 2))
    assert same(*both(exits.held_too_long, low, high, open_))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(prices, times, st.floats(-1e6, 1e6)), min_size=1, max_size=30),
    st.integers(0, 6),
)
def test_breakers_agree_over_a_sequence_of_marks_and_trades(steps, open_positions):
    """The same sequence of marks, trades and entry checks leaves both state vectors equal."""
    limits = risk.limits_vector(
        RiskLimits(
            position_size_pct=10,
            max_position_pct=20,
            max_daily_loss_pct=5,
            max_open_positions=3,
            cooldown_losses=2,
            cooldown_minutes=30,
            max_drawdown_pct=10,
            drawdown_pause_hours=2,
        )
    )
    live, backtest = np.zeros(risk.STATE_SIZE), np.zeros(risk.STATE_SIZE)
    risk.new_state(live, 1000.0, 0.0)
    compiled(risk.new_state)(backtest, 1000.0, 0.0)
    now = 0.0
    for equity, dt, pnl in steps:
        now += dt / 1000
        assert risk.mark(live, limits, equity, now) == compiled(risk.mark)(
            backtest, limits, equity, now
        )
        assert risk.record_trade(live, limits, pnl, now) == compiled(risk.record_trade)(
            backtest, limits, pnl, now
        )
        assert risk.check_entry(live, limits, now, open_positions) == compiled(risk.check_entry)(
            backtest, limits, now, open_positions
        )
        assert risk.entry_budget(limits, equity, pnl, 1.0) == compiled(risk.entry_budget)(
            limits, equity, pnl, 1.0
        )
        np.testing.assert_array_equal(live, backtest)


def test_compiled_needs_a_marked_rule_and_is_made_once():
    def plain(x: float) -> float:
        return x

    with pytest.raises(TypeError, match="not marked with @rule"):
        compiled(plain)
    marked = rule(cache=False)(plain)
    assert marked is plain
    assert compiled(marked) is compiled(marked)
    assert compiled(marked)(2.5) == 2.5


def test_live_trading_does_not_load_numba():
    """The bot's own modules (the loop, the roster, the sim, the CLI) leave numba to the
    backtest: its import costs ~65 MB of every live process."""
    code = (
        "import sys, solbot.engine, solbot.services.roster, solbot.runner, solbot.sim.network, "
        "solbot.cli.app; print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
