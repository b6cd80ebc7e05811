"""What the trading loop reports: an `Event` for each thing worth telling the operator and the
user (a fill, an exit, a breaker, a failed order, a pause), and the counters behind the status
line and the closing summary (`TickStats`). Plain data: the console (`cli/run_view.py`) and the
Telegram notifier each render them their own way."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from solbot.engine import Engine

# Said (and logged) when the operator's entry switch changes (`Roster.refresh`); `solbot
# reconcile` reads the span from the log.
ENTRIES_STOPPED = "new entries stopped by the operator; exits keep running"
ENTRIES_ALLOWED = "new entries allowed again"


# Alerts for the operator (the vault's, a quarantine, a fee that could not be paid): Telegram
# sends them to the operator's chat, webhooks to the operator's endpoints.
OPERATOR_ALERTS = frozenset(
    {"decrypt_alert", "key_rotated", "identity_refused", "quarantined", "fee_failed"}
)


@dataclass
class Event:
    """Something worth telling the operator (and the user it is about)."""

    time: float  # the bot's clock (simulated on the sim)
    user_id: str | None
    kind: str
    text: str
    user: str = ""  # the user's name, for people (their id when the loop does not know it)


@dataclass
class TickStats:
    """Counters for the status line and the end-of-run summary."""

    ticks: int = 0
    candles: int = 0
    entries: int = 0
    exits: int = 0
    failed: int = 0
    moved_out: int = 0  # positions (or parts) closed because their tokens left the wallet
    blocked: dict[str, int] = field(default_factory=dict)
    realised_pnl: Decimal = Decimal(0)  # what the swaps made (the venue's fee is in their prices)
    # Lamports the wallets paid for their own transactions beyond the swaps (network and
    # priority fees, rent of new accounts; 0 on `/order`, where the venue pays them).
    costs_lamports: int = 0


# What the loop says about an order, in units (never atoms) and with the reason of a failure.
def entry_text(token: str, bought: Decimal, spent: Decimal, quote: str) -> str:
    """'bought 1,234.567 JUP for 500.00 USDC'."""
    return f"bought {bought:,f} {token} for {spent:,.2f} {quote}"


# Why a position closed, in words (the code names are the books' and the backtest's).
EXIT_WORDS = {
    "stop_loss": "stop-loss hit",
    "take_profit": "take-profit reached",
    "trailing_stop": "trailing stop hit",
    "signal": "the strategy's sell signal",
    "max_hold": "held as long as allowed",
    "end_of_data": "end of the data",
    "manual": "closed on request",
    "moved_out": "the tokens left the wallet",
}


def exit_words(reason: str) -> str:
    return EXIT_WORDS.get(reason, reason.replace("_", " "))


def exit_text(token: str, sold: Decimal, reason: str | None, pnl: Decimal, quote: str) -> str:
    """'sold 1,234.567 JUP (stop-loss hit), PnL -4.30 USDC'."""
    why = f" ({exit_words(reason)})" if reason else ""
    return f"sold {sold:,f} {token}{why}, PnL {pnl:+.2f} {quote}"


def failed_text(token: str, side: str, state: str, error: str | None) -> str:
    """'JUP buy: failed: Jupiter execute ... failed: quote expired (code -2003): ...'."""
    return f"{token} {side}: {state}: {error or 'no reason given'}"


def recovered_text(order_id: str, state: str, error: str | None) -> str:
    """'order 8f3c…: confirmed', or with the reason when it did not go through."""
    return f"order {order_id}: {state}" + (f" ({error})" if error else "")


def when(ts: float) -> str:
    """A moment for people: '2026-01-05 14:05' (UTC)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def warm_up(engine: Engine, now: float) -> str:
    """'warming up: first signal at 2026-01-05 14:05 UTC, in 5 more 1m candles' while no
    token has the candles the strategy needs (naming the tokens still short when some have
    them); '' once every token has."""
    missing = engine.candles_missing()
    short = {symbol: n for symbol, n in missing.items() if n > 0}
    if not short:
        return ""
    n = min(short.values())
    timeframe = engine.timeframe
    # The candle forming now is the first of the `n`; the signal comes as the last one closes.
    first = timeframe.floor(int(now)) + n * timeframe.seconds
    who = "" if len(short) == len(missing) else f" ({', '.join(sorted(short))})"
    plural = "s" if n > 1 else ""
    return (
        f"warming up{who}: first signal at {when(first)} UTC, in {n} more {timeframe.value} "
        f"candle{plural}"
    )
