"""The performance fee's rule, written once for the live accrual (`solbot.fees`) and the
backtest (`solbot.backtest.fees`): a share of realised profit above the high-water mark, the
mark moving to what the user keeps. Plain arithmetic, no database, so the CLI can load it
without the storage stack."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class FeeStep:
    fee: Decimal
    high_water: Decimal  # the mark after the fee


def performance_fee(net_profit: Decimal, high_water: Decimal, pct: Decimal) -> FeeStep:
    """The fee on `net_profit` (realised, after earlier fees) above `high_water`; the new mark
    is what the user keeps, never below the old one."""
    above = net_profit - high_water
    if above <= 0:
        return FeeStep(Decimal(0), high_water)
    if pct <= 0:  # no fee: the mark follows the profit, so a fee set later starts from here
        return FeeStep(Decimal(0), net_profit)
    fee = above * pct / 100  # exact in Decimal; the books store it canonically (`Price`)
    return FeeStep(fee, net_profit - fee)
