"""Look-ahead check: does any signal change when the future is cut off?

A backtest computes signals once over the whole history; live trading only ever has the bars up
to now. If bar i's signal depends on bar i+1 (a negative shift, a centred window, a
normalisation over the whole series, `np.roll`), the backtest trades on information live trading
will not have. We compute the signals on the full series, then on prefixes `series[:i+1]` for
random cut points i, and compare bar i.

Comparison is exact by default: entry and exit flags equal, stop and target equal as floats with
NaN equal to NaN. TA-Lib and element-wise numpy run the same floating-point operations on a
prefix with the same start, so honest strategies are bit-identical, and exactness catches even a
faint dependence on the future. A user strategy built on order-dependent floating-point work
(FFT convolution, pairwise sums) can pass a relative tolerance `rtol` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solbot.domain import CandleSeries, Signals
from solbot.strategy.base import Strategy

FIELDS = ("entry", "exit", "stop_loss", "take_profit")


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Bar `index`'s `field` differs: `full` from the whole series, `prefix` from bars 0..index."""

    index: int
    field: str
    full: float | bool
    prefix: float | bool


@dataclass(frozen=True)
class LookaheadReport:
    strategy: str
    bars: int
    cuts: tuple[int, ...]
    mismatches: tuple[Mismatch, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches

    @property
    def bad_bars(self) -> tuple[int, ...]:
        return tuple(sorted({m.index for m in self.mismatches}))

    @property
    def bad_fields(self) -> tuple[str, ...]:
        return tuple(f for f in FIELDS if any(m.field == f for m in self.mismatches))

    def summary(self) -> str:
        if self.passed:
            return f"{self.strategy}: no look-ahead in {len(self.cuts)} cut points of {self.bars}"
        bars = self.bad_bars
        shown = ", ".join(str(i) for i in bars[:10]) + (", ..." if len(bars) > 10 else "")
        return (
            f"{self.strategy}: LOOK-AHEAD at {len(bars)} of {len(self.cuts)} cut points "
            f"(fields: {', '.join(self.bad_fields)}; bars: {shown})"
        )


def check_lookahead(
    strategy: Strategy,
    series: CandleSeries,
    cuts: int = 2000,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    rtol: float = 0.0,
) -> LookaheadReport:
    """Compare signals on the full series with signals on `cuts` seeded random prefixes.

    Cut points are drawn without replacement from every bar, warm-up included (a strategy
    that emits signals during its warm-up is caught too); with `cuts >= len(series)` every bar
    is checked. `progress(done, total)` is called after each prefix.
    """
    n = len(series)
    full = strategy.signals(series)
    rng = np.random.default_rng(seed)
    points = np.sort(rng.choice(n, size=min(cuts, n), replace=False)) if n else np.array([])
    mismatches: list[Mismatch] = []
    total = len(points)
    for done, i in enumerate(points.tolist(), start=1):
        prefix = strategy.signals(series[: i + 1])
        mismatches.extend(_compare(full, prefix, i, rtol))
        if progress is not None:
            progress(done, total)
    return LookaheadReport(strategy.name, n, tuple(points.tolist()), tuple(mismatches))


def _compare(full: Signals, prefix: Signals, i: int, rtol: float) -> list[Mismatch]:
    out = []
    for field in ("entry", "exit"):
        a, b = bool(getattr(full, field)[i]), bool(getattr(prefix, field)[i])
        if a != b:
            out.append(Mismatch(i, field, a, b))
    for field in ("stop_loss", "take_profit"):
        a, b = float(getattr(full, field)[i]), float(getattr(prefix, field)[i])
        if not _same_float(a, b, rtol):
            out.append(Mismatch(i, field, a, b))
    return out


def _same_float(a: float, b: float, rtol: float) -> bool:
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return a == b or abs(a - b) <= rtol * max(abs(a), abs(b))


__all__ = ["FIELDS", "LookaheadReport", "Mismatch", "check_lookahead"]
