"""What a new wallet needs before the bot trades for it, said in words the user can act on.

Two amounts matter, both from the rules the loop applies:
- the minimum cash (`Settings.min_trade_cash_for`, `SOLBOT_MIN_TRADE_CASH`): the loop opens no
  position while the wallet holds less of the quote asset (USDC or SOL);
- the SOL fee reserve of the user's risk limits (0.05 SOL): never traded, so the wallet can
  always pay for its exits and token accounts.
With USDC as the quote asset these are two deposits (USDC, and SOL for the fees); with SOL as
the quote asset, one deposit of SOL covering both. Each position takes a share of the
portfolio's value (the tier's position size), so a larger deposit gives larger positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from solbot.domain import RiskLimits


@dataclass(frozen=True)
class Deposit:
    """One asset to send to the wallet: at least `amount`, and why."""

    asset: str
    amount: Decimal
    why: str

    def line(self) -> str:
        return f"{self.asset}: at least {plain(self.amount)}{self.why}"


def deposits(quote: str, min_trade: float, limits: RiskLimits) -> list[Deposit]:
    """What to deposit for a portfolio held in `quote` ("USDC" or "SOL")."""
    minimum = Decimal(str(min_trade))
    reserve = Decimal(str(limits.fee_reserve_sol))
    share = Decimal(str(min(limits.position_size_pct, limits.max_position_pct)))
    sizing = f"each takes {plain(share)}% of the portfolio's value"
    fees = "for network fees (the fee reserve: never traded)"
    if quote == "SOL":
        return [
            Deposit(
                "SOL",
                reserve + minimum,
                f": {plain(reserve)} {fees} plus {plain(minimum)}, below which no position "
                f"opens (SOLBOT_MIN_TRADE_CASH); {sizing}",
            )
        ]
    return [
        Deposit(
            quote,
            minimum,
            f"; no position opens below {plain(minimum)} {quote} (SOLBOT_MIN_TRADE_CASH), "
            f"and {sizing}",
        ),
        Deposit("SOL", reserve, f" {fees}"),
    ]


def plain(amount: Decimal) -> str:
    """10.0 → '10', 0.050 → '0.05': no trailing zeros, never exponent notation."""
    return f"{amount.normalize():f}"
