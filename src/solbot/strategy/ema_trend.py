"""`ema_trend`, the default strategy: ride trends that a fast/slow EMA crossover confirms.

Entry on the bar where EMA(fast) closes above EMA(slow) after being at or below it, if RSI is
inside [rsi_min, rsi_max]: momentum is up but not yet overbought, so we avoid buying the top of
a spike. Exit on the bar where EMA(fast) closes below EMA(slow) after being at or above it, or,
with `rsi_exit` set, on any bar whose RSI is above it. Suggested stop and target are ATR
multiples as fractions of the close, so they widen with volatility instead of being a fixed
percentage that is noise on one token and a crash on another.

Defaults suit 1h candles: MACD's classic 12/26, RSI 14 in 50..70, ATR 14 with a 2x stop and a
4x target (2:1 reward to risk).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from solbot.domain import CandleSeries, Signals
from solbot.strategy import indicators as ind
from solbot.strategy.atr_exits import atr_convergence, atr_exits, atr_warmup
from solbot.strategy.base import Strategy, StrategyParams


class EmaTrendParams(StrategyParams):
    fast: int = Field(12, ge=2, description="fast EMA period (bars)")
    slow: int = Field(26, ge=3, description="slow EMA period (bars)")
    rsi_period: int = Field(14, ge=2, description="RSI period (bars)")
    rsi_min: float = Field(50.0, ge=0, le=100, description="lowest RSI at which to enter")
    rsi_max: float = Field(70.0, ge=0, le=100, description="highest RSI at which to enter")
    rsi_exit: float | None = Field(
        None, ge=0, le=100, description="also exit on any bar with RSI above this (off if unset)"
    )
    atr_period: int = Field(14, ge=1, description="ATR period (bars)")
    atr_stop: float = Field(2.0, ge=0, description="stop distance in ATRs (0: no suggestion)")
    atr_target: float = Field(4.0, ge=0, description="target distance in ATRs (0: no suggestion)")

    @model_validator(mode="after")
    def _consistent(self) -> EmaTrendParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be less than slow ({self.slow})")
        if self.rsi_min >= self.rsi_max:
            raise ValueError(
                f"rsi_min ({self.rsi_min:g}) must be less than rsi_max ({self.rsi_max:g})"
            )
        if self.rsi_exit is not None and self.rsi_exit < self.rsi_max:
            # Otherwise one bar could be both an entry and an exit.
            raise ValueError(
                f"rsi_exit ({self.rsi_exit:g}) must not be below rsi_max ({self.rsi_max:g})"
            )
        return self


class EmaTrend(Strategy):
    name: ClassVar[str] = "ema_trend"
    summary: ClassVar[str] = "EMA fast/slow crossover with an RSI filter and ATR stop/target"
    Params = EmaTrendParams
    params: EmaTrendParams

    @property
    def warmup(self) -> int:
        p = self.params
        # A crossover at bar i reads both EMAs at bar i-1: one bar past the slow EMA's warm-up.
        needed = [
            ind.ema_warmup(p.fast) + 1,
            ind.ema_warmup(p.slow) + 1,
            ind.rsi_warmup(p.rsi_period),
            atr_warmup(p),
        ]
        return max(needed)

    @property
    def convergence(self) -> int:
        p = self.params
        needed = [
            ind.ema_convergence(p.fast),
            ind.ema_convergence(p.slow),
            ind.wilder_convergence(p.rsi_period),
            atr_convergence(p),
        ]
        return max(needed)

    def compute(self, series: CandleSeries) -> Signals:
        p = self.params
        close = ind.as_float_array(series.close)
        fast = ind.ema(close, p.fast)
        slow = ind.ema(close, p.slow)
        rsi = ind.rsi(close, p.rsi_period)
        entry = ind.crossed_above(fast, slow) & (rsi >= p.rsi_min) & (rsi <= p.rsi_max)
        exit_ = ind.crossed_below(fast, slow)
        if p.rsi_exit is not None:
            exit_ |= rsi > p.rsi_exit
        stop, target = atr_exits(p, series)
        return Signals(entry, exit_, stop, target)


__all__ = ["EmaTrend", "EmaTrendParams"]
