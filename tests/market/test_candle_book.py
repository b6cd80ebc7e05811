from __future__ import annotations

import numpy as np
import pytest

from solbot.domain import Candle, Timeframe
from solbot.market.candles import CandleBook
from solbot.market.synth import synth_candles

H = 3600
T0 = 1_704_067_200


def candle(i: int, timeframe: Timeframe = Timeframe.H1) -> Candle:
    price = 100.0 + i
    return Candle(T0 + i * H, price, price + 2, price - 1, price + 1, 10.0 * i, timeframe)


def test_ring_wraps_around_and_keeps_the_newest_oldest_first() -> None:
    book = CandleBook(Timeframe.H1, capacity=4)
    for i in range(10):
        book.append("jup", candle(i))
    s = book.series("JUP")
    assert list(s.open_time) == [T0 + i * H for i in range(6, 10)]
    assert list(s.open) == [106.0, 107.0, 108.0, 109.0]
    assert list(s.high) == [108.0, 109.0, 110.0, 111.0]
    assert list(s.low) == [105.0, 106.0, 107.0, 108.0]
    assert list(s.close) == [107.0, 108.0, 109.0, 110.0]
    assert list(s.volume) == [60.0, 70.0, 80.0, 90.0]
    assert book.last("jup") == candle(9)


def test_warm_up_and_symbols_are_independent() -> None:
    book = CandleBook(Timeframe.H1, capacity=3)
    for i in range(3):
        book.append("BONK", candle(i))
    book.append("WIF", candle(0))
    assert book.is_warm("BONK")
    assert not book.is_warm("WIF")
    assert not book.is_warm("JTO")
    assert book.count("WIF") == 1
    assert len(book.series("JTO")) == 0
    assert book.last("JTO") is None
    assert book.symbols == ("BONK", "WIF")


def test_non_increasing_open_times_are_rejected() -> None:
    book = CandleBook(Timeframe.H1, capacity=3)
    book.append("JUP", candle(5))
    with pytest.raises(ValueError, match="not after"):
        book.append("JUP", candle(5))
    with pytest.raises(ValueError, match="not after"):
        book.append("JUP", candle(4))
    assert book.count("JUP") == 1


def test_wrong_timeframe_is_rejected() -> None:
    book = CandleBook(Timeframe.H1, capacity=3)
    with pytest.raises(ValueError, match="1m"):
        book.append("JUP", candle(0, Timeframe.M1))


def test_series_is_a_snapshot_not_a_view() -> None:
    book = CandleBook(Timeframe.H1, capacity=2)
    book.append("JUP", candle(0))
    book.append("JUP", candle(1))
    before = book.series("JUP")
    book.append("JUP", candle(2))
    assert list(before.open_time) == [T0, T0 + H]


def test_extend_warms_from_history_then_appends() -> None:
    history = synth_candles(Timeframe.H1, 50, seed=4, start_time=T0)
    book = CandleBook(Timeframe.H1, capacity=20)
    book.append("SOL", history.candle(0))
    book.extend("SOL", history[1:10])
    assert list(book.series("SOL").open_time) == list(history.open_time[:10])
    book.extend("SOL", history[10:45])
    s = book.series("SOL")
    np.testing.assert_array_equal(s.open_time, history.open_time[25:45])
    np.testing.assert_array_equal(s.close, history.close[25:45])
    book.append("SOL", history.candle(45))
    np.testing.assert_array_equal(book.series("SOL").open_time, history.open_time[26:46])
    with pytest.raises(ValueError, match="not after"):
        book.extend("SOL", history[40:48])


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        CandleBook(Timeframe.H1, capacity=0)
