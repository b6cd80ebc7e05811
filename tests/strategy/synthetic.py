"""Seeded synthetic OHLC for strategy tests (independent of solbot.market.synth on purpose)."""

from __future__ import annotations

import numpy as np

from solbot.domain import CandleSeries, Timeframe


def random_series(n: int, seed: int, start: float = 100.0) -> CandleSeries:
    """A geometric random walk with trending regimes, occasional gaps and wicks.

    Regimes make crossovers and breakouts happen often; gaps exercise true range.
    """
    rng = np.random.default_rng(seed)
    regime_drift = rng.normal(0.0, 0.002, size=n // 200 + 1)
    drift = np.repeat(regime_drift, 200)[:n]
    vol = np.repeat(rng.uniform(0.004, 0.02, size=n // 300 + 1), 300)[:n]
    returns = drift + vol * rng.standard_normal(n)
    gaps = rng.random(n) < 0.01
    returns[gaps] += rng.normal(0.0, 0.05, size=int(gaps.sum()))
    close = start * np.exp(np.cumsum(returns))
    open_ = np.empty(n)
    open_[0] = start
    open_[1:] = close[:-1] * np.exp(rng.normal(0.0, 0.001, size=n - 1))
    high = np.maximum(open_, close) * (1.0 + rng.exponential(0.003, size=n))
    low = np.minimum(open_, close) * (1.0 - rng.exponential(0.003, size=n))
    return series_from(close, high=high, low=low, open_=open_)


def series_from(
    close: np.ndarray | list[float],
    high: np.ndarray | list[float] | None = None,
    low: np.ndarray | list[float] | None = None,
    open_: np.ndarray | list[float] | None = None,
) -> CandleSeries:
    """A 1h series from columns; missing high/low/open default to the close."""
    c = np.asarray(close, dtype=np.float64)
    n = len(c)

    def column(values: np.ndarray | list[float] | None) -> np.ndarray:
        return c.copy() if values is None else np.asarray(values, dtype=np.float64)

    return CandleSeries(
        Timeframe.H1,
        np.arange(n, dtype=np.int64) * 3600 + 1_700_000_000 // 3600 * 3600,
        column(open_),
        column(high),
        column(low),
        c,
        np.ones(n),
    )
