"""Exit rules: which one fires, at what price, and in which order when a bar touches several."""

import math

import pytest

from solbot.domain import Candle, ExitReason, Timeframe
from solbot.execution.exits import (
    PositionLevels,
    check_bar,
    held_too_long,
    levels_from_fill,
    price_exit,
    stop_level,
    tick_exit,
)

STOP = int(ExitReason.STOP_LOSS)
TARGET = int(ExitReason.TAKE_PROFIT)
TRAIL = int(ExitReason.TRAILING_STOP)
NAN = math.nan


def test_quiet_bar_exits_nothing():
    assert price_exit(100, 105, 95, 90, STOP, 120)[0] == 0


def test_stop_fills_at_stop_price_when_touched_inside_the_bar():
    assert price_exit(100, 101, 89, 90, STOP, 120) == (STOP, 90.0)


def test_stop_fills_at_open_when_the_bar_gaps_through_it():
    assert price_exit(85, 88, 80, 90, STOP, 120) == (STOP, 85.0)


def test_target_fills_at_target_or_at_a_gapped_open():
    assert price_exit(100, 125, 99, 90, STOP, 120) == (TARGET, 120.0)
    assert price_exit(130, 131, 125, 90, STOP, 120) == (TARGET, 130.0)


def test_bar_touching_stop_and_target_takes_the_stop():
    """We cannot know which came first inside the bar: assume the worse."""
    assert price_exit(100, 125, 85, 90, STOP, 120) == (STOP, 90.0)


def test_gap_above_target_beats_a_low_below_the_stop():
    """The open is the first trade of the bar: a gap up through the target is real."""
    assert price_exit(125, 126, 80, 90, STOP, 120) == (TARGET, 125.0)


def test_disabled_levels_never_fire():
    assert price_exit(1.0, 1e9, 1e-9, NAN, STOP, NAN)[0] == 0


def test_trailing_stop_takes_over_when_above_the_fixed_stop():
    assert stop_level(90.0, 120.0, 0.1) == pytest.approx((108.0, TRAIL))
    assert stop_level(90.0, 95.0, 0.1) == (90.0, STOP)
    assert stop_level(NAN, 100.0, 0.1) == pytest.approx((90.0, TRAIL))
    assert stop_level(90.0, 200.0, 0.0) == (90.0, STOP)


def test_levels_from_fill_and_zero_disables():
    assert levels_from_fill(100.0, 0.05, 0.1) == pytest.approx((95.0, 110.0))
    stop, target = levels_from_fill(100.0, 0.0, 0.0)
    assert math.isnan(stop)
    assert math.isnan(target)


def test_max_hold():
    assert held_too_long(0.0, 3600.0, 3600.0)
    assert not held_too_long(0.0, 3599.0, 3600.0)
    assert not held_too_long(0.0, 1e9, 0.0)


def _candle(o, h, lo, c, open_time=7200):
    return Candle(open_time, o, h, lo, c, 0.0, Timeframe.H1)


def test_check_bar_live_wrapper_uses_the_same_rules():
    levels = PositionLevels(
        entry_time=0, stop=90.0, target=120.0, trail_frac=0.1, highest=130.0, max_hold_seconds=0
    )
    decision = check_bar(levels, _candle(118, 119, 116, 117))
    assert decision.reason is ExitReason.TRAILING_STOP
    assert decision.price == pytest.approx(117.0)
    assert decision.fired


def test_check_bar_max_hold_exits_at_the_close():
    levels = PositionLevels(0, None, None, 0.0, 100.0, max_hold_seconds=3 * 3600)
    assert not check_bar(levels, _candle(100, 101, 99, 100, open_time=3600)).fired
    decision = check_bar(levels, _candle(100, 101, 99, 100.5, open_time=7200))
    assert decision.reason is ExitReason.MAX_HOLD
    assert decision.price == 100.5


def test_a_closed_candles_exit_comes_before_the_next_ticks_price_exits():
    """Issue 13: on a bar with a pending signal exit and a price exit, the kernel fills the
    signal exit (at the next open, before that bar's price rules) while the live loop checked
    the price first: the same fill, another reason, and a breaker (a stop's loss streak) that
    only one side saw. Live now decides in the kernel's order."""
    levels = PositionLevels(
        entry_time=0.0, stop=95.0, target=120.0, trail_frac=0.0, highest=100.0,
        max_hold_seconds=3_600.0,
    )  # fmt: skip
    gapped = 90.0  # the first tick after the close opens through the stop
    high = 101.0  # the closed candle's

    def reason(price: float, bar_time: float, *, closed: bool, signal_exit: bool) -> ExitReason:
        at = high if closed else None
        return tick_exit(levels, price, bar_time, closed_high=at, signal_exit=signal_exit)[0]

    assert reason(gapped, 60.0, closed=True, signal_exit=True) is ExitReason.SIGNAL
    assert reason(gapped, 60.0, closed=True, signal_exit=False) is ExitReason.STOP_LOSS
    # between closes the signal has not been decided: only the price counts
    assert reason(gapped, 60.0, closed=False, signal_exit=True) is ExitReason.STOP_LOSS
    # held too long is decided at the close too, before the price
    assert reason(gapped, 3_600.0, closed=True, signal_exit=False) is ExitReason.MAX_HOLD
    assert reason(100.0, 60.0, closed=True, signal_exit=False) is ExitReason.NONE
    assert reason(121.0, 60.0, closed=False, signal_exit=False) is ExitReason.TAKE_PROFIT


def test_a_trailing_stop_ratchets_from_the_closed_candles_high_only():
    """The kernel raises the highest at a bar's close from its high; live ticks inside the bar
    do not move it (the bar's low may have come before its high)."""
    levels = PositionLevels(
        entry_time=0.0, stop=None, target=None, trail_frac=0.10, highest=100.0,
        max_hold_seconds=0.0,
    )  # fmt: skip
    inside = tick_exit(levels, 105.0, 60.0, closed_high=None, signal_exit=False)
    assert inside == (ExitReason.NONE, 100.0)
    at_close = tick_exit(levels, 107.0, 60.0, closed_high=120.0, signal_exit=False)
    assert at_close == (ExitReason.TRAILING_STOP, 120.0)  # 107 is under 120 less 10 %
    # an exit the close decided leaves the highest alone
    signal = tick_exit(levels, 130.0, 60.0, closed_high=120.0, signal_exit=True)
    assert signal == (ExitReason.SIGNAL, 100.0)
