"""What the sim market maker deals in: its configuration, its quotes, what `/execute` answers,
and the refusals it can give (each message fit for an API error body). Apart from the maker
itself so the API and the tests can name them without the maker's machinery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

__all__ = [
    "CODE_FAILED_TO_LAND",
    "CODE_NOT_FULLY_SIGNED",
    "CODE_QUOTE_EXPIRED",
    "CODE_SUCCESS",
    "CODE_SWAP_REJECTED",
    "ExecuteOutcome",
    "InvalidRequestError",
    "InvalidTransactionError",
    "Layout",
    "MakerConfig",
    "MakerError",
    "MessageMismatchError",
    "NoRouteError",
    "OrderNotFoundError",
    "Pricing",
    "Quote",
    "signer_index",
]

Layout = Literal["v1", "v2"]

# Execute codes (Jupiter Swap API v2 `/execute`): see `solbot.sim.jupiter_api`.
CODE_SUCCESS = 0
CODE_NOT_FULLY_SIGNED = -1003
CODE_FAILED_TO_LAND = -2000
CODE_QUOTE_EXPIRED = -2003
CODE_SWAP_REJECTED = -2004


@dataclass(frozen=True, slots=True)
class MakerConfig:
    """How the maker prices and how long it keeps its word.

    `fee_bps` is charged as `costs` charges it (on the quote-asset value); `spread_bps` is the
    full bid-ask spread, half of which each side pays. `funding_usd` is the value of each asset
    `fund` gives the maker. An executed request id answers the same result for
    `execute_memory_seconds` after its quote expired, so a retried `/execute` is harmless.
    `v2_taker_pays`: `/order` answers as on Jupiter's aggregator routes (`gasless: false`):
    the taker is the fee payer, paying the signature fee and the rent of accounts the swap
    creates, while the maker still signs at `/execute` (by default, JupiterZ's RFQ: the maker
    pays).
    """

    fee_bps: float = 25.0
    spread_bps: float = 20.0
    quote_ttl_seconds: float = 30.0
    funding_usd: float = 50_000_000.0
    execute_memory_seconds: float = 120.0
    v2_taker_pays: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.fee_bps < 10_000:
            raise ValueError(f"fee_bps must be in [0, 10000), got {self.fee_bps}")
        if not 0 <= self.spread_bps < 20_000:
            raise ValueError(f"spread_bps must be in [0, 20000), got {self.spread_bps}")
        if not self.quote_ttl_seconds > 0:
            raise ValueError(f"quote_ttl_seconds must be positive, got {self.quote_ttl_seconds}")
        if not self.funding_usd > 0:
            raise ValueError(f"funding_usd must be positive, got {self.funding_usd}")

    @classmethod
    def from_costs(cls, fee_bps: float, slippage_bps: float) -> MakerConfig:
        """The maker that charges what a backtest models (`SOLBOT_FEE_BPS`,
        `SOLBOT_SLIPPAGE_BPS`): its fee, and a spread whose half is the slippage of each fill.
        One configuration for both sides, or the sim trades at costs the backtest never saw."""
        return cls(fee_bps=fee_bps, spread_bps=2 * slippage_bps)

    @property
    def fee(self) -> float:
        return self.fee_bps / 10_000.0

    @property
    def half_spread(self) -> float:
        return self.spread_bps / 20_000.0


class MakerError(Exception):
    """A request the maker cannot serve; the message is fit for an API error body."""


class NoRouteError(MakerError):
    """The maker does not trade this pair, or not this amount (too small, beyond inventory)."""


class InvalidRequestError(MakerError):
    """The request itself is malformed (bad amount, bad address, same mint both sides)."""


class OrderNotFoundError(MakerError):
    """No open order under this request id (never issued, or forgotten after it expired)."""


class InvalidTransactionError(MakerError):
    """The signed transaction could not be read, or has the wrong number of signatures."""


class MessageMismatchError(MakerError):
    """The signed transaction's message is not the one the maker issued for this request."""


@dataclass(frozen=True, slots=True)
class Pricing:
    """A priced swap, before any transaction: what goes in, what comes out, and why.

    `market_price` is the token's price in the quote asset, `fill_price` the average price after
    spread and impact (fee excluded); `price_impact_pct` is the size-dependent part alone (the
    constant-product pool's), in percent, never negative. `fee_amount` is in atoms of `fee_mint`
    (the quote asset). USD values are of the atoms at the current prices.
    """

    input_mint: Pubkey
    output_mint: Pubkey
    in_amount: int
    out_amount: int
    side: Literal["buy", "sell"]
    token: str
    quote: str
    market_price: float
    fill_price: float
    price_impact_pct: float
    fee_amount: int
    fee_mint: Pubkey
    in_usd: float
    out_usd: float
    slot: int
    priced_at: float
    expires_at: float


@dataclass(frozen=True)
class Quote:
    """A firm quote with its swap transaction for `taker`, in `layout`.

    `transaction` is unsigned (v2) or carries the maker's signature (v1); `rent_lamports` is the
    rent of token accounts it creates for the taker, paid by `fee_payer`, as is the signature fee
    `signature_fee_lamports`.
    """

    pricing: Pricing
    request_id: str
    quote_id: str
    taker: Pubkey
    maker: Pubkey
    layout: Layout
    transaction: VersionedTransaction
    last_valid_block_height: int
    fee_payer: Pubkey
    rent_lamports: int
    signature_fee_lamports: int

    @property
    def taker_index(self) -> int:
        """The taker's signature slot (its index among the message's signer keys)."""
        return signer_index(self.transaction.message, self.taker)


@dataclass(frozen=True, slots=True)
class ExecuteOutcome:
    """What `/execute` answers: Jupiter's status, code and error, and what landed where."""

    status: Literal["Success", "Failed"]
    code: int
    error: str | None
    signature: Signature | None
    slot: int | None
    in_amount: int | None
    out_amount: int | None
    pricing: Pricing

    @property
    def ok(self) -> bool:
        return self.status == "Success"


def signer_index(message: MessageV0, key: Pubkey) -> int:
    """`key`'s signature slot in `message`: its index among the first signer keys."""
    signers = list(message.account_keys[: message.header.num_required_signatures])
    try:
        return signers.index(key)
    except ValueError:
        raise InvalidTransactionError(f"{key} does not sign this transaction") from None
