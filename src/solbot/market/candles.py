"""Candles from ticks, coarser candles from finer ones, and the rolling window a strategy reads.

Three decisions shape this module:

* **Gaps stay gaps.** A bucket in which no tick arrived produces no candle: we never fabricate a
  flat bar carrying the previous close forward. A fabricated bar would feed zero-range, zero-volume
  data into indicators (ATR, volume filters) as if the market had been quiet, and GeckoTerminal
  skips empty intervals the same way, so live and downloaded history look alike. `CandleSeries`
  only requires increasing open times; a consumer that needs to know about a hole compares
  consecutive open times.
* **Only closed candles leave the builder.** A candle is final once time has moved past its bucket
  (a tick of a later bucket, or a clock-driven `close_until`). A tick that arrives for a bucket
  that is already closed is dropped and counted in `late_ticks`, never patched into a candle a
  strategy may already have acted on.
* **Resampling drops the incomplete last bucket** unless asked for it (`include_partial=True`), so
  a 1h bar built from 40 minutes of 1m data never masquerades as a finished hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solbot.domain import Candle, CandleSeries, IntArray, Timeframe

__all__ = ["CandleBook", "CandleBuilder", "resample"]


@dataclass(slots=True)
class _Bucket:
    """A candle still accumulating ticks; first/last tick times decide its open and close."""

    open_time: int
    first_ts: float
    last_ts: float
    open: float
    high: float
    low: float
    close: float
    volume: float

    def add(self, ts: float, price: float, volume: float) -> None:
        # Out-of-order ticks inside the bucket are fine: the earliest tick sets the open and the
        # latest sets the close, whatever order they arrived in.
        if ts < self.first_ts:
            self.first_ts = ts
            self.open = price
        if ts >= self.last_ts:
            self.last_ts = ts
            self.close = price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += volume

    def candle(self, timeframe: Timeframe) -> Candle:
        return Candle(
            self.open_time, self.open, self.high, self.low, self.close, self.volume, timeframe
        )


class CandleBuilder:
    """Turns irregular price ticks into closed candles of one timeframe (UTC-aligned buckets).

    `grace_seconds` lets ticks arrive out of order across a bucket boundary: a bucket stays open
    until time has passed its end by the grace period, so a tick delayed by up to that much still
    lands in the right candle. The default of 0 closes a bucket as soon as a later bucket's tick
    arrives, which is right for a feed that is in order.
    """

    def __init__(self, timeframe: Timeframe, *, grace_seconds: float = 0.0) -> None:
        if not (math.isfinite(grace_seconds) and grace_seconds >= 0):
            raise ValueError(f"grace_seconds must be a non-negative number, got {grace_seconds}")
        self._timeframe = timeframe
        self._grace = float(grace_seconds)
        self._open: dict[int, _Bucket] = {}
        self._watermark = -math.inf
        self._last_closed: int | None = None
        self._late_ticks = 0

    @property
    def timeframe(self) -> Timeframe:
        return self._timeframe

    @property
    def late_ticks(self) -> int:
        """Ticks dropped because their bucket had already closed."""
        return self._late_ticks

    @property
    def forming(self) -> Candle | None:
        """The newest candle still open (for display only: it is not final)."""
        if not self._open:
            return None
        return self._open[max(self._open)].candle(self._timeframe)

    def add(self, ts: float, price: float, volume: float = 0.0) -> list[Candle]:
        """Feed one tick; returns the candles this tick closed, oldest first (often none)."""
        if not math.isfinite(ts):
            raise ValueError(f"tick time must be finite, got {ts}")
        if not (math.isfinite(price) and price > 0):
            raise ValueError(f"tick price must be a positive number, got {price}")
        if not (math.isfinite(volume) and volume >= 0):
            raise ValueError(f"tick volume must be a non-negative number, got {volume}")
        open_time = self._timeframe.floor(math.floor(ts))
        if self._is_closed(open_time):
            self._late_ticks += 1
            return []
        bucket = self._open.get(open_time)
        if bucket is None:
            self._open[open_time] = _Bucket(
                open_time, ts, ts, price, price, price, price, float(volume)
            )
        else:
            bucket.add(ts, price, float(volume))
        return self._advance(ts)

    def close_until(self, ts: float) -> list[Candle]:
        """Declare that time `ts` has come: close every bucket that ended (plus grace) by then.

        A clock-driven loop calls this so a candle closes on time even when no tick follows it.
        """
        if not math.isfinite(ts):
            raise ValueError(f"time must be finite, got {ts}")
        return self._advance(ts)

    def _is_closed(self, open_time: int) -> bool:
        if self._last_closed is not None and open_time <= self._last_closed:
            return True
        return open_time + self._timeframe.seconds + self._grace <= self._watermark

    def _advance(self, ts: float) -> list[Candle]:
        self._watermark = max(self._watermark, ts)
        horizon = self._watermark - self._timeframe.seconds - self._grace
        due = sorted(t for t in self._open if t <= horizon)
        if not due:
            return []
        self._last_closed = due[-1]
        return [self._open.pop(t).candle(self._timeframe) for t in due]


def resample(
    series: CandleSeries,
    to: Timeframe,
    *,
    include_partial: bool = False,
    until: int | None = None,
) -> CandleSeries:
    """Aggregate candles into a coarser timeframe: first open, max high, min low, last close,
    summed volume, in UTC-aligned buckets.

    The last bucket counts as complete when the data reaches its end: by default the data is known
    up to the close of the last input bar; pass `until` (Unix seconds, e.g. the clock's now) when
    you know more, such as "no trades happened in the last minutes of the hour".
    """
    source = series.timeframe
    if to.seconds < source.seconds:
        raise ValueError(f"cannot resample {source} candles to the finer timeframe {to}")
    if to.seconds % source.seconds:
        raise ValueError(f"{to} is not a whole multiple of {source}")
    if to == source:
        return series
    n = len(series)
    if n == 0:
        return CandleSeries.empty(to)
    times = series.open_time
    if bool(np.any(times % source.seconds)):
        raise ValueError(f"open times are not aligned to {source} candles")
    known_until = int(times[-1]) + source.seconds
    if until is not None:
        if until < known_until:
            raise ValueError(
                f"until={until} is before the close of the last candle ({known_until})"
            )
        known_until = until

    keys: IntArray = times - times % to.seconds
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    ends = np.concatenate((starts[1:], [n])) - 1
    out = CandleSeries(
        to,
        keys[starts],
        series.open[starts],
        np.maximum.reduceat(series.high, starts),
        np.minimum.reduceat(series.low, starts),
        series.close[ends],
        np.add.reduceat(series.volume, starts),
    )
    # Only the last bucket can be incomplete: every earlier one ends before the last bar starts.
    if not include_partial and int(out.open_time[-1]) + to.seconds > known_until:
        return out[:-1]
    return out


@dataclass
class _Ring:
    times: IntArray
    values: np.ndarray  # (capacity, 5): open, high, low, close, volume
    start: int = 0
    size: int = 0

    def order(self) -> IntArray:
        capacity = len(self.times)
        return (self.start + np.arange(self.size, dtype=np.int64)) % capacity

    def last_time(self) -> int | None:
        if self.size == 0:
            return None
        return int(self.times[(self.start + self.size - 1) % len(self.times)])


class CandleBook:
    """The last `capacity` closed candles of every token, in fixed-size numpy ring buffers.

    `capacity` is the warm-up a strategy needs (`samples_needed`): memory stays constant however
    long the bot runs, and `series()` hands the strategy exactly the window it computes on.
    """

    def __init__(self, timeframe: Timeframe, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._timeframe = timeframe
        self._capacity = int(capacity)
        self._rings: dict[str, _Ring] = {}

    @property
    def timeframe(self) -> Timeframe:
        return self._timeframe

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted(self._rings))

    def append(self, symbol: str, candle: Candle) -> None:
        """Add a closed candle; its open time must be later than the token's last one."""
        if candle.timeframe != self._timeframe:
            raise ValueError(
                f"{symbol}: a {candle.timeframe} candle cannot join a {self._timeframe} book"
            )
        ring = self._ring(symbol)
        last = ring.last_time()
        if last is not None and candle.open_time <= last:
            raise ValueError(
                f"{symbol}: candle open time {candle.open_time} is not after the last one ({last})"
            )
        capacity = self._capacity
        if ring.size < capacity:
            slot = (ring.start + ring.size) % capacity
            ring.size += 1
        else:
            slot = ring.start
            ring.start = (ring.start + 1) % capacity
        ring.times[slot] = candle.open_time
        ring.values[slot] = (candle.open, candle.high, candle.low, candle.close, candle.volume)

    def extend(self, symbol: str, series: CandleSeries) -> None:
        """Warm a token up from history in one step (only the newest `capacity` rows are kept)."""
        if series.timeframe != self._timeframe:
            raise ValueError(
                f"{symbol}: {series.timeframe} candles cannot join a {self._timeframe} book"
            )
        if len(series) == 0:
            return
        ring = self._ring(symbol)
        last = ring.last_time()
        if last is not None and int(series.open_time[0]) <= last:
            raise ValueError(
                f"{symbol}: candle open time {int(series.open_time[0])} is not after the last "
                f"one ({last})"
            )
        tail = series[-self._capacity :]
        columns = np.column_stack((tail.open, tail.high, tail.low, tail.close, tail.volume))
        # Lay the kept history out oldest first from slot 0: simplest correct ring state.
        kept_old = min(ring.size, self._capacity - len(tail))
        old_order = ring.order()[ring.size - kept_old :]
        times = np.concatenate((ring.times[old_order], tail.open_time))
        values = np.concatenate((ring.values[old_order], columns))
        ring.times[: len(times)] = times
        ring.values[: len(times)] = values
        ring.start = 0
        ring.size = len(times)

    def series(self, symbol: str) -> CandleSeries:
        """The token's window, oldest first (a copy: the book may move on while you compute)."""
        ring = self._rings.get(symbol.upper())
        if ring is None or ring.size == 0:
            return CandleSeries.empty(self._timeframe)
        order = ring.order()
        values = ring.values[order]
        return CandleSeries(
            self._timeframe,
            ring.times[order],
            values[:, 0].copy(),
            values[:, 1].copy(),
            values[:, 2].copy(),
            values[:, 3].copy(),
            values[:, 4].copy(),
        )

    def count(self, symbol: str) -> int:
        ring = self._rings.get(symbol.upper())
        return 0 if ring is None else ring.size

    def missing(self, symbol: str) -> int:
        """Candles the token still needs for a full window (0 once it is warm)."""
        return max(0, self._capacity - self.count(symbol))

    def is_warm(self, symbol: str) -> bool:
        """True once the token holds a full window, i.e. the strategy can trust its indicators."""
        return self.count(symbol) >= self._capacity

    def last(self, symbol: str) -> Candle | None:
        ring = self._rings.get(symbol.upper())
        if ring is None or ring.size == 0:
            return None
        slot = (ring.start + ring.size - 1) % self._capacity
        o, h, low, c, v = (float(x) for x in ring.values[slot])
        return Candle(int(ring.times[slot]), o, h, low, c, v, self._timeframe)

    def _ring(self, symbol: str) -> _Ring:
        key = symbol.upper()
        ring = self._rings.get(key)
        if ring is None:
            ring = _Ring(
                np.zeros(self._capacity, dtype=np.int64),
                np.zeros((self._capacity, 5), dtype=np.float64),
            )
            self._rings[key] = ring
        return ring
