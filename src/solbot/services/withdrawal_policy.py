"""The rules a friend's own withdrawals follow (the seed's security checklist), on top of the
checks every withdrawal gets (`withdrawals`):

- **Whitelist**: only to addresses the user added with `/whitelist add`;
- **Time-lock**: an added address becomes usable only after `timelock` (24 h by default), so a
  thief who takes over a Telegram account cannot add their own address and withdraw at once;
  the user and the operator are told when an address is added;
- **Rolling 24-hour limit**: at most `daily_limit_pct` (50 %) of the wallet's value *at the
  start of the window* may leave within any 24 hours. The first withdrawal of a window fixes
  that value (its `window_base`: the wallet's SOL and its portfolio, quote asset and positions
  as the loop last marked them, in SOL) and every later one in the window measures against the
  same base, so repeated requests cannot drain the wallet half by half.

`check` runs inside the transaction that journals the withdrawal, with the user's row locked
(`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite): of two concurrent withdrawals, the
second sees the first and the limit holds for both together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from solders.pubkey import Pubkey
from sqlalchemy import func, select

from solbot.clock import Clock
from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.services.withdrawal_destinations import parse_destination
from solbot.services.withdrawals import LAMPORTS_PER_SOL, sol
from solbot.store.states import WithdrawalState
from solbot.store.tables import UserRow, WithdrawalAddressRow, WithdrawalRow
from solbot.store.types import utc_from_timestamp
from solbot.transfers import lock_user

WINDOW_SECONDS = 24 * 3600
_COUNTED = [
    s.value for s in WithdrawalState if s not in (WithdrawalState.FAILED, WithdrawalState.EXPIRED)
]


@dataclass(frozen=True)
class Limits:
    timelock_seconds: float = 24 * 3600.0
    daily_limit_pct: Decimal = Decimal(50)


class Whitelist:
    def __init__(self, session: Any, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def entries(self, user_id: str) -> list[WithdrawalAddressRow]:
        stmt = (
            select(WithdrawalAddressRow)
            .where(
                WithdrawalAddressRow.user_id == user_id,
                WithdrawalAddressRow.removed_at.is_(None),
            )
            .order_by(WithdrawalAddressRow.added_at)
        )
        return list(await self.session.scalars(stmt))

    async def add(
        self, user: UserRow, address: str, label: str | None, timelock_seconds: float
    ) -> WithdrawalAddressRow:
        """Add (or re-add) an address; usable after the time-lock."""
        to = parse_destination(address)
        if str(to) == user.wallet_pubkey:
            raise UserError("that is your trading wallet itself")
        now = utc_from_timestamp(self.clock.now())
        stmt = select(WithdrawalAddressRow).where(
            WithdrawalAddressRow.user_id == user.id, WithdrawalAddressRow.address == str(to)
        )
        row = (await self.session.scalars(stmt)).one_or_none()
        usable = now + timedelta(seconds=timelock_seconds)
        if row is None:
            row = WithdrawalAddressRow(
                id=str(uuid.uuid4()),
                user_id=user.id,
                address=str(to),
                label=(label or None),
                added_at=now,
                usable_from=usable,
            )
            self.session.add(row)
        elif row.removed_at is None:
            raise UserError(f"{to} is already on your whitelist")
        else:  # re-adding a removed address starts its time-lock again
            row.removed_at, row.added_at, row.usable_from, row.label = None, now, usable, label
        await self.session.flush()
        return row

    async def remove(self, user: UserRow, address: str) -> None:
        to = parse_destination(address)
        for row in await self.entries(user.id):
            if row.address == str(to):
                row.removed_at = utc_from_timestamp(self.clock.now())
                await self.session.flush()
                return
        raise UserError(f"{to} is not on your whitelist")


class Whitelists:
    """A user's withdrawal addresses as every shell changes them: under the master key's check,
    each change audited in its transaction (`whitelist_add`, `whitelist_remove`)."""

    def __init__(self, custody: CustodyService) -> None:
        self.custody = custody

    async def entries(self, user: UserRow) -> list[WithdrawalAddressRow]:
        async with self.custody.db.session() as s:
            return await Whitelist(s, self.custody.clock).entries(user.id)

    async def add(
        self, user: UserRow, address: str, label: str | None, timelock_seconds: float, *, actor: str
    ) -> WithdrawalAddressRow:
        """Add (or re-add) `address`, usable after `timelock_seconds`."""
        self.custody.require_key()
        async with self.custody.db.session() as s:
            row = await Whitelist(s, self.custody.clock).add(user, address, label, timelock_seconds)
            await self.custody.audit(
                s, actor, "whitelist_add", user, address=row.address, label=row.label
            )
        return row

    async def remove(self, user: UserRow, address: str, *, actor: str) -> None:
        self.custody.require_key()
        async with self.custody.db.session() as s:
            await Whitelist(s, self.custody.clock).remove(user, address)
            await self.custody.audit(s, actor, "whitelist_remove", user, address=address)


class Policy:
    """The whitelist, the time-lock and the 24-hour limit, as a `withdrawals` check."""

    def __init__(
        self,
        clock: Clock,
        limits: Limits,
        *,
        sol_balance: int,
        sol_price: Decimal | None,
    ) -> None:
        """`sol_balance`: the wallet's lamports now; `sol_price`: quote units per SOL (None
        when no price is known: then only the wallet's SOL counts towards the limit)."""
        self.clock = clock
        self.limits = limits
        self.sol_balance = sol_balance
        self.sol_price = sol_price

    async def __call__(
        self, session: Any, user: UserRow, to: Pubkey, lamports: int
    ) -> dict[str, Any]:
        await lock_user(session, user.id)
        await self._whitelisted(session, user, to)
        used, base = await self.window(session, user.id)
        if base is None:  # the window's first withdrawal: the value now is its start
            base = self.value(user)
        limit = int(
            (Decimal(base) * self.limits.daily_limit_pct / 100).to_integral_value(
                rounding=ROUND_FLOOR
            )
        )
        if used + lamports > limit:
            left = max(0, limit - used)
            raise UserError(
                f"over the 24-hour limit: {sol(left)} SOL can still be withdrawn now "
                f"({self.limits.daily_limit_pct}% of the wallet's value at the start of the window)"
            )
        return {"window_base": base}

    def value(self, user: UserRow) -> int:
        """The wallet's value now, in lamports: its SOL, and its portfolio at the SOL price."""
        value = Decimal(self.sol_balance)
        if self.sol_price is not None and self.sol_price > 0:
            value += Decimal(user.portfolio_value) / self.sol_price * LAMPORTS_PER_SOL
        return int(value.to_integral_value(rounding=ROUND_FLOOR))

    async def window(self, session: Any, user_id: str) -> tuple[int, int | None]:
        """Lamports withdrawn in the last 24 hours (in flight or landed), and the base the
        window's first withdrawal fixed (None when there is none)."""
        since = utc_from_timestamp(self.clock.now() - WINDOW_SECONDS)
        stmt = (
            select(WithdrawalRow.lamports, WithdrawalRow.window_base)
            .where(
                WithdrawalRow.user_id == user_id,
                WithdrawalRow.created_at >= since,
                WithdrawalRow.state.in_(_COUNTED),
            )
            .order_by(WithdrawalRow.created_at, WithdrawalRow.id)
        )
        rows = (await session.execute(stmt)).all()
        # Atoms are summed in Python (SQLite keeps them as text).
        used = sum(int(a) for a, _ in rows)
        bases = [int(b) for _, b in rows if b is not None]
        return used, (bases[0] if bases else None)

    async def _whitelisted(self, session: Any, user: UserRow, to: Pubkey) -> None:
        now = utc_from_timestamp(self.clock.now())
        for row in await Whitelist(session, self.clock).entries(user.id):
            if row.address == str(to):
                if row.usable_from > now:
                    when = row.usable_from.strftime("%Y-%m-%d %H:%M UTC")
                    raise UserError(f"{to} is on your whitelist but usable only from {when}")
                return
        raise UserError(f"{to} is not on your whitelist: /whitelist add {to}")


async def first_use(session: Any, user_id: str, address: str) -> bool:
    """True when no earlier withdrawal of the user went to `address` (the operator is told)."""
    stmt = (
        select(func.count())
        .select_from(WithdrawalRow)
        .where(WithdrawalRow.user_id == user_id, WithdrawalRow.destination == address)
    )
    return int(await session.scalar(stmt) or 0) == 0
