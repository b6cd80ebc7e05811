"""Comparing candle series column by column, with numpy's readable mismatch reports."""

from __future__ import annotations

import numpy as np

from solbot.domain import CandleSeries


def assert_same(a: CandleSeries, b: CandleSeries, *, volume_rtol: float = 0.0) -> None:
    """Equal timeframe and columns. Prices are compared exactly; `volume_rtol` allows for sums
    whose rounding depends on how they were grouped."""
    assert a.timeframe == b.timeframe
    for name in ("open_time", "open", "high", "low", "close"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_allclose(a.volume, b.volume, rtol=volume_rtol, atol=0, err_msg="volume")
