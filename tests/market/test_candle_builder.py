from __future__ import annotations

import pytest

from solbot.domain import Candle, Timeframe
from solbot.market.candles import CandleBuilder

T0 = 1_700_000_000 - 1_700_000_000 % 3600  # an hour boundary


def test_irregular_ticks_make_one_candle_per_bucket() -> None:
    builder = CandleBuilder(Timeframe.M1)
    assert builder.add(T0 + 0.5, 10.0, 1.0) == []
    assert builder.add(T0 + 13.2, 12.0, 2.0) == []
    assert builder.add(T0 + 41.9, 9.0, 0.5) == []
    assert builder.add(T0 + 59.999, 11.0, 1.5) == []
    closed = builder.add(T0 + 60.0, 11.5, 1.0)  # first tick of the next minute closes the first
    assert closed == [Candle(T0, 10.0, 12.0, 9.0, 11.0, 5.0, Timeframe.M1)]
    assert builder.forming == Candle(T0 + 60, 11.5, 11.5, 11.5, 11.5, 1.0, Timeframe.M1)


def test_out_of_order_ticks_inside_a_bucket_keep_open_and_close_by_time() -> None:
    builder = CandleBuilder(Timeframe.M5)
    builder.add(T0 + 200, 20.0)
    builder.add(T0 + 10, 18.0)  # earlier: becomes the open
    builder.add(T0 + 299, 21.0)  # latest: becomes the close
    builder.add(T0 + 100, 25.0)  # in between: only the high moves
    (candle,) = builder.close_until(T0 + 300)
    assert (candle.open, candle.high, candle.low, candle.close) == (18.0, 25.0, 18.0, 21.0)


def test_gaps_produce_no_fabricated_candles() -> None:
    builder = CandleBuilder(Timeframe.M1)
    builder.add(T0 + 5, 1.0)
    closed = builder.add(T0 + 4 * 60 + 5, 2.0)  # three empty minutes in between
    assert [c.open_time for c in closed] == [T0]
    closed = builder.close_until(T0 + 10 * 60)
    assert [c.open_time for c in closed] == [T0 + 240]
    assert builder.close_until(T0 + 20 * 60) == []


def test_late_tick_for_closed_bucket_is_dropped_and_counted() -> None:
    builder = CandleBuilder(Timeframe.M1)
    builder.add(T0 + 1, 5.0)
    (first,) = builder.add(T0 + 61, 6.0)
    assert builder.add(T0 + 30, 100.0) == []  # belongs to the closed minute
    assert builder.late_ticks == 1
    (second,) = builder.close_until(T0 + 120)
    assert first.high == 5.0  # the closed candle was not touched
    assert second == Candle(T0 + 60, 6.0, 6.0, 6.0, 6.0, 0.0, Timeframe.M1)


def test_tick_for_a_bucket_whose_time_passed_empty_is_late() -> None:
    builder = CandleBuilder(Timeframe.M1)
    builder.close_until(T0 + 600)
    assert builder.add(T0 + 120, 1.0) == []
    assert builder.late_ticks == 1
    assert builder.forming is None


def test_grace_period_accepts_ticks_delayed_across_the_boundary() -> None:
    builder = CandleBuilder(Timeframe.M1, grace_seconds=5)
    builder.add(T0 + 50, 10.0)
    assert builder.add(T0 + 62, 11.0) == []  # next bucket, but within grace: first stays open
    assert builder.add(T0 + 58, 9.0) == []  # delayed tick still lands in the first minute
    (closed,) = builder.add(T0 + 65, 11.2)
    assert closed == Candle(T0, 10.0, 10.0, 9.0, 9.0, 0.0, Timeframe.M1)
    assert builder.add(T0 + 59, 8.0) == []
    assert builder.late_ticks == 1


def test_close_until_closes_on_time_without_a_following_tick() -> None:
    builder = CandleBuilder(Timeframe.H1)
    builder.add(T0 + 10, 3.0, 7.0)
    assert builder.close_until(T0 + 3599) == []
    (candle,) = builder.close_until(T0 + 3600)
    assert candle.close_time == T0 + 3600
    assert candle.volume == 7.0


@pytest.mark.parametrize(
    ("ts", "price", "volume"),
    [
        (float("nan"), 1.0, 0.0),
        (T0, 0.0, 0.0),
        (T0, -1.0, 0.0),
        (T0, float("inf"), 0.0),
        (T0, 1.0, -1.0),
    ],
)
def test_bad_ticks_are_refused(ts: float, price: float, volume: float) -> None:
    with pytest.raises(ValueError, match="tick"):
        CandleBuilder(Timeframe.M1).add(ts, price, volume)


def test_negative_grace_is_refused() -> None:
    with pytest.raises(ValueError, match="grace"):
        CandleBuilder(Timeframe.M1, grace_seconds=-1)
