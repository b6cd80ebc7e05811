"""Indicators: hand-computed values, exact warm-ups, and the edge cases that bite."""

from __future__ import annotations

import math

import numpy as np
import pytest

from solbot.strategy import indicators as ind

RNG_SERIES = 100.0 * np.exp(np.cumsum(np.random.default_rng(7).normal(0.0, 0.01, 300)))
NAN = np.nan


def leading_nans(x: np.ndarray) -> int:
    finite = np.flatnonzero(~np.isnan(x))
    return int(finite[0]) if len(finite) else len(x)


# --- hand-computed values ------------------------------------------------------------------


def test_sma_of_one_to_ten():
    x = np.arange(1.0, 11.0)
    np.testing.assert_array_equal(ind.sma(x, 3), [NAN, NAN, 2, 3, 4, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(ind.sma(x, 10), [NAN] * 9 + [5.5])


def test_ema_seeds_with_sma_then_smooths():
    # period 3: alpha = 0.5, seed = mean(1, 2, 3) = 2
    x = [1.0, 2.0, 3.0, 4.0, 5.0, 10.0]
    np.testing.assert_allclose(ind.ema(x, 3), [NAN, NAN, 2.0, 3.0, 4.0, 7.0])
    # of 1..10 with period 4 (alpha 0.4): seed 2.5 at bar 3, then it lags a ramp by 1.5
    np.testing.assert_allclose(ind.ema(np.arange(1.0, 11.0), 4)[3:], np.arange(4.0, 11.0) - 1.5)


def test_rsi_of_a_known_sequence():
    # diffs +1 +1 -1 +1 +1 -1; Wilder with period 3 seeded by the simple mean of 3 diffs
    x = [1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 3.0]
    gain, loss = 2 / 3, 1 / 3
    expected = [100 * gain / (gain + loss)]
    for d in (1.0, 1.0, -1.0):
        gain = (gain * 2 + max(d, 0.0)) / 3
        loss = (loss * 2 + max(-d, 0.0)) / 3
        expected.append(100 * gain / (gain + loss))
    np.testing.assert_allclose(expected, [200 / 3, 700 / 9, 2300 / 27, 4600 / 81])
    np.testing.assert_allclose(ind.rsi(x, 3), [NAN] * 3 + expected)


def test_rsi_extremes_and_flat():
    assert np.all(ind.rsi(np.arange(1.0, 31.0), 14)[14:] == 100.0)
    assert np.all(ind.rsi(np.arange(30.0, 0.0, -1.0), 14)[14:] == 0.0)
    # TA-Lib says 0 (maximally oversold) for a flat market; we say neutral
    flat = ind.rsi(np.full(40, 0.1), 14)
    assert leading_nans(flat) == 14
    assert np.all(flat[14:] == 50.0)
    # flat at the start, then it moves: 50 only while nothing has moved yet
    r = ind.rsi(np.r_[np.full(20, 5.0), 6.0, 7.0], 14)
    assert np.all(r[14:20] == 50.0)
    assert r[20] == 100.0


def test_rsi_is_scale_free_for_tiny_prices():
    # memecoins quoted in SOL trade around 1e-9: no absolute epsilon may flatten them
    np.testing.assert_allclose(ind.rsi(RNG_SERIES * 1e-11, 14), ind.rsi(RNG_SERIES, 14))
    u1, m1, l1 = ind.bollinger(RNG_SERIES * 1e-11, 20, 2.0)
    u2, m2, l2 = ind.bollinger(RNG_SERIES, 20, 2.0)
    np.testing.assert_allclose((u1 - l1) / m1, (u2 - l2) / m2)


def test_atr_includes_the_gap_from_the_previous_close():
    close = [10.0, 10.0, 20.0, 20.0]
    high = [11.0, 11.0, 21.0, 21.0]
    low = [9.0, 9.0, 19.0, 19.0]
    # true ranges from bar 1: 2, max(2, |21-10|, |19-10|) = 11, 2
    np.testing.assert_allclose(ind.atr(high, low, close, 2), [NAN, NAN, 6.5, 4.25])


def test_atr_of_flat_prices_is_zero():
    x = np.full(30, 0.37)
    a = ind.atr(x, x, x, 14)
    assert leading_nans(a) == 14
    assert np.all(a[14:] == 0.0)


def test_bollinger_hand_computed_and_flat():
    upper, middle, lower = ind.bollinger([1.0, 2.0, 3.0], 3, 2.0)
    sd = math.sqrt(2 / 3)  # population standard deviation, not the sample one
    np.testing.assert_allclose([upper[2], middle[2], lower[2]], [2 + 2 * sd, 2.0, 2 - 2 * sd])
    upper, middle, lower = ind.bollinger(np.full(30, 0.1), 20, 2.0)
    assert np.all(upper[19:] - lower[19:] == 0.0)
    np.testing.assert_allclose(middle[19:], 0.1, rtol=1e-15)


def test_macd_outputs_share_the_talib_warmup():
    line, signal, hist = ind.macd(RNG_SERIES, 12, 26, 9)
    assert ind.macd_warmup(12, 26, 9) == 33  # slow-1 + signal-1, not pandas' 25
    for column in (line, signal, hist):
        assert leading_nans(column) == 33
    np.testing.assert_allclose(hist[33:], line[33:] - signal[33:], atol=1e-12)


def test_donchian_hand_computed_includes_current_bar():
    high = [1.0, 3.0, 2.0, 5.0, 4.0]
    low = [0.0, 2.0, 1.0, 3.0, 2.0]
    upper, lower = ind.donchian(high, low, 3)
    np.testing.assert_array_equal(upper, [NAN, NAN, 3, 5, 5])
    np.testing.assert_array_equal(lower, [NAN, NAN, 0, 1, 1])


def test_price_jump_moves_everything_at_that_bar_only():
    x = np.r_[np.full(30, 10.0), np.full(10, 20.0)]
    e = ind.ema(x, 5)
    assert np.all(e[4:30] == 10.0)
    assert e[30] == pytest.approx(10.0 + (20.0 - 10.0) / 3)
    upper, lower = ind.donchian(x, x, 5)
    assert upper[29] == 10.0
    assert upper[30] == 20.0
    assert lower[33] == 10.0
    assert lower[34] == 20.0


# --- warm-ups ------------------------------------------------------------------------------

HL = (RNG_SERIES * 1.01, RNG_SERIES * 0.99)


@pytest.mark.parametrize("period", [2, 3, 14, 50])
def test_warmup_is_the_exact_number_of_leading_nans(period: int):
    h, lo = HL
    cases = {
        "sma": (ind.sma(RNG_SERIES, period), ind.sma_warmup(period), period - 1),
        "ema": (ind.ema(RNG_SERIES, period), ind.ema_warmup(period), period - 1),
        "rsi": (ind.rsi(RNG_SERIES, period), ind.rsi_warmup(period), period),
        "atr": (ind.atr(h, lo, RNG_SERIES, period), ind.atr_warmup(period), period),
        "bollinger": (
            ind.bollinger(RNG_SERIES, period)[0],
            ind.bollinger_warmup(period),
            period - 1,
        ),
        "donchian": (ind.donchian(h, lo, period)[1], ind.donchian_warmup(period), period - 1),
    }
    for name, (values, warmup, documented) in cases.items():
        assert warmup == documented, name
        assert leading_nans(values) == warmup, name
        assert np.all(np.isfinite(values[warmup:])), name


@pytest.mark.parametrize("n", [0, 1, 5, 13])
def test_input_shorter_than_warmup_is_all_nan(n: int):
    x = RNG_SERIES[:n]
    outputs = [
        ind.sma(x, 14),
        ind.ema(x, 14),
        ind.rsi(x, 14),
        ind.atr(x, x, x, 14),
        *ind.bollinger(x, 14),
        *ind.macd(x),
        *ind.donchian(x, x, 14),
    ]
    for out in outputs:
        assert out.dtype == np.float64
        assert len(out) == n
        assert np.all(np.isnan(out))


def test_all_nan_input_gives_nan_not_an_exception():
    x = np.full(50, np.nan)
    assert np.all(np.isnan(ind.ema(x, 5)))
    assert np.all(np.isnan(ind.rsi(x, 5)))
    assert np.all(np.isnan(ind.atr(x, x, x, 5)))


def test_nan_inside_the_input_blanks_every_later_value():
    x = RNG_SERIES.copy()
    x[:3] = np.nan  # leading NaNs only delay the start
    x[100] = np.nan
    h, lo = x * 1.01, x * 0.99
    outputs = {
        "sma": ind.sma(x, 5),
        "ema": ind.ema(x, 5),
        "rsi": ind.rsi(x, 5),  # TA-Lib's own RSI reads through the gap
        "atr": ind.atr(h, lo, x, 5),
        "bollinger": ind.bollinger(x, 5)[1],
        "macd": ind.macd(x, 3, 5, 2)[2],
        "donchian": ind.donchian(h, lo, 5)[0],  # so do TA-Lib's MAX and MIN
    }
    for name, out in outputs.items():
        assert np.isfinite(out[50:100]).all(), name
        assert np.isnan(out[100:]).all(), name
    assert leading_nans(ind.sma(x, 5)) == 3 + 4


def test_convergence_is_where_the_seed_weight_drops_below_tolerance():
    n = ind.ema_convergence(26)
    alpha = 2 / 27
    assert (1 - alpha) ** n < ind.SEED_TOLERANCE <= (1 - alpha) ** (n - 1)
    assert n == 180
    assert ind.wilder_convergence(14) == 187
    assert ind.wilder_convergence(1) == 0


def test_prefix_gives_bit_identical_values():
    h, lo = HL
    for k in (1, 30, 150, 299):
        for full, part in [
            (ind.ema(RNG_SERIES, 12), ind.ema(RNG_SERIES[:k], 12)),
            (ind.rsi(RNG_SERIES, 14), ind.rsi(RNG_SERIES[:k], 14)),
            (ind.atr(h, lo, RNG_SERIES, 14), ind.atr(h[:k], lo[:k], RNG_SERIES[:k], 14)),
            (ind.macd(RNG_SERIES)[2], ind.macd(RNG_SERIES[:k])[2]),
        ]:
            np.testing.assert_array_equal(full[:k], part)


# --- input handling ------------------------------------------------------------------------


def test_non_contiguous_and_integer_input_are_accepted():
    table = np.column_stack([RNG_SERIES, RNG_SERIES * 2])
    column = table[:, 1]
    assert not column.flags.c_contiguous
    np.testing.assert_array_equal(ind.ema(column, 10), ind.ema(RNG_SERIES * 2, 10))
    np.testing.assert_array_equal(ind.sma([1, 2, 3, 4], 2), [NAN, 1.5, 2.5, 3.5])


def test_bad_periods_raise_value_error():
    with pytest.raises(ValueError, match="EMA period must be an integer >= 2"):
        ind.ema(RNG_SERIES, 1)
    with pytest.raises(ValueError, match="RSI period"):
        ind.rsi(RNG_SERIES, 0)
    with pytest.raises(ValueError, match=r"fast \(26\) must be less than slow \(12\)"):
        ind.macd(RNG_SERIES, 26, 12, 9)
    with pytest.raises(ValueError, match="differ in length"):
        ind.atr(RNG_SERIES, RNG_SERIES[:-1], RNG_SERIES, 14)
    with pytest.raises(ValueError, match="1-d"):
        ind.sma(np.ones((3, 3)), 2)


# --- helpers -------------------------------------------------------------------------------


def test_crossed_above_and_below():
    a = np.array([1.0, 2.0, 3.0, 3.0, 2.0, 1.0, 2.0])
    b = np.full(7, 2.0)
    # touching (2 == 2) then above counts as a cross; staying above does not
    np.testing.assert_array_equal(ind.crossed_above(a, b), [0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(ind.crossed_below(a, b), [0, 0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(ind.crossed_above(a, 2.5), [0, 0, 1, 0, 0, 0, 0])
    assert ind.crossed_above(a, b).dtype == np.bool_


def test_cross_is_false_where_either_side_is_nan():
    a = np.array([NAN, 3.0, 1.0, NAN, 3.0, 1.0, 3.0])
    b = np.array([2.0, 2.0, 2.0, 2.0, 2.0, NAN, 2.0])
    np.testing.assert_array_equal(ind.crossed_above(a, b), [0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(ind.crossed_below(a, b), [0, 0, 1, 0, 0, 0, 0])
    assert len(ind.crossed_above([], [])) == 0
    assert not ind.crossed_above([5.0], [1.0])[0]


def test_shift_fills_with_nan_and_never_wraps():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(ind.shift(x, 1), [NAN, 1, 2, 3])
    np.testing.assert_array_equal(ind.shift(x, -2), [3, 4, NAN, NAN])
    np.testing.assert_array_equal(ind.shift(x, 0), x)
    assert ind.shift(x, 0) is not x
    assert np.isnan(ind.shift(x, 4)).all()
    assert np.isnan(ind.shift(x, -9)).all()


def test_atr_fraction():
    atr = np.array([NAN, 1.0, 2.0])
    close = np.array([10.0, 10.0, 0.0])
    out = ind.atr_fraction(2.0, atr, close)
    assert np.isnan(out[0])
    assert out[1] == 0.2
    assert np.isinf(out[2])  # the strategy base turns this into "no suggestion"
    assert np.isnan(ind.atr_fraction(0.0, atr, close)).all()
    assert np.isnan(ind.atr_fraction(2.0, None, close)).all()
