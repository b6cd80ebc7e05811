"""Hand-built backtest results for the metrics and report tests: small enough to check by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from solbot.backtest.result import BacktestConfig, BacktestResult, TradeLog
from solbot.domain import ExitReason, Timeframe

START = 1_704_067_200  # 2024-01-01T00:00:00Z


@dataclass(frozen=True)
class TradeSpec:
    """One trade as a test states it; prices and values follow from these."""

    token: int
    entry_time: int
    exit_time: int
    entry_value: float
    pnl: float
    reason: ExitReason = ExitReason.SIGNAL
    fees: float = 0.0
    entry_price: float = 10.0


def make_trades(rows: Sequence[TradeSpec], bar_seconds: int = 86_400) -> TradeLog:
    quantity = np.array([r.entry_value / r.entry_price for r in rows], dtype=np.float64)
    entry_value = np.array([r.entry_value for r in rows], dtype=np.float64)
    pnl = np.array([r.pnl for r in rows], dtype=np.float64)
    exit_value = entry_value + pnl
    entry_time = np.array([r.entry_time for r in rows], dtype=np.int64)
    exit_time = np.array([r.exit_time for r in rows], dtype=np.int64)
    return TradeLog(
        token=np.array([r.token for r in rows], dtype=np.int64),
        entry_index=(entry_time - START) // bar_seconds,
        exit_index=(exit_time - START) // bar_seconds,
        entry_time=entry_time,
        exit_time=exit_time,
        entry_price=np.array([r.entry_price for r in rows], dtype=np.float64),
        exit_price=np.divide(exit_value, quantity, out=np.zeros_like(pnl), where=quantity > 0),
        quantity=quantity,
        entry_value=entry_value,
        exit_value=exit_value,
        fees=np.array([r.fees for r in rows], dtype=np.float64),
        pnl=pnl,
        return_pct=100.0 * pnl / entry_value,
        reason=np.array([int(r.reason) for r in rows], dtype=np.int64),
    )


def make_result(
    equity: Sequence[float],
    *,
    timeframe: Timeframe = Timeframe.D1,
    initial_cash: float = 100.0,
    tokens: tuple[str, ...] = ("SOL",),
    trades: Sequence[TradeSpec] = (),
    close: np.ndarray | None = None,
    exposure: Sequence[bool] | None = None,
    blocked: dict[str, int] | None = None,
    quote: Literal["USDC", "SOL"] = "USDC",
    params: dict[str, Any] | None = None,
) -> BacktestResult:
    n = len(equity)
    open_time = START + timeframe.seconds * np.arange(n, dtype=np.int64)
    if close is None:
        close = np.tile(np.linspace(10.0, 12.0, max(n, 1))[:n, None], (1, len(tokens)))
    return BacktestResult(
        strategy="sma_cross",
        params={"fast": 10, "slow": 30} if params is None else params,
        tokens=tokens,
        timeframe=timeframe,
        config=BacktestConfig(initial_cash=initial_cash, quote=quote),
        open_time=open_time,
        close=np.asarray(close, dtype=np.float64),
        equity=np.asarray(equity, dtype=np.float64),
        exposure=np.asarray(exposure if exposure is not None else [False] * n, dtype=np.bool_),
        trades=make_trades(trades, timeframe.seconds) if trades else TradeLog.empty(),
        blocked={} if blocked is None else blocked,
    )


def three_trades() -> list[TradeSpec]:
    """Two SOL winners and one JUP loser, one hour to 3h 20m long."""
    h = 3600
    return [
        TradeSpec(0, START + h, START + 2 * h, 300.0, 30.0, ExitReason.TAKE_PROFIT, fees=1.0),
        TradeSpec(1, START + 2 * h, START + 4 * h, 200.0, -10.0, ExitReason.STOP_LOSS, fees=2.0),
        TradeSpec(
            0, START + 5 * h, START + 5 * h + 12_000, 400.0, 20.0, ExitReason.SIGNAL, fees=3.0
        ),
    ]
