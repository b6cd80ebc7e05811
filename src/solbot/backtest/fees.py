"""The operator's performance fee over a backtest, by the live rule (`solbot.fee_rule`).

Live, the fee accrues per day on realised PnL above the high-water mark; here the same rule
(`performance_fee`, written once) runs over the backtest's round trips, day by day of their
exits (a day without an exit changes nothing). The fee is reported beside the PnL, not taken
out of the equity curve: the curve stays comparable with independent engines, and the line
says what a friend would have kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from solbot.domain import TradeRecord
from solbot.fee_rule import performance_fee


@dataclass(frozen=True)
class BacktestFee:
    pct: float
    fee: Decimal  # the total, in the quote asset
    days_charged: int
    high_water: Decimal  # the mark at the end
    realised: Decimal  # the PnL it was charged on

    def to_json(self) -> dict[str, object]:
        return {
            "pct": self.pct,
            "fee": float(self.fee),
            "days_charged": self.days_charged,
            "high_water": float(self.high_water),
            "realised_pnl": float(self.realised),
            "pnl_after_fee": float(self.realised - self.fee),
        }


def backtest_fee(trades: Sequence[TradeRecord], pct: float) -> BacktestFee:
    by_day: dict[str, Decimal] = {}
    for trade in trades:
        day = datetime.fromtimestamp(trade.exit_time, UTC).strftime("%Y-%m-%d")
        by_day[day] = by_day.get(day, Decimal(0)) + Decimal(repr(trade.pnl))
    rate = Decimal(repr(pct))
    realised = charged = mark = Decimal(0)
    days = 0
    for day in sorted(by_day):
        realised += by_day[day]
        step = performance_fee(realised - charged, mark, rate)
        charged += step.fee
        mark = step.high_water
        days += step.fee > 0
    return BacktestFee(pct, charged, days, mark, realised)
