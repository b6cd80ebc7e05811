"""The operator's performance fee (the design note's open question 1): off unless set.

The rule, written once (`performance_fee`): a user pays `pct` percent of their *realised*
profit above their high-water mark, and the mark moves to what they keep. Profit is the
booked PnL of their trades, net of the fees already charged, so a deposit or a withdrawal is
never mistaken for profit, an open position's paper gain is not charged before it is sold,
and a user is never taken below their high-water mark: after a loss nothing is charged until
the loss is made good.

Fees accrue per day of the trading clock (`FeeBook.accrue_through`, called by the running
loop): one `fee_accruals` row per user and day, written once (the primary key), so a crash
or a restart neither skips a day nor charges one twice. What has accrued is what the users
owe; sending it to the operator's wallet is a transfer of its own (not yet built: see the
operator guide).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from solbot.clock import Clock
from solbot.store.db import Database
from solbot.store.tables import FeeAccrualRow, TradeRow, UserRow
from solbot.store.types import canonical_price, utc_from_timestamp

DAY = timedelta(days=1)


@dataclass(frozen=True)
class FeeStep:
    fee: Decimal
    high_water: Decimal  # the mark after the fee


def performance_fee(net_profit: Decimal, high_water: Decimal, pct: Decimal) -> FeeStep:
    """The fee on `net_profit` (realised, after earlier fees) above `high_water`; the new mark
    is what the user keeps, never below the old one."""
    above = net_profit - high_water
    if pct <= 0 or above <= 0:
        return FeeStep(Decimal(0), high_water)
    fee = canonical_price(above * pct / 100)
    return FeeStep(fee, net_profit - fee)


@dataclass(frozen=True)
class FeeState:
    """Where a user stands: their percentage, the mark, and what they owe so far."""

    pct: Decimal
    high_water: Decimal
    accrued: Decimal
    through: str | None  # the last day accrued (YYYY-MM-DD)


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


class FeeBook:
    def __init__(self, db: Database, clock: Clock, default_pct: float) -> None:
        self.db = db
        self.clock = clock
        self.default_pct = canonical_price(Decimal(str(default_pct)))
        self._through: str | None = None  # the last day this process accrued

    def pct_of(self, user: UserRow) -> Decimal:
        return Decimal(user.fee_pct) if user.fee_pct is not None else self.default_pct

    async def accrue_due(self) -> int:
        """Accrue every whole day before today (the trading clock's) not accrued yet; the
        rows written. Cheap between days: it looks at the database once a day."""
        today = utc_from_timestamp(self.clock.now()).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        yesterday = day_of(today - DAY)
        if self._through == yesterday:
            return 0
        written = await self.accrue_through(today)
        self._through = yesterday
        return written

    async def accrue_through(self, end: datetime) -> int:
        """Accrue each user's days up to `end` (a midnight, UTC) that have no row yet."""
        written = 0
        async with self.db.session() as s:
            users = list(await s.scalars(select(UserRow)))
        for user in users:
            pct = self.pct_of(user)
            if pct <= 0:
                continue
            written += await self._accrue_user(user.id, pct, end)
        return written

    async def _accrue_user(self, user_id: str, pct: Decimal, end: datetime) -> int:
        async with self.db.session() as s:
            last = await s.scalar(
                select(FeeAccrualRow)
                .where(FeeAccrualRow.user_id == user_id)
                .order_by(FeeAccrualRow.day.desc())
                .limit(1)
            )
            if last is None:  # from the day of the first trade (no trade, nothing to owe)
                first = await s.scalar(
                    select(func.min(TradeRow.timestamp)).where(TradeRow.user_id == user_id)
                )
                if first is None:
                    return 0
                day = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                high_water, charged = Decimal(0), Decimal(0)
            else:
                day = datetime.strptime(last.day, "%Y-%m-%d").replace(tzinfo=UTC) + DAY
                high_water = Decimal(last.high_water)
                charged = await self._charged(s, user_id)
            written = 0
            while day + DAY <= end:
                realised = await self._realised(s, user_id, day + DAY)
                step = performance_fee(realised - charged, high_water, pct)
                s.add(
                    FeeAccrualRow(
                        user_id=user_id, day=day_of(day), pct=pct, realised=realised,
                        fee=step.fee, high_water=step.high_water,
                        created_at=utc_from_timestamp(self.clock.now()),
                    )
                )  # fmt: skip
                charged += step.fee
                high_water = step.high_water
                day += DAY
                written += 1
            return written

    @staticmethod
    async def _realised(session: object, user_id: str, before: datetime) -> Decimal:
        rows = await session.scalars(  # type: ignore[attr-defined]
            select(TradeRow.pnl).where(
                TradeRow.user_id == user_id, TradeRow.pnl.is_not(None), TradeRow.timestamp < before
            )
        )
        return sum((Decimal(p) for p in rows), Decimal(0))

    @staticmethod
    async def _charged(session: object, user_id: str) -> Decimal:
        rows = await session.scalars(  # type: ignore[attr-defined]
            select(FeeAccrualRow.fee).where(FeeAccrualRow.user_id == user_id)
        )
        return sum((Decimal(f) for f in rows), Decimal(0))

    async def state(self, user: UserRow) -> FeeState:
        async with self.db.session() as s:
            rows = list(
                await s.scalars(
                    select(FeeAccrualRow)
                    .where(FeeAccrualRow.user_id == user.id)
                    .order_by(FeeAccrualRow.day)
                )
            )
        accrued = sum((Decimal(r.fee) for r in rows), Decimal(0))
        high_water = Decimal(rows[-1].high_water) if rows else Decimal(0)
        return FeeState(self.pct_of(user), high_water, accrued, rows[-1].day if rows else None)
