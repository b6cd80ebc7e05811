"""`solbot backtest`: run a strategy over stored candles."""

from __future__ import annotations


def backtest() -> None:
    """Backtest a strategy over stored candles."""
