"""The performance fee in a backtest follows the live rule: the same days, the same mark."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from solbot.backtest.fees import backtest_fee
from solbot.domain import ExitReason, TradeRecord

DAY1 = int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp())


def trade(pnl: float, exit_time: int) -> TradeRecord:
    return TradeRecord(
        token="JUP", entry_time=exit_time - 3600, exit_time=exit_time, entry_price=1.0,
        exit_price=1.0, quantity=1.0, entry_value=1.0, exit_value=1.0, fees=0.0, pnl=pnl,
        return_pct=0.0, exit_reason=ExitReason.SIGNAL,
    )  # fmt: skip


def test_a_backtest_pays_the_fee_the_live_accrual_would() -> None:
    # The live accrual's case (tests/test_fees.py): +100, -60, +80 on three days at 10 %.
    trades = [trade(100, DAY1), trade(-60, DAY1 + 86_400), trade(80, DAY1 + 2 * 86_400)]
    fee = backtest_fee(trades, 10.0)
    assert (fee.fee, fee.high_water, fee.days_charged) == (Decimal(12), Decimal(108), 2)
    assert fee.to_json()["pnl_after_fee"] == 108.0


def test_two_exits_on_one_day_are_one_day_and_a_loss_pays_nothing() -> None:
    same_day = [trade(50, DAY1), trade(-80, DAY1 + 60)]
    fee = backtest_fee(same_day, 20.0)
    assert (fee.fee, fee.high_water, fee.realised) == (Decimal(0), Decimal(0), Decimal(-30))
