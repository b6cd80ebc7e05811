"""Strategies as an operator would keep them in their own package, loaded by the CLI through
`--strategy <module>:<Class>`: one honest, one that reads the next bar's close."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from solbot.domain import CandleSeries, Signals
from solbot.strategy import indicators as ind
from solbot.strategy.base import Strategy, StrategyParams


class Momentum(Strategy):
    """Honest: enter when the close is above the close `lookback` bars earlier, exit below it."""

    summary = "close above the close N bars ago"

    class Params(StrategyParams):
        lookback: int = Field(3, ge=1, description="bars back to compare the close with")

    params: Params

    @property
    def warmup(self) -> int:
        return self.params.lookback

    def compute(self, series: CandleSeries) -> Signals:
        earlier = ind.shift(series.close, self.params.lookback)
        nan = np.full(len(series), np.nan)
        return Signals(series.close > earlier, series.close < earlier, nan, nan)


class TomorrowsClose(Strategy):
    """Cheats: enters when the NEXT bar closes higher, which no live bot can know."""

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, series: CandleSeries) -> Signals:
        upcoming = ind.shift(series.close, -1)
        nan = np.full(len(series), np.nan)
        return Signals(upcoming > series.close, upcoming < series.close, nan, nan)
