"""The built-in strategies on hand-built series: the signal lands on the bar we computed by
hand, and not one bar earlier."""

from __future__ import annotations

import numpy as np
import pytest

from solbot.domain import CandleSeries
from solbot.strategy.donchian_breakout import DonchianBreakout
from solbot.strategy.ema_trend import EmaTrend

from .synthetic import series_from

# Closes for EMA(2)/EMA(3), worked by hand (alpha 2/3 and 1/2, SMA seeds 9.5 at bar 1, 9 at bar 2):
# bar:        0    1    2    3    4    5       6       7      8      9      10
# close:     10    9    8    7    6    7       8       9     10      9       8
# EMA(2):     -  9.5  8.5  7.5  6.5  6.833   7.611   8.537  9.512  9.171   8.390
# EMA(3):     -    -  9.0  8.0  7.0  7.0     7.5     8.25   9.125  9.063   8.531
# EMA(2) closes above EMA(3) first at bar 6 and below it again at bar 10.
# RSI(2) (Wilder, seeded at bar 2 with gain 0, loss 1): 0, 0, 0, 50, 75, 87.5, 93.75, ...
# Every bar moves by 1 and high/low are close +- 0.5, so every true range is 1.5 and ATR(2) = 1.5.
CLOSE = np.array([10.0, 9, 8, 7, 6, 7, 8, 9, 10, 9, 8])
SMALL = {"fast": 2, "slow": 3, "rsi_period": 2, "atr_period": 2}


def trend_series() -> CandleSeries:
    return series_from(CLOSE, high=CLOSE + 0.5, low=CLOSE - 0.5)


def test_ema_trend_enters_exactly_at_the_cross():
    s = EmaTrend({**SMALL, "rsi_max": 80}).signals(trend_series())
    assert np.flatnonzero(s.entry).tolist() == [6]
    assert np.flatnonzero(s.exit).tolist() == [10]
    assert s.stop_loss[6] == pytest.approx(2 * 1.5 / 8)
    assert s.take_profit[6] == pytest.approx(4 * 1.5 / 8)


def test_ema_trend_rsi_filter_blocks_an_overbought_cross():
    # RSI at the cross is 75: above the default ceiling of 70
    s = EmaTrend(SMALL).signals(trend_series())
    assert not s.entry.any()
    assert np.flatnonzero(s.exit).tolist() == [10]
    s = EmaTrend({**SMALL, "rsi_min": 76, "rsi_max": 90}).signals(trend_series())
    assert not s.entry.any()


def test_ema_trend_optional_rsi_exit():
    # RSI: bar 7 = 87.5, bar 8 = 93.75, bar 9 falls back below 90
    s = EmaTrend({**SMALL, "rsi_max": 80, "rsi_exit": 90}).signals(trend_series())
    assert np.flatnonzero(s.exit).tolist() == [8, 10]
    assert np.flatnonzero(s.entry).tolist() == [6]


def test_ema_trend_signal_is_not_known_before_the_cross_bar():
    strategy = EmaTrend({**SMALL, "rsi_max": 80})
    series = trend_series()
    assert not strategy.signal_at_last(series[:6]).entry
    live = strategy.signal_at_last(series[:7])
    assert live.entry
    assert live.stop_loss == pytest.approx(0.375)


def test_ema_trend_without_atr_suggests_nothing():
    s = EmaTrend({**SMALL, "rsi_max": 80, "atr_stop": 0, "atr_target": 0}).signals(trend_series())
    assert s.entry[6]
    assert np.isnan(s.stop_loss).all()
    assert np.isnan(s.take_profit).all()


@pytest.mark.parametrize("price", [0.1, 3.3, 2.7e-7, 123456.789])
def test_flat_prices_give_no_signals_and_no_zero_stop(price: float):
    flat = series_from(np.full(400, price))
    for strategy in (EmaTrend(), DonchianBreakout()):
        s = strategy.signals(flat)
        assert not s.entry.any()
        assert not s.exit.any()
        # ATR is 0 on flat prices: a zero-distance stop would fire at once, so none is suggested
        assert np.isnan(s.stop_loss).all()


# Donchian, hand-built (entry over the previous 3 highs, exit under the previous 2 lows):
# bar:    0     1     2     3     4     5     6     7     8
# high: 10.0  10.5  10.2  10.4  11.0  11.5  11.3  11.0  10.6
# low:   9.0   9.5   9.6   9.8  10.2  10.8  10.9  10.4  10.0
# close: 9.5  10.0  10.0  10.5  10.9  11.4  11.0  10.5  10.3
# bar 3: close 10.5 == highest previous high 10.5, a touch is not a breakout
# bar 4: 10.9 > 10.5 (bars 1-3) -> entry; bar 5: 11.4 > 11.0 (bars 2-4) -> entry
# bar 7: 10.5 < 10.8 (lows of bars 5-6) -> exit; bar 8: 10.3 < 10.4 (bars 6-7) -> exit
HIGH = [10.0, 10.5, 10.2, 10.4, 11.0, 11.5, 11.3, 11.0, 10.6]
LOW = [9.0, 9.5, 9.6, 9.8, 10.2, 10.8, 10.9, 10.4, 10.0]
CLOSES = [9.5, 10.0, 10.0, 10.5, 10.9, 11.4, 11.0, 10.5, 10.3]
DONCHIAN_SMALL = {"entry_period": 3, "exit_period": 2, "atr_period": 2}


def test_donchian_breakout_uses_the_channel_of_previous_bars():
    s = DonchianBreakout(DONCHIAN_SMALL).signals(series_from(CLOSES, high=HIGH, low=LOW))
    assert np.flatnonzero(s.entry).tolist() == [4, 5]
    assert np.flatnonzero(s.exit).tolist() == [7, 8]
    # true ranges of bars 1-4: 1.0, 0.6, 0.6, 0.8; ATR(2): 0.8 at bar 2, 0.7 at 3, 0.75 at 4
    assert s.stop_loss[4] == pytest.approx(2 * 0.75 / 10.9)
    assert np.isnan(s.take_profit).all()


def test_donchian_breakout_fires_on_the_gap_bar():
    close = np.r_[np.full(30, 10.0), 10.0, 15.0, 15.0]
    s = DonchianBreakout().signals(series_from(close, high=close + 0.1, low=close - 0.1))
    assert np.flatnonzero(s.entry).tolist() == [31]
    assert not s.exit.any()
    # the ATR behind the stop includes the gap: true range 0.2 before it, 15.1 - 10.0 = 5.1 on it
    assert s.stop_loss[30] == pytest.approx(2 * 0.2 / 10.0)
    assert s.stop_loss[31] == pytest.approx(2 * (0.2 * 13 + 5.1) / 14 / 15.0)
