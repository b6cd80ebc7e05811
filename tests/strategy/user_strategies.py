"""Strategies as an operator would write them in their own package, for the loader tests and
for the look-ahead check's own tests (the cheaters must be caught)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from solbot.domain import CandleSeries, Signals
from solbot.strategy import indicators as ind
from solbot.strategy.base import Strategy, StrategyParams


class SmaCross(Strategy):
    """An honest user strategy: price crosses its SMA."""

    class Params(StrategyParams):
        period: int = Field(10, ge=2)
        stop: float = Field(0.05, gt=0, lt=1)

    params: Params

    @property
    def warmup(self) -> int:
        return ind.sma_warmup(self.params.period) + 1

    def compute(self, series: CandleSeries) -> Signals:
        average = ind.sma(series.close, self.params.period)
        n = len(series)
        return Signals(
            ind.crossed_above(series.close, average),
            ind.crossed_below(series.close, average),
            np.full(n, self.params.stop),
            np.full(n, np.nan),
        )


class PeeksAtNextClose(Strategy):
    """Cheats with a negative shift: enters when the NEXT close is higher."""

    name: ClassVar[str] = "peeks_at_next_close"

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, series: CandleSeries) -> Signals:
        upcoming = ind.shift(series.close, -1)
        n = len(series)
        return Signals(upcoming > series.close, upcoming < series.close, *_no_distances(n))


class CentredAverage(Strategy):
    """Cheats with a centred window: an SMA(5) placed on its middle bar."""

    name: ClassVar[str] = "centred_average"

    @property
    def warmup(self) -> int:
        return 4

    def compute(self, series: CandleSeries) -> Signals:
        centred = ind.shift(ind.sma(series.close, 5), -2)
        return Signals(
            ind.crossed_above(series.close, centred),
            ind.crossed_below(series.close, centred),
            *_no_distances(len(series)),
        )


class WholeSeriesStop(Strategy):
    """Cheats only in its stop: scaled by the range of the WHOLE history, future included."""

    name: ClassVar[str] = "whole_series_stop"

    @property
    def warmup(self) -> int:
        return 1

    def compute(self, series: CandleSeries) -> Signals:
        close = series.close
        n = len(series)
        spread = (np.max(close) - np.min(close)) / np.mean(close) if n else 0.0
        honest = ind.crossed_above(close, ind.shift(close, 1))
        return Signals(honest, np.zeros(n, dtype=bool), np.full(n, 0.1 * spread), _nan(n))


class NotAStrategy:
    """Has the right shape but does not subclass Strategy."""

    def signals(self, series: CandleSeries) -> Signals:
        raise AssertionError("must never be called")


class Unfinished(Strategy):
    """Forgets to implement compute."""

    @property
    def warmup(self) -> int:
        return 0


class Strict(Strategy):
    """A cross-field rule in a user's Params."""

    class Params(StrategyParams):
        low: float = 1.0
        high: float = 2.0

        @model_validator(mode="after")
        def _ordered(self) -> Strict.Params:
            if self.low >= self.high:
                raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
            return self

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, series: CandleSeries) -> Signals:
        n = len(series)
        return Signals(np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), *_no_distances(n))


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _no_distances(n: int) -> tuple[np.ndarray, np.ndarray]:
    return _nan(n), _nan(n)
