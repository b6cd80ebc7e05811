"""`donchian_breakout`: the turtle rule, buy a new high and sell a new low.

Entry on any bar whose close is above the highest high of the `entry_period` bars BEFORE it;
exit on any bar whose close is below the lowest low of the `exit_period` bars before it. The
channel excludes the current bar: its own high always contains its close, so an inclusive
channel could never be broken by a close, and one computed with later bars would be look-ahead.
Entry and exit can never fall on the same bar (for candles with low <= high, any previous low is
at most any previous high). Stop (and optional target) are ATR multiples as fractions of the
close. Defaults are the classic 20/10 with a 2-ATR stop and no fixed target: the exit channel
is the profit-taking rule.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from solbot.domain import CandleSeries, Signals
from solbot.strategy import indicators as ind
from solbot.strategy.atr_exits import atr_convergence, atr_exits, atr_warmup
from solbot.strategy.base import Strategy, StrategyParams


class DonchianBreakoutParams(StrategyParams):
    entry_period: int = Field(20, ge=2, description="bars whose highest high a close must beat")
    exit_period: int = Field(10, ge=2, description="bars whose lowest low a close must undercut")
    atr_period: int = Field(14, ge=1, description="ATR period (bars)")
    atr_stop: float = Field(2.0, ge=0, description="stop distance in ATRs (0: no suggestion)")
    atr_target: float = Field(0.0, ge=0, description="target distance in ATRs (0: no suggestion)")


class DonchianBreakout(Strategy):
    name: ClassVar[str] = "donchian_breakout"
    summary: ClassVar[str] = "close above the previous N-bar high, exit below the M-bar low"
    Params = DonchianBreakoutParams
    params: DonchianBreakoutParams

    @property
    def warmup(self) -> int:
        p = self.params
        # Channels of the previous bars: one bar past the channel's own warm-up.
        return max(
            ind.donchian_warmup(p.entry_period) + 1,
            ind.donchian_warmup(p.exit_period) + 1,
            atr_warmup(p),
        )

    @property
    def convergence(self) -> int:
        # The channels are finite windows; only the ATR behind the stop is recursive.
        return atr_convergence(self.params)

    def compute(self, series: CandleSeries) -> Signals:
        p = self.params
        high = ind.as_float_array(series.high)
        low = ind.as_float_array(series.low)
        close = ind.as_float_array(series.close)
        upper, _ = ind.donchian(high, low, p.entry_period)
        _, lower = ind.donchian(high, low, p.exit_period)
        entry = close > ind.shift(upper, 1)
        exit_ = close < ind.shift(lower, 1)
        stop, target = atr_exits(p, series)
        return Signals(entry, exit_, stop, target)


__all__ = ["DonchianBreakout", "DonchianBreakoutParams"]
