"""Jupiter's answers as the bot reads them, and the errors a call can end in: the vocabulary
the client (`solbot.execution.jupiter`) and its parsers (`solbot.execution.jupiter_wire`)
share. What each field means, and where it was verified, is in the client's docstring."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from solders.transaction import VersionedTransaction

from solbot.errors import UserError


class VenueError(UserError):
    """Jupiter could not give us what we asked for; the message is one line for the operator.

    `status` is the HTTP status, `code` Jupiter's error code, `signature` a transaction signature
    the answer named. `outcome_unknown` is True when a swap may have executed although we could
    not learn it (an `/execute` call whose answers were lost): check the chain before retrying.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        signature: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.signature = signature
        self.outcome_unknown = outcome_unknown


class NoRouteError(VenueError):
    """No route between the two tokens for this amount (no liquidity, or not tradable)."""


class QuoteExpiredError(VenueError):
    """The quote, its requestId or its transaction's blockhash expired: quote again."""


class NotFullySignedError(VenueError):
    """The transaction lacks a valid signature we owed it."""


class RateLimitedError(VenueError):
    """Jupiter kept answering 429 through every retry."""


class PriceImpactTooHighError(VenueError):
    """The quote moves the price more than the configured cap; nothing was executed."""

    def __init__(self, message: str, *, impact_pct: Decimal, cap_pct: Decimal) -> None:
        super().__init__(message)
        self.impact_pct = impact_pct
        self.cap_pct = cap_pct


class VenueServerError(VenueError):
    """Jupiter kept failing (5xx) or could not be reached through every retry."""


class BadResponseError(VenueError):
    """Jupiter answered something we cannot read (not JSON, or not the documented shape)."""


class RequestRejectedError(VenueError):
    """Jupiter refused the request (a 4xx other than no route), or quoted but could not build the
    transaction (insufficient funds, simulation failed)."""


@dataclass(frozen=True, slots=True)
class OrderQuote:
    """A Swap v2 `/order` answer. Amounts are atoms; `price_impact_pct` is in percent (1 = 1 %).

    `transaction` holds the unsigned transaction's bytes (None when no taker was given); the
    fee fields say who pays what, which differs between aggregator and RFQ routes.
    """

    request_id: str
    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    other_amount_threshold: int
    swap_mode: str
    slippage_bps: int | None
    price_impact_pct: Decimal
    router: str | None
    swap_type: str | None
    mode: str | None
    transaction: bytes | None = field(repr=False)
    last_valid_block_height: int | None
    fee_bps: int | None
    fee_mint: str | None
    platform_fee_amount: int | None
    platform_fee_bps: int | None
    signature_fee_lamports: int | None
    signature_fee_payer: str | None
    prioritization_fee_lamports: int | None
    prioritization_fee_payer: str | None
    rent_fee_lamports: int | None
    rent_fee_payer: str | None
    gasless: bool
    taker: str | None
    maker: str | None
    quote_id: str | None
    expire_at: int | None
    in_usd_value: Decimal | None
    out_usd_value: Decimal | None
    route_labels: tuple[str, ...]
    error_code: int | None
    error_message: str | None

    def unsigned_transaction(self) -> VersionedTransaction:
        """The transaction to sign (`sign_own_slot`), decoded afresh."""
        if self.transaction is None:
            raise ValueError("this order was quoted without a taker: it has no transaction")
        return VersionedTransaction.from_bytes(self.transaction)

    def is_expired(self, now: float) -> bool:
        """True once an RFQ quote's `expireAt` has passed (aggregator quotes carry none)."""
        return self.expire_at is not None and now >= self.expire_at


@dataclass(frozen=True, slots=True)
class ExecuteResult:
    """A Swap v2 `/execute` answer that is not one of the errors raised instead.

    "Failed" results are returned, not raised: the transaction may have landed and failed on
    chain (slippage, code 6001) and its signature and fee belong in the journal.
    """

    status: Literal["Success", "Failed"]
    code: int
    signature: str | None
    slot: int | None
    error: str | None
    input_amount_result: int | None
    output_amount_result: int | None
    total_input_amount: int | None
    total_output_amount: int | None

    @property
    def ok(self) -> bool:
        return self.status == "Success"


@dataclass(frozen=True, slots=True)
class Quote:
    """A legacy Swap v1 `/quote` answer: the parsed fields, and the original text to post back
    to `/swap` exactly as received (Jupiter rebuilds the route from it)."""

    input_mint: str
    output_mint: str
    in_amount: int
    out_amount: int
    other_amount_threshold: int
    swap_mode: str
    slippage_bps: int
    price_impact_pct: Decimal
    route_labels: tuple[str, ...]
    context_slot: int | None
    raw_json: str = field(repr=False)

    @property
    def raw(self) -> dict[str, Any]:
        """A fresh copy of the answer as received (callers cannot alter the stored one)."""
        data = json.loads(self.raw_json)
        if not isinstance(data, dict):  # checked when the quote was parsed
            raise TypeError("quote is not an object")
        return data


@dataclass(frozen=True, slots=True)
class SwapTransaction:
    """A legacy Swap v1 `/swap` answer: an unsigned transaction the caller signs and sends."""

    transaction: bytes = field(repr=False)
    last_valid_block_height: int
    prioritization_fee_lamports: int | None
    compute_unit_limit: int | None

    def unsigned_transaction(self) -> VersionedTransaction:
        return VersionedTransaction.from_bytes(self.transaction)
