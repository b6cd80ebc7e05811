"""`SOLBOT_JUPITER_ROUTE=auto`: per order, the route that costs the wallet less for its size.

`/order` (Swap v2, Jupiter lands it) charges Jupiter's fee, `feeBps` of the swap, and on an
aggregator route also the signature and priority fees the taker pays (`signatureFeeLamports`,
`prioritizationFeeLamports` with their payer). `/build` charges no Jupiter fee; the wallet pays
the network fee and a priority fee capped per transaction (`solbot.execution.landing`). So the
fee in basis points wins on small orders, our own landing above a size that depends on the SOL
price and on how busy the network is:

    order:  feeBps / 10,000 × the swap's USD value  +  taker-paid lamports × SOL/USD
    build:  (5,000 + recent unit price × expected units, at most the cap) × SOL/USD

The order answer comes first (it carries the fee and the swap's USD value); only when `/build`
is cheaper is it asked too. Rent is left out on both sides: a new token account's rent is a
deposit the wallet gets back when the account is closed (`solbot.rent_reclaim`). Without a
fresh SOL price the order stays on `/order`, the default route.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from solbot.chain.builders import SIGNATURE_FEE
from solbot.execution.jupiter_types import OrderQuote
from solbot.execution.landing import LandingPolicy, priority_fee

LAMPORTS_PER_SOL = Decimal(1_000_000_000)
EXPECTED_UNITS = (
    300_000  # a swap's compute units before any was simulated (Jupiter's are ~150-400k)
)


@dataclass(frozen=True, slots=True)
class RouteCosts:
    """What each route would cost the wallet for one order, in USD."""

    order_usd: Decimal
    build_usd: Decimal

    @property
    def build_is_cheaper(self) -> bool:
        return self.build_usd < self.order_usd


def order_cost_usd(quote: OrderQuote, taker: str, sol_usd: Decimal) -> Decimal | None:
    """What `/order`'s answer would cost `taker` (None when it does not say the swap's value)."""
    value = quote.in_usd_value
    if value is None:
        return None
    fee = Decimal(quote.fee_bps or 0) / 10_000 * value
    lamports = 0
    if quote.signature_fee_payer == taker:
        lamports += quote.signature_fee_lamports or 0
    if quote.prioritization_fee_payer == taker:
        lamports += quote.prioritization_fee_lamports or 0
    return fee + Decimal(lamports) / LAMPORTS_PER_SOL * sol_usd


def build_cost_lamports(unit_price: int, units: int, policy: LandingPolicy) -> int:
    """The network fee and the priority fee a `/build` transaction would pay at `unit_price`
    (µlamports per unit) for `units`, capped as the landing caps it."""
    priority = min(priority_fee(unit_price, units), policy.max_priority_lamports)
    return SIGNATURE_FEE + priority


def compare(
    quote: OrderQuote,
    taker: str,
    sol_usd: Decimal,
    *,
    unit_price: int,
    units: int,
    policy: LandingPolicy,
) -> RouteCosts | None:
    """Both routes' costs for the order `quote` answers (None when they cannot be told)."""
    order = order_cost_usd(quote, taker, sol_usd)
    if order is None:
        return None
    build = Decimal(build_cost_lamports(unit_price, units, policy)) / LAMPORTS_PER_SOL * sol_usd
    return RouteCosts(order, build)
