"""An order's transaction on its route, from Jupiter's answer to the bytes the wallet may sign.

One place for what the single-order path (`Executor`) and the group path (`GroupExecutor`)
both do before signing: ask the route's endpoints (`/order`, `/swap`, `/build` plus our own
landing budget), and vet the transaction (`solbot.execution.vetting`) against the order it is
for, with its accounts resolved from the chain. What comes back is the unsigned transaction and
the fields the journal's `quoted` step records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain.builders import BLOCKHASH_VALIDITY_BLOCKS, MAX_COMPUTE_UNITS
from solbot.chain.lookup_tables import LookupTableError, LookupTables
from solbot.chain.port import Chain
from solbot.execution.jupiter import JupiterClient, VenueError
from solbot.execution.jupiter_types import OrderQuote
from solbot.execution.landing import LandingPolicy, SimulationFailedError, percentile, prepare
from solbot.execution.route_choice import EXPECTED_UNITS, compare
from solbot.execution.vetting import SwapTerms, UnsafeTransactionError, vet_swap
from solbot.store.states import Route
from solbot.store.tables import OrderRow

log = logging.getLogger(__name__)

Quoted = tuple[VersionedTransaction, dict[str, Any]]


class RouteQuoter:
    """Quotes orders on their route and vets what comes back (see the module docstring)."""

    def __init__(
        self,
        jupiter: JupiterClient,
        chain: Chain,
        *,
        slippage_bps: int,
        landing: LandingPolicy,
        trusted_programs: Iterable[Pubkey] = (),
        auto: bool = False,
    ) -> None:
        self.jupiter = jupiter
        self.chain = chain
        self.slippage_bps = slippage_bps
        self.landing = landing
        self.trusted_programs = frozenset(trusted_programs)
        self.tables = LookupTables(chain)
        # `SOLBOT_JUPITER_ROUTE=auto` (`route_choice`): a `/order` order moves to `/build` when
        # that costs less; the loop keeps the SOL price fresh, the last `/build` its units.
        self.auto = auto
        self.sol_usd: Decimal | None = None
        self.expected_units = EXPECTED_UNITS

    async def quote(self, order: OrderRow, owner: Pubkey, before: int) -> Quoted:
        """`order`'s unsigned transaction for `owner` (whose output balance was `before`), vetted.
        Raises `VenueError` (`UnsafeTransactionError` for a transaction it will not sign) or
        `SimulationFailedError` (a `/build` swap that would fail)."""
        route = Route(order.route)
        if route is Route.BUILD:
            unsigned, quoted = await self._build(order, owner)
        elif route is Route.V2:
            unsigned, quoted, answer = await self._order(order, owner)
            if self.auto and await self._build_is_cheaper(order, answer, owner):
                try:
                    unsigned, quoted = await self._build(order, owner)
                    quoted["route"] = Route.BUILD.value
                except (VenueError, SimulationFailedError) as exc:
                    # `/order`'s answer is still good: an order is not lost because the
                    # cheaper path failed (no route there, the server down, a transaction
                    # refused by the vetting, a swap that would fail as built).
                    log.warning("order %s: /build failed, staying on /order: %s", order.id, exc)
        else:
            unsigned, quoted = await self._swap_v1(order, owner)
        await self.vet(order, unsigned.message, owner, Route(quoted.get("route", route)))
        # The last height the transaction can land at, from our own chain, not Jupiter's word:
        # its blockhash is at most the current height, so it is dead 150 blocks after it.
        # Too late by a few blocks at worst; never too early (an order judged expired while
        # its transaction could still land would be booked as never filled).
        bound = await self.chain.block_height() + BLOCKHASH_VALIDITY_BLOCKS
        return unsigned, {**quoted, "last_valid_block_height": bound, "balance_before": before}

    async def vet(
        self, order: OrderRow, message: Message | MessageV0, owner: Pubkey, route: Route
    ) -> None:
        """Refuse (`UnsafeTransactionError`, logged) a message that does more than swap
        `order`'s input for `owner` on `route` within the per-order cost cap."""
        terms = SwapTerms(
            owner=owner,
            input_mint=Pubkey.from_string(order.input_mint),
            output_mint=Pubkey.from_string(order.output_mint),
            amount_in=order.amount_in,
            max_extra_lamports=self.landing.max_priority_lamports,
            owner_pays=None if route is Route.V2 else True,
            max_slippage_bps=self.slippage_bps,
        )
        try:
            keys = await self.tables.account_keys(message)
            vet_swap(message, keys, terms, self.trusted_programs)
        except LookupTableError as exc:
            log.warning("order %s: refused to sign: %s", order.id, exc)
            raise UnsafeTransactionError(f"Jupiter's transaction: {exc}") from None
        except UnsafeTransactionError as exc:
            log.warning("order %s: refused to sign: %s", order.id, exc)
            raise

    async def _build_is_cheaper(self, order: OrderRow, answer: OrderQuote, owner: Pubkey) -> bool:
        """Whether `/build` would cost the wallet less than `/order`'s `answer` (`auto`)."""
        if self.sol_usd is None:
            return False  # without a fresh SOL price: the default route
        unit_price = percentile(await self.chain.recent_fees(), self.landing.percentile_bps)
        costs = compare(
            answer,
            str(owner),
            self.sol_usd,
            unit_price=unit_price,
            units=self.expected_units,
            policy=self.landing,
        )
        if costs is None:
            return False
        log.debug(
            "order %s: /order would cost $%s, /build $%s",
            order.id,
            f"{costs.order_usd:.6f}",
            f"{costs.build_usd:.6f}",
        )
        return costs.build_is_cheaper

    async def _order(
        self, order: OrderRow, owner: Pubkey
    ) -> tuple[VersionedTransaction, dict[str, Any], OrderQuote]:
        """Swap v2 `/order`: Jupiter's transaction, executed by Jupiter (`/execute`)."""
        quote = await self.jupiter.order(
            order.input_mint,
            order.output_mint,
            order.amount_in,
            taker=owner,
            slippage_bps=self.slippage_bps,
        )
        if quote.transaction is None:
            raise VenueError(quote.error_message or "the venue returned no transaction")
        quoted = {
            "request_id": quote.request_id,
            "fee_bps": quote.fee_bps,
            "quoted_out": quote.out_amount,
            "min_out": quote.other_amount_threshold,
            "last_valid_block_height": quote.last_valid_block_height,
        }
        return quote.unsigned_transaction(), quoted, quote

    async def _swap_v1(self, order: OrderRow, owner: Pubkey) -> Quoted:
        """Legacy `/quote` + `/swap`: Jupiter's transaction, sent by us; its priority fee
        asked within our cap."""
        quote = await self.jupiter.quote(
            order.input_mint, order.output_mint, order.amount_in, slippage_bps=self.slippage_bps
        )
        swap = await self.jupiter.swap_transaction(
            quote, owner, max_priority_fee_lamports=self.landing.max_priority_lamports
        )
        quoted = {
            "quoted_out": quote.out_amount,
            "min_out": quote.other_amount_threshold,
            "last_valid_block_height": swap.last_valid_block_height,
        }
        return swap.unsigned_transaction(), quoted

    async def _build(self, order: OrderRow, owner: Pubkey) -> Quoted:
        """Swap v2 `/build`: our own transaction, its compute budget ours (`landing`)."""
        built = await self.jupiter.build(
            order.input_mint,
            order.output_mint,
            order.amount_in,
            taker=owner,
            slippage_bps=self.slippage_bps,
        )
        # Jupiter's instructions vetted before they are even simulated (with no priority fee:
        # the budget is ours, set below and vetted again with the rest).
        preview = built.message(owner, unit_limit=MAX_COMPUTE_UNITS, unit_price=0)
        await self.vet(order, preview, owner, Route.BUILD)
        landing = await prepare(self.chain, built, owner, self.landing)
        self.expected_units = landing.unit_limit  # `auto`'s estimate for the next order
        if landing.capped:
            log.info(
                "order %s: priority fee capped at %d lamports (%d µlamports/CU, recent fees "
                "asked %d)",
                order.id,
                landing.priority_fee_lamports,
                landing.unit_price,
                landing.wanted_price,
            )
        blank = [Signature.default()] * landing.message.header.num_required_signatures
        quoted = {
            "quoted_out": built.out_amount,
            "min_out": built.other_amount_threshold,
            "last_valid_block_height": built.last_valid_block_height,
            "compute_unit_limit": landing.unit_limit,
            "compute_unit_price": landing.unit_price,
        }
        return VersionedTransaction.populate(landing.message, blank), quoted
