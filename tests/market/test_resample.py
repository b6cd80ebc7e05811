from __future__ import annotations

import time

import numpy as np
import pytest
from series_asserts import assert_same as assert_same_series

from solbot.domain import CandleSeries, Timeframe
from solbot.market.candles import resample
from solbot.market.synth import synth_candles

DAY0 = 1_704_067_200  # 2024-01-01T00:00:00Z


def series(timeframe: Timeframe, rows: list[tuple[int, float, float, float, float, float]]):
    cols = list(zip(*rows, strict=True))
    return CandleSeries(
        timeframe,
        np.array(cols[0], dtype=np.int64),
        *(np.array(c, dtype=np.float64) for c in cols[1:]),
    )


def assert_same(a: CandleSeries, b: CandleSeries) -> None:
    """Prices are picked, never computed, so they match exactly; volumes are sums whose
    rounding depends on the grouping."""
    assert_same_series(a, b, volume_rtol=1e-12)


def test_hand_computed_1m_to_5m() -> None:
    m = 60
    src = series(
        Timeframe.M1,
        [
            (DAY0 + 0 * m, 10, 11, 9, 10.5, 1),
            (DAY0 + 1 * m, 10.5, 12, 10, 11, 2),
            (DAY0 + 2 * m, 11, 11.5, 8, 9, 3),
            (DAY0 + 3 * m, 9, 10, 8.5, 9.5, 4),
            (DAY0 + 4 * m, 9.5, 9.8, 9.1, 9.7, 5),
            # next bucket has a gap: minutes 5 and 7 are missing
            (DAY0 + 6 * m, 9.7, 13, 9.6, 12.5, 6),
            (DAY0 + 8 * m, 12.5, 12.6, 12.0, 12.1, 7),
            (DAY0 + 9 * m, 12.1, 12.2, 11.0, 11.5, 8),
        ],
    )
    out = resample(src, Timeframe.M5)
    expected = series(
        Timeframe.M5,
        [(DAY0, 10, 12, 8, 9.7, 15), (DAY0 + 300, 9.7, 13, 9.6, 11.5, 21)],
    )
    assert_same(out, expected)


def test_incomplete_last_bucket_is_dropped_unless_asked_for() -> None:
    m = 60
    src = series(
        Timeframe.M1,
        [
            (DAY0, 1, 2, 0.5, 1.5, 1),
            (DAY0 + 4 * m, 1.5, 1.6, 1.4, 1.5, 1),
            (DAY0 + 5 * m, 1.5, 3, 1.5, 2.5, 2),
            (DAY0 + 7 * m, 2.5, 2.6, 2.0, 2.2, 2),
        ],
    )
    assert list(resample(src, Timeframe.M5).open_time) == [DAY0]
    partial = resample(src, Timeframe.M5, include_partial=True)
    assert list(partial.open_time) == [DAY0, DAY0 + 300]
    assert (partial.open[1], partial.high[1], partial.close[1], partial.volume[1]) == (
        1.5,
        3,
        2.2,
        4,
    )
    # Knowing that time has reached the bucket's end makes it complete despite missing bars.
    assert len(resample(src, Timeframe.M5, until=DAY0 + 600)) == 2
    with pytest.raises(ValueError, match="until"):
        resample(src, Timeframe.M5, until=DAY0 + 7 * m)


def test_direct_and_chained_resampling_agree() -> None:
    src = synth_candles(Timeframe.M1, 20_000, seed=11, start_time=DAY0 + 7 * 60)
    # Punch holes in it: thin markets skip minutes.
    keep = np.random.default_rng(3).random(len(src)) > 0.2
    holes = CandleSeries(
        Timeframe.M1,
        *(getattr(src, n)[keep] for n in ("open_time", "open", "high", "low", "close", "volume")),
    )
    for data in (src, holes):
        direct = resample(data, Timeframe.H1)
        chained = resample(resample(resample(data, Timeframe.M5), Timeframe.M15), Timeframe.H1)
        assert_same(direct, chained)
        daily = resample(data, Timeframe.D1)
        assert len(daily) == 13
        assert_same(daily, resample(resample(direct, Timeframe.H4), Timeframe.D1))


def test_resampled_candles_are_valid_and_volume_is_conserved() -> None:
    src = synth_candles(Timeframe.M15, 4 * 24 * 30, seed=5, start_time=DAY0)
    out = resample(src, Timeframe.H4)
    assert np.all(out.open_time % Timeframe.H4.seconds == 0)
    assert np.all(out.high >= np.maximum(out.open, out.close))
    assert np.all(out.low <= np.minimum(out.open, out.close))
    assert out.volume.sum() == pytest.approx(src.volume.sum())
    assert len(out) == 30 * 6


def test_finer_or_non_multiple_target_is_refused() -> None:
    src = synth_candles(Timeframe.H1, 10, seed=1, start_time=DAY0)
    with pytest.raises(ValueError, match="finer"):
        resample(src, Timeframe.M15)


def test_same_timeframe_and_empty_series() -> None:
    src = synth_candles(Timeframe.H1, 10, seed=1, start_time=DAY0)
    assert resample(src, Timeframe.H1) is src
    empty = resample(CandleSeries.empty(Timeframe.M1), Timeframe.H1)
    assert len(empty) == 0
    assert empty.timeframe is Timeframe.H1


def test_misaligned_input_is_refused() -> None:
    src = series(Timeframe.M5, [(DAY0 + 60, 1, 1, 1, 1, 0)])
    with pytest.raises(ValueError, match="aligned"):
        resample(src, Timeframe.H1)


def test_a_million_bars_resample_quickly() -> None:
    src = synth_candles(Timeframe.M1, 1_000_000, seed=2, start_time=DAY0)
    began = time.perf_counter()
    out = resample(src, Timeframe.H1)
    elapsed = time.perf_counter() - began
    assert len(out) == 1_000_000 // 60
    assert elapsed < 0.5
