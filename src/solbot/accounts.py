"""The users the trading loop serves, as the loop sees them: an `Account` (wallet, breakers,
counters), where accounts come from while running (`AccountSource`: `roster.Roster`), and the
breakers' memory that a restart must not forget, kept in `meta` under `risk:<user id>`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.execution.signing import Signer
from solbot.risk import S_LAST_EQUITY, RiskGate
from solbot.store.db import Database
from solbot.store.tables import MetaEntry


@dataclass
class Account:
    """A user the loop trades for: their wallet, breakers and counters. An inactive (paused)
    account opens nothing; its open positions are still exited as usual."""

    user_id: str
    signer: Signer
    gate: RiskGate
    reserve: float = 0.0  # quote units never traded (the SOL fee reserve when SOL is the quote)
    active: bool = True
    saved_gate: list[float] = field(default_factory=list)  # what `meta` holds for this user
    username: str = ""
    told: str = ""  # the last standing condition the user was told about (e.g. "unfunded")
    value: float | None = None  # portfolio value at the last mark, in the quote asset
    cash_atoms: int | None = None  # the quote asset the wallet held at that mark
    marked_at: float | None = None  # when that mark was (the trading clock)


class Notice(Protocol):
    """A change to tell about (see `roster.Notice`)."""

    @property
    def user_id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def username(self) -> str: ...


class AccountSource(Protocol):
    """Where the accounts come from when they can change while running (`roster.Roster`)."""

    accounts: list[Account]

    async def refresh(self) -> Sequence[Notice]: ...

    async def flush(self) -> Sequence[Notice]: ...

    async def before_tick(self) -> Sequence[Notice]:
        """What must hold before anything is signed this tick (the master key still the
        database's); drops the accounts that may no longer sign."""
        ...


def gate_key(user_id: str) -> str:
    """Where a user's breakers' memory is kept in `meta`."""
    return f"risk:{user_id}"


async def saved_gates(session: AsyncSession, user_ids: Sequence[str]) -> dict[str, list[float]]:
    """The breakers' memory the loop last saved for these users (those it has one for)."""
    keys = {gate_key(user_id): user_id for user_id in user_ids}
    rows = await session.scalars(select(MetaEntry).where(MetaEntry.key.in_(list(keys))))
    return {keys[row.key]: json.loads(row.value) for row in rows}


async def load_gate(db: Database, account: Account) -> None:
    """Restore the account's breakers from what the last run saved."""
    async with db.session() as s:
        row = await s.get(MetaEntry, gate_key(account.user_id))
    if row is not None:
        account.gate.restore(json.loads(row.value))
    account.saved_gate = account.gate.state()


async def save_gates(db: Database, accounts: Sequence[Account]) -> None:
    """Persist, in one transaction, each breaker memory that changed in a way a restart must
    not forget: the last marked value alone moves every tick and is re-marked on the first tick
    anyway, so a change of it alone is not written."""
    changed = [
        a
        for a in accounts
        if _without_last_equity(a.gate.state()) != _without_last_equity(a.saved_gate)
    ]
    if not changed:
        return
    async with db.session() as s:
        for account in changed:
            account.saved_gate = account.gate.state()
            key = gate_key(account.user_id)
            row = await s.get(MetaEntry, key)
            value = json.dumps(account.saved_gate)
            if row is None:
                s.add(MetaEntry(key=key, value=value))
            else:
                row.value = value


def _without_last_equity(state: list[float]) -> list[float]:
    return [x for i, x in enumerate(state) if i != S_LAST_EQUITY]


def funding_notice(
    account: Account, value: float, minimum: float, quote: str
) -> tuple[str, str] | None:
    """What to tell a user about their wallet's size, once per change: too small to trade (a
    new wallet before its deposit), or big enough now (trading starts for them). The wallet's
    value counts, cash and positions, so a user whose cash is in positions is never asked to
    deposit; and once funded, only a drop below 90 % of the minimum says so again, so prices
    moving around the minimum do not send a message each way."""
    if account.told == "unfunded":
        if value < minimum:
            return None
        account.told = "funded"
        return (
            "funded",
            f"your wallet now holds {value:,.2f} {quote}, enough to trade: trading starts for "
            "you with the next signal",
        )
    floor = minimum * (0.9 if account.told == "funded" else 1.0)
    if value >= floor:
        return None
    account.told = "unfunded"
    return (
        "unfunded",
        f"not trading: {value:,.2f} {quote} is below the {minimum:,.2f} {quote} minimum; "
        f"deposit to {account.signer.pubkey()} to start",
    )
