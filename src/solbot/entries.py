"""A user's entries at a candle's close: which signals their breakers allow, each sized from the
user's own portfolio value at that close, as orders for the executor.

The engine (`solbot.engine`) values each user and decides their exits first (`UserPlan`); this
module turns the closes' entry signals into orders, the way the backtest kernel does at a close
(`risk.check_entry`, `risk.entry_budget`: one verdict per entry, the next sized as if the one
before filled). What it refuses is said once per reason, and the run's log is what `solbot
reconcile` reads the refusals from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from solbot.accounts import Account
from solbot.domain import BlockReason, ExitRules, Signal
from solbot.domain import TokenInfo as Token
from solbot.events import TickStats
from solbot.execution.executor import SwapIntent
from solbot.execution.signing import Signer
from solbot.market.candles import CandleBook
from solbot.quarantine import OrderGuard
from solbot.store.states import Purpose, Side
from solbot.store.tables import PositionRow

Order = tuple[SwapIntent, Signer]
Say = Callable[[str | None, str, str], None]  # (user id, kind, text)


@dataclass
class UserPlan:
    """One user's part of a tick: what they hold and are worth, and the orders decided."""

    account: Account
    positions: list[PositionRow]
    cash: Decimal
    value: float
    exits: list[Order] = field(default_factory=list)
    highest: list[tuple[str, Decimal]] = field(default_factory=list)


class EntryPlanner:
    """Entries for one token universe and quote asset (see the module docstring)."""

    def __init__(
        self,
        *,
        tokens: list[Token],
        quote: Token,
        exits: ExitRules,
        book: CandleBook,
        guard: OrderGuard,
        stats: TickStats,
        min_cash: float,
        say: Say,
    ) -> None:
        self.tokens = {t.symbol: t for t in tokens}
        self.quote = quote
        self.exits = exits
        self.book = book
        self.guard = guard
        self.stats = stats
        self.min_cash = min_cash  # quote units a user needs before the loop opens positions
        self.say = say

    def plan(
        self, plan: UserPlan, signals: dict[str, Signal], now: float, stopped: bool
    ) -> list[Order]:
        """The entries the user's breakers allow at the close (`now`, bar time), sized from
        their own portfolio value at it; none while `stopped` (the operator's switch)."""
        account = plan.account
        held = {p.token for p in plan.positions}
        wanted = [
            s
            for s, signal in signals.items()
            if signal.entry and s not in held and self.guard.allows(account.user_id, s, Side.BUY)
        ]
        if not wanted or not account.active or stopped:
            return []
        cash = plan.cash
        if float(cash) < self.min_cash:
            return []  # too little to open a position (the user was told if the wallet is)
        open_count = len(plan.positions)
        blocked: dict[BlockReason, list[str]] = {}
        requests: list[Order] = []
        for k, symbol in enumerate(wanted):
            verdict = account.gate.entry(plan.value, float(cash), account.reserve, open_count, now)
            if not verdict.allowed:
                # The verdict does not depend on the token: the rest are turned down alike.
                rest = wanted[k:]
                label = verdict.blocked.label
                self.stats.blocked[label] = self.stats.blocked.get(label, 0) + len(rest)
                blocked.setdefault(verdict.blocked, []).extend(rest)
                break
            intent = self._intent(account, symbol, signals[symbol], verdict.budget, now)
            if intent is None:
                continue
            requests.append((intent, account.signer))
            open_count += 1  # as if it fills: the next entry is sized after this one
            cash -= Decimal(intent.amount_in).scaleb(-self.quote.decimals)
        for reason, symbols in blocked.items():  # one line per reason, not one per token
            text = f"{', '.join(symbols)}: {account.gate.describe(reason, now)}"
            self.say(account.user_id, "blocked", text)
        return requests

    def _intent(
        self, account: Account, symbol: str, signal: Signal, budget: float, now: float
    ) -> SwapIntent | None:
        """A buy of `budget` quote units of `symbol`, carrying the exit levels' fractions
        (the signal's suggestion, else the configured ones) for the position it opens."""
        token = self.tokens[symbol]
        amount = int(Decimal(str(budget)).scaleb(self.quote.decimals))
        if amount <= 0:
            return None
        stop = signal.stop_loss if signal.stop_loss is not None else self.exits.stop_loss_pct / 100
        target = (
            signal.take_profit
            if signal.take_profit is not None
            else (self.exits.take_profit_pct / 100 or None)
        )
        candle = self.book.last(symbol)
        return SwapIntent(
            user_id=account.user_id,
            token=symbol,
            side=Side.BUY,
            input_mint=self.quote.mint,
            output_mint=token.mint,
            amount_in=amount,
            purpose=Purpose.ENTRY,
            signal_key=f"{symbol}:{candle.open_time if candle else int(now)}:entry",
            stop_frac=Decimal(str(stop)) if stop else None,
            target_frac=Decimal(str(target)) if target else None,
        )
