"""Landing a transaction of our own: the compute budget a `/build` swap is sent with.

What serious Solana bots do, and Jupiter's own advice for `/build` (dev.jup.ag/docs/swap/v2/
build, "advanced techniques"; RPC providers' landing guides, see facts.md):

- **Compute-unit limit** from a simulation of the very transaction: the units it used × 1.2,
  never more than the runtime's 1.4 M. The priority fee is price × *limit*, so a tight limit is
  the cheapest way to bid high, and a block has room for more such transactions.
- **Unit price** from the fees recent slots paid for the accounts the swap writes
  (`getRecentPrioritizationFees` gives each of the last 150 slots' minimum): a percentile of
  them, p75 by default.
- **A cap per transaction**, in lamports: the price is lowered until price × limit fits under
  it, so a fee spike (or a fee market gone mad) can cost a wallet at most the cap per order.
  A transaction bidding less than the going rate may then be dropped while the spike lasts: the
  executor re-sends the same bytes until the blockhash expires (`solbot.chain.sending`), and an
  order that expired without landing is over, cleanly, with nothing spent.

The simulation runs unsigned (`sigVerify` off, the blockhash replaced): nothing is signed
before the budget is known, and a swap that would fail (slippage, funds) is refused here, before
anything is journaled as signed, at no cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain.builders import MAX_COMPUTE_UNITS
from solbot.chain.port import Chain
from solbot.execution.build import SwapBuild

MICRO_LAMPORTS = 1_000_000  # per lamport: the unit price's unit
MAX_FEE_ACCOUNTS = 128  # getRecentPrioritizationFees' limit


def priority_fee(unit_price: int, units: int) -> int:
    """Lamports a transaction's priority fee comes to: price (µlamports a unit) × units,
    rounded up as the runtime does; integers only."""
    return -(-unit_price * units // MICRO_LAMPORTS)


@dataclass(frozen=True, slots=True)
class LandingPolicy:
    """How our own transactions bid for a place in a block.

    `percentile_bps`: which of the recent slots' fees to pay (7,500 = p75). `max_priority_lamports`:
    the most one transaction may pay in priority fees (0.001 SOL by default). `unit_margin`:
    the limit over the simulated units (1.2, Jupiter's advice)."""

    percentile_bps: int = 7_500
    max_priority_lamports: int = 1_000_000
    unit_margin: float = 1.2

    def __post_init__(self) -> None:
        if not 0 <= self.percentile_bps <= 10_000:
            raise ValueError(f"percentile_bps must be in 0..10000, got {self.percentile_bps}")
        if self.max_priority_lamports < 0:
            raise ValueError("max_priority_lamports must be >= 0")
        if not (math.isfinite(self.unit_margin) and self.unit_margin >= 1.0):
            raise ValueError(f"unit_margin must be at least 1, got {self.unit_margin}")


@dataclass(frozen=True, slots=True)
class Landing:
    """The message to sign, and the budget it carries. `wanted_price` is the percentile before
    the cap (above `unit_price` when the cap bound)."""

    message: MessageV0
    unit_limit: int
    unit_price: int
    wanted_price: int
    simulated_units: int

    @property
    def priority_fee_lamports(self) -> int:
        """What the priority fee comes to: price × limit, rounded up (as the runtime does)."""
        return priority_fee(self.unit_price, self.unit_limit)

    @property
    def capped(self) -> bool:
        return self.unit_price < self.wanted_price


class SimulationFailedError(Exception):
    """The swap would fail if sent (its simulation failed): nothing was signed. `reason` is the
    runtime's error; the logs stay out of the message (they can be long)."""

    def __init__(self, reason: str, logs: Sequence[str] = ()) -> None:
        super().__init__(f"the swap would fail: {reason}")
        self.reason = reason
        self.logs = tuple(logs)


def percentile(values: Sequence[int], bps: int) -> int:
    """The `bps`/10,000 percentile of `values` by nearest rank (0 for none): a value that was
    really paid, never an interpolation between two."""
    if not values:
        return 0
    ranked = sorted(values)
    rank = max(1, math.ceil(bps / 10_000 * len(ranked)))
    return ranked[min(rank, len(ranked)) - 1]


def written_accounts(built: SwapBuild) -> list[Pubkey]:
    """The accounts the swap instruction writes: the ones whose fee market it joins."""
    seen: list[Pubkey] = []
    for meta in built.swap.accounts:
        if meta.is_writable and meta.pubkey not in seen:
            seen.append(meta.pubkey)
    return seen[:MAX_FEE_ACCOUNTS]


async def prepare(chain: Chain, built: SwapBuild, payer: Pubkey, policy: LandingPolicy) -> Landing:
    """Price and size the compute budget of `built` for `payer`, per `policy`."""
    fees = await chain.recent_fees(written_accounts(built))
    wanted = percentile(fees, policy.percentile_bps)
    probe = built.message(payer, unit_limit=MAX_COMPUTE_UNITS, unit_price=wanted)
    unsigned = [Signature.default()] * probe.header.num_required_signatures
    simulation = await chain.simulate(
        VersionedTransaction.populate(probe, unsigned), sig_verify=False
    )
    if simulation.err is not None:
        raise SimulationFailedError(simulation.err, simulation.logs)
    units = simulation.units or 0
    limit = min(MAX_COMPUTE_UNITS, max(1, math.ceil(units * policy.unit_margin)))
    price = min(wanted, policy.max_priority_lamports * MICRO_LAMPORTS // limit)
    message = built.message(payer, unit_limit=limit, unit_price=price)
    return Landing(message, limit, price, wanted, units)
