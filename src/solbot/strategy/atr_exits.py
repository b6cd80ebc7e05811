"""ATR-based stop and target suggestions, shared by strategies that size exits by volatility.

A stop k ATRs below the close widens with volatility instead of being a fixed percentage that is
noise on one token and a crash on another. Strategies declare `atr_period`, `atr_stop` and
`atr_target` among their own parameters (so they list in the strategy's order, with its own
defaults) and call these functions.
"""

from __future__ import annotations

from typing import Protocol

from solbot.domain import CandleSeries, FloatArray
from solbot.strategy import indicators as ind


class AtrExitParams(Protocol):
    atr_period: int
    atr_stop: float
    atr_target: float


def uses_atr(p: AtrExitParams) -> bool:
    return p.atr_stop > 0 or p.atr_target > 0


def atr_warmup(p: AtrExitParams) -> int:
    """Bars before the ATR exists (0 when no ATR exit is asked for)."""
    return ind.atr_warmup(p.atr_period) if uses_atr(p) else 0


def atr_convergence(p: AtrExitParams) -> int:
    """Extra bars for the ATR's Wilder seed to fade (0 when unused)."""
    return ind.wilder_convergence(p.atr_period) if uses_atr(p) else 0


def atr_exits(p: AtrExitParams, series: CandleSeries) -> tuple[FloatArray, FloatArray]:
    """Suggested stop and target distances as fractions of each bar's close."""
    close = ind.as_float_array(series.close)
    atr = ind.atr(series.high, series.low, close, p.atr_period) if uses_atr(p) else None
    return ind.atr_fraction(p.atr_stop, atr, close), ind.atr_fraction(p.atr_target, atr, close)
