"""The vocabularies stored in the journal, and the order lifecycle.

Stored as plain text with CHECK constraints rather than database ENUM types: a PostgreSQL ENUM
cannot lose a value and is awkward to migrate, and SQLite has none. The `StrEnum`s compare equal
to the stored strings, so rows read back as `str` and still match `OrderState.SENT`.
"""

from __future__ import annotations

from enum import StrEnum


class OrderState(StrEnum):
    """Where an order is in its life. See `TRANSITIONS` for the legal moves."""

    CREATED = "created"
    QUOTED = "quoted"
    SIGNED = "signed"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return not TRANSITIONS[self]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Purpose(StrEnum):
    ENTRY = "entry"
    EXIT = "exit"


class Route(StrEnum):
    """Which Jupiter swap API produced the transaction, or `paper`: filled at the quote, in the
    database only (paper trading signs and sends nothing)."""

    V2 = "v2"
    BUILD = "build"  # Swap v2 /build: our own transaction, landed by us
    V1 = "v1"
    PAPER = "paper"


class Custody(StrEnum):
    """Where a user's wallet key lives: sealed in the database, or outside it (never stored)."""

    VAULT = "vault"
    EXTERNAL = "external"


class RiskTier(StrEnum):
    CONSERVATIVE = "conservative"
    MODERATE = "moderate"
    AGGRESSIVE = "aggressive"


class WithdrawalState(StrEnum):
    """A withdrawal's life: journaled, signed (bytes stored), sent, then an outcome."""

    CREATED = "created"
    SIGNED = "signed"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"


class PositionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    OrderState.CREATED: frozenset({OrderState.QUOTED, OrderState.FAILED}),
    # `quoted → confirmed` is a paper fill (at the quote, nothing signed or sent); the journal
    # allows it for paper orders only (`Orders.advance` checks the route in the same UPDATE).
    OrderState.QUOTED: frozenset({OrderState.SIGNED, OrderState.CONFIRMED, OrderState.FAILED}),
    # A signed transaction may already be on the wire (a crash can fall between sending and
    # recording it), so it can only go on to `sent`; what became of it is decided from there,
    # by asking the chain about its signature.
    OrderState.SIGNED: frozenset({OrderState.SENT}),
    OrderState.SENT: frozenset({OrderState.CONFIRMED, OrderState.FAILED, OrderState.EXPIRED}),
    OrderState.CONFIRMED: frozenset(),
    OrderState.FAILED: frozenset(),
    OrderState.EXPIRED: frozenset(),
}

PENDING_STATES: frozenset[OrderState] = frozenset(s for s, nxt in TRANSITIONS.items() if nxt)
"""States a restart has to look at: the order is not finished yet."""


def check_transition(source: str, target: str) -> None:
    """Raise ValueError unless `source → target` is a move of the lifecycle."""
    src, dst = OrderState(source), OrderState(target)
    if dst not in TRANSITIONS[src]:
        allowed = ", ".join(sorted(TRANSITIONS[src])) or "nothing (terminal)"
        raise ValueError(f"illegal order transition {src} → {dst}; from {src}: {allowed}")


def sql_in(values: type[StrEnum]) -> str:
    """`'a', 'b'` for a CHECK constraint listing an enum's values."""
    return ", ".join(f"'{v.value}'" for v in values)
