"""Plain data shared by every layer: no I/O, nothing of ours imported.

Market data (candles) is float64: it is a measurement, not money. On-chain amounts are integer
atoms and stored prices/PnL are `Decimal`; those types arrive with the execution layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class Timeframe(StrEnum):
    """Candle widths the bot understands. The value is what users type."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"

    @property
    def seconds(self) -> int:
        return _TIMEFRAME_SECONDS[self]

    @classmethod
    def parse(cls, text: str) -> Timeframe:
        """Parse '1m', '1h', ...; raises ValueError naming the valid choices."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            choices = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown timeframe {text!r}; choose one of {choices}") from None

    def floor(self, ts: int) -> int:
        """Open time of the candle of this timeframe that contains `ts` (UTC-aligned)."""
        return ts - ts % self.seconds


_TIMEFRAME_SECONDS = {
    Timeframe.M1: 60,
    Timeframe.M5: 300,
    Timeframe.M15: 900,
    Timeframe.H1: 3600,
    Timeframe.H4: 14400,
    Timeframe.D1: 86400,
}


@dataclass(frozen=True, slots=True)
class Candle:
    """One closed OHLCV bar. `open_time` is Unix seconds (UTC) of the bar's start."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    timeframe: Timeframe

    @property
    def close_time(self) -> int:
        return self.open_time + self.timeframe.seconds


@dataclass(frozen=True)
class CandleSeries:
    """A token's candles in columns, oldest first, strictly increasing open times.

    This is what strategies and the backtester consume: vectorised code works on whole columns,
    and a prefix `series[:i+1]` is exactly what was known at the close of bar i.
    """

    timeframe: Timeframe
    open_time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = len(self.open_time)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, expected {n}")
        if n > 1 and not bool(np.all(np.diff(self.open_time) > 0)):
            raise ValueError("open times must be strictly increasing")

    def __len__(self) -> int:
        return len(self.open_time)

    def __getitem__(self, index: slice) -> CandleSeries:
        if not isinstance(index, slice):
            raise TypeError("CandleSeries supports slicing only; use .candle(i) for one bar")
        return CandleSeries(
            self.timeframe,
            self.open_time[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
        )

    def candle(self, i: int) -> Candle:
        return Candle(
            int(self.open_time[i]),
            float(self.open[i]),
            float(self.high[i]),
            float(self.low[i]),
            float(self.close[i]),
            float(self.volume[i]),
            self.timeframe,
        )

    @classmethod
    def from_candles(cls, candles: list[Candle], timeframe: Timeframe) -> CandleSeries:
        return cls(
            timeframe,
            np.array([c.open_time for c in candles], dtype=np.int64),
            np.array([c.open for c in candles], dtype=np.float64),
            np.array([c.high for c in candles], dtype=np.float64),
            np.array([c.low for c in candles], dtype=np.float64),
            np.array([c.close for c in candles], dtype=np.float64),
            np.array([c.volume for c in candles], dtype=np.float64),
        )

    @classmethod
    def empty(cls, timeframe: Timeframe) -> CandleSeries:
        return cls.from_candles([], timeframe)


@dataclass(frozen=True)
class Signals:
    """A strategy's verdict for every bar of a series, each computed from bars up to its close.

    `stop_loss` and `take_profit` are suggested distances as fractions of the entry price
    (0.05 = 5% below/above the fill); NaN means "use the configured default / none". Fractions,
    not prices, because the fill price is only known after the signal (next bar's open).
    """

    entry: BoolArray
    exit: BoolArray
    stop_loss: FloatArray
    take_profit: FloatArray

    def __len__(self) -> int:
        return len(self.entry)

    def at(self, i: int) -> Signal:
        return Signal(
            bool(self.entry[i]),
            bool(self.exit[i]),
            _nan_to_none(self.stop_loss[i]),
            _nan_to_none(self.take_profit[i]),
        )


@dataclass(frozen=True, slots=True)
class Signal:
    """The signal of one bar: what live trading acts on (the last bar of the rolling window)."""

    entry: bool
    exit: bool
    stop_loss: float | None
    take_profit: float | None


def _nan_to_none(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


class ExitReason(IntEnum):
    """Why a position closed. Integer-valued so the compiled backtest kernel can return it."""

    NONE = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    TRAILING_STOP = 3
    SIGNAL = 4
    MAX_HOLD = 5
    END_OF_DATA = 6

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


class BlockReason(IntEnum):
    """Why the risk gate refused an entry. Exits are never blocked."""

    NONE = 0
    DAILY_LOSS = 1
    DRAWDOWN = 2
    COOLDOWN = 3
    MAX_OPEN_POSITIONS = 4
    INSUFFICIENT_CASH = 5
    PAUSED = 6

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", " ")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """A user's circuit breakers and sizing. Percentages are percent (5.0 = 5%).

    `cooldown_losses` consecutive losing trades pause entries for `cooldown_minutes`; a drawdown
    of `max_drawdown_pct` from the high-water mark pauses entries for `drawdown_pause_hours`,
    after which the high-water mark restarts from the equity of that moment.
    """

    position_size_pct: float = 5.0
    max_position_pct: float = 10.0
    max_daily_loss_pct: float = 5.0
    max_open_positions: int = 3
    cooldown_losses: int = 3
    cooldown_minutes: float = 240.0
    max_drawdown_pct: float = 20.0
    drawdown_pause_hours: float = 24.0
    fee_reserve_sol: float = 0.05

    def __post_init__(self) -> None:
        for name in (
            "position_size_pct",
            "max_position_pct",
            "max_daily_loss_pct",
            "max_drawdown_pct",
        ):
            value = getattr(self, name)
            if not 0 < value <= 100:
                raise ValueError(f"{name} must be in (0, 100], got {value}")
        for name in ("cooldown_minutes", "drawdown_pause_hours", "fee_reserve_sol"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.max_open_positions < 1:
            raise ValueError(
                f"max_open_positions must be at least 1, got {self.max_open_positions}"
            )
        if self.cooldown_losses < 0:
            raise ValueError(f"cooldown_losses must not be negative, got {self.cooldown_losses}")


@dataclass(frozen=True, slots=True)
class ExitRules:
    """Exit settings applied to every position. 0 disables a rule.

    Strategy-suggested stop/target distances override the defaults bar by bar.
    """

    stop_loss_pct: float = 5.0
    take_profit_pct: float = 0.0
    trailing_stop_pct: float = 0.0
    max_hold_minutes: float = 0.0

    def __post_init__(self) -> None:
        for name in ("stop_loss_pct", "trailing_stop_pct"):
            if not 0 <= getattr(self, name) < 100:
                raise ValueError(f"{name} must be in [0, 100), got {getattr(self, name)}")
        for name in ("take_profit_pct", "max_hold_minutes"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A tradable token: its symbol, mainnet mint, decimals and a GeckoTerminal pool for history.

    `liquidity_usd` is the depth of the modelled constant-product pool used for price impact.
    """

    symbol: str
    mint: str
    decimals: int
    pool: str
    liquidity_usd: float = 5_000_000.0


@dataclass(frozen=True)
class TradeRecord:
    """A closed round trip in a backtest (quote-asset units)."""

    token: str
    entry_time: int
    exit_time: int
    entry_price: float
    exit_price: float
    quantity: float
    entry_value: float
    exit_value: float
    fees: float
    pnl: float
    return_pct: float
    exit_reason: ExitReason

    @property
    def holding_seconds(self) -> int:
        return self.exit_time - self.entry_time


__all__ = [
    "BlockReason",
    "BoolArray",
    "Candle",
    "CandleSeries",
    "ExitReason",
    "ExitRules",
    "FloatArray",
    "IntArray",
    "RiskLimits",
    "Signal",
    "Signals",
    "Timeframe",
    "TokenInfo",
    "TradeRecord",
]
