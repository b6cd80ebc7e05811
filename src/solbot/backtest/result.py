"""What a backtest returns: configuration, the equity curve, and the trade log, in columns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from solbot.domain import (
    BoolArray,
    ExitReason,
    ExitRules,
    FloatArray,
    IntArray,
    RiskLimits,
    Timeframe,
    TradeRecord,
)

FillConvention = Literal["next_open", "close"]


@dataclass(frozen=True)
class BacktestConfig:
    """How to simulate. Costs: `fee_bps` per fill, `slippage_bps` against us per fill, and, with
    `price_impact`, a constant-product pool of each token's `liquidity_usd` (see docs)."""

    initial_cash: float = 10_000.0
    quote: Literal["USDC", "SOL"] = "USDC"
    fee_bps: float = 25.0
    slippage_bps: float = 10.0
    price_impact: bool = True
    fill: FillConvention = "next_open"
    risk: RiskLimits = field(default_factory=RiskLimits)
    exits: ExitRules = field(default_factory=ExitRules)

    def __post_init__(self) -> None:
        if not self.initial_cash > 0:
            raise ValueError(f"initial cash must be positive, got {self.initial_cash}")
        if not 0 <= self.fee_bps < 10_000:
            raise ValueError(f"fee_bps must be in [0, 10000), got {self.fee_bps}")
        if not 0 <= self.slippage_bps < 10_000:
            raise ValueError(f"slippage_bps must be in [0, 10000), got {self.slippage_bps}")
        if self.fill not in ("next_open", "close"):
            raise ValueError(f"fill must be 'next_open' or 'close', got {self.fill!r}")


@dataclass(frozen=True)
class TradeLog:
    """Closed round trips in columns (one row per trade, in exit order). Values in quote units.

    `entry_value` is the quote spent including the entry fee; `exit_value` the quote received net
    of the exit fee; `pnl = exit_value - entry_value`; `return_pct = 100 * pnl / entry_value`.
    """

    token: IntArray
    entry_index: IntArray
    exit_index: IntArray
    entry_time: IntArray
    exit_time: IntArray
    entry_price: FloatArray
    exit_price: FloatArray
    quantity: FloatArray
    entry_value: FloatArray
    exit_value: FloatArray
    fees: FloatArray
    pnl: FloatArray
    return_pct: FloatArray
    reason: IntArray

    def __len__(self) -> int:
        return len(self.token)

    def records(self, tokens: tuple[str, ...]) -> list[TradeRecord]:
        return [
            TradeRecord(
                token=tokens[int(self.token[i])],
                entry_time=int(self.entry_time[i]),
                exit_time=int(self.exit_time[i]),
                entry_price=float(self.entry_price[i]),
                exit_price=float(self.exit_price[i]),
                quantity=float(self.quantity[i]),
                entry_value=float(self.entry_value[i]),
                exit_value=float(self.exit_value[i]),
                fees=float(self.fees[i]),
                pnl=float(self.pnl[i]),
                return_pct=float(self.return_pct[i]),
                exit_reason=ExitReason(int(self.reason[i])),
            )
            for i in range(len(self))
        ]

    def select(self, mask: BoolArray) -> TradeLog:
        return TradeLog(**{name: getattr(self, name)[mask] for name in self.__dataclass_fields__})

    @classmethod
    def empty(cls) -> TradeLog:
        ints = np.zeros(0, dtype=np.int64)
        floats = np.zeros(0, dtype=np.float64)
        return cls(ints, ints, ints, ints, ints, *(floats,) * 8, ints)


@dataclass(frozen=True)
class RefusalLog:
    """Entry signals refused, in columns: when (Unix seconds: the close that decided it, or the
    open a next-open entry found the cash gone at), which token (its column), why (a
    `BlockReason`). What `blocked` counts, one row each."""

    time: IntArray
    token: IntArray
    reason: IntArray

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def empty(cls) -> RefusalLog:
        ints = np.zeros(0, dtype=np.int64)
        return cls(ints, ints, ints)


@dataclass(frozen=True)
class BacktestResult:
    """A finished backtest. Arrays are indexed by bar of the common time index `open_time`;
    `close[:, k]` is token k's close carried forward over its missing bars (NaN before the
    first)."""

    strategy: str
    params: dict[str, Any]
    tokens: tuple[str, ...]
    timeframe: Timeframe
    config: BacktestConfig
    open_time: IntArray
    close: FloatArray
    equity: FloatArray
    exposure: BoolArray
    trades: TradeLog
    blocked: dict[str, int]
    refusals: RefusalLog = field(default_factory=RefusalLog.empty)

    @property
    def initial_cash(self) -> float:
        return self.config.initial_cash

    @property
    def final_equity(self) -> float:
        return float(self.equity[-1]) if len(self.equity) else self.config.initial_cash
