"""The operator's performance fee (the design note's open question 1): off unless set.

The rule, written once (`performance_fee`): a user pays `pct` percent of their *realised*
profit above their high-water mark, and the mark moves to what they keep. Profit is the
booked PnL of their trades, net of the fees already charged, so a deposit or a withdrawal is
never mistaken for profit, an open position's paper gain is not charged before it is sold,
and a user is never taken below their high-water mark: after a loss nothing is charged until
the loss is made good.

Fees accrue per day of the trading clock (`FeeBook.accrue_through`, called by the running
loop): one `fee_accruals` row per user and day, written once (the primary key; a process that
computed the same day meanwhile writes nothing), so a crash, a restart or two processes at
once neither skip a day nor charge one twice. What has accrued is what the users owe; paying
it to the operator's fee wallet is `solbot.fee_sweeps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from solbot.clock import Clock
from solbot.fee_rule import performance_fee
from solbot.store.db import Database
from solbot.store.repository import insert_for
from solbot.store.states import Custody
from solbot.store.tables import FeeAccrualRow, TradeRow, UserRow
from solbot.store.types import canonical_price, utc_from_timestamp

DAY = timedelta(days=1)
INSERT_BATCH = 500  # rows per INSERT: SQLite binds at most 32,766 values in one statement


@dataclass(frozen=True)
class _Start:
    day: datetime  # the first day to accrue
    charged: Decimal  # before it
    mark: Decimal


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
        """Accrue every vault user's days up to `end` (a midnight, UTC) that have no row yet,
        in one transaction and a handful of queries whatever the number of users. Users
        whose fee is 0 get rows too (fee 0, the mark following their profit up), so turning a
        fee on later charges only the profit made from then on."""
        async with self.db.session() as s:
            users = {
                u.id: u
                for u in await s.scalars(
                    select(UserRow).where(UserRow.custody == Custody.VAULT.value)
                )
            }
            starts = await self._starts(s, set(users))
            if not starts:
                return 0
            # Realised PnL is summed from every trade each time, not carried over from the last
            # row: a fill booked late (an order a restart settled) into a day already accrued
            # still counts, on the next day accrued.
            before: dict[str, Decimal] = {}  # each user's PnL before their first day to accrue
            pnl_by_day: dict[tuple[str, str], Decimal] = {}
            trades = await s.execute(
                select(TradeRow.user_id, TradeRow.timestamp, TradeRow.pnl).where(
                    TradeRow.pnl.is_not(None), TradeRow.timestamp < end
                )
            )
            for user_id, moment, pnl in trades:
                start = starts.get(user_id)
                if start is None:
                    continue
                if moment < start.day:
                    before[user_id] = before.get(user_id, Decimal(0)) + Decimal(pnl)
                else:
                    key = (user_id, day_of(moment))
                    pnl_by_day[key] = pnl_by_day.get(key, Decimal(0)) + Decimal(pnl)
            now = utc_from_timestamp(self.clock.now())
            rows: list[dict[str, Any]] = []
            for user_id, start in starts.items():
                pct = self.pct_of(users[user_id])
                day, charged, mark = start.day, start.charged, start.mark
                realised = before.get(user_id, Decimal(0))
                while day + DAY <= end:
                    realised += pnl_by_day.get((user_id, day_of(day)), Decimal(0))
                    step = performance_fee(realised - charged, mark, pct)
                    charged += step.fee
                    mark = step.high_water
                    rows.append(
                        {
                            "user_id": user_id, "day": day_of(day), "pct": pct,
                            "realised": realised, "fee": step.fee, "charged": charged,
                            "high_water": mark, "created_at": now,
                        }
                    )  # fmt: skip
                    day += DAY
            if not rows:
                return 0
            # Another process may have written the same days meanwhile (by the same rule, from
            # the same books): theirs stand, and this one writes none of them twice.
            written = 0
            for first in range(0, len(rows), INSERT_BATCH):
                done = await s.execute(
                    insert_for(s, FeeAccrualRow)
                    .values(rows[first : first + INSERT_BATCH])
                    .on_conflict_do_nothing()
                )
                written += int(done.rowcount)
        return written

    async def _starts(self, session: Any, user_ids: set[str]) -> dict[str, _Start]:
        """Where each user's accrual goes on from: the day after their last row, or the day
        of their first trade (a user who never traded owes nothing and has no start)."""
        latest = (
            select(FeeAccrualRow.user_id, func.max(FeeAccrualRow.day).label("day"))
            .group_by(FeeAccrualRow.user_id)
            .subquery()
        )
        last_rows = await session.scalars(
            select(FeeAccrualRow).join(
                latest,
                (FeeAccrualRow.user_id == latest.c.user_id) & (FeeAccrualRow.day == latest.c.day),
            )
        )
        starts = {
            row.user_id: _Start(
                datetime.strptime(row.day, "%Y-%m-%d").replace(tzinfo=UTC) + DAY,
                Decimal(row.charged),
                Decimal(row.high_water),
            )
            for row in last_rows
            if row.user_id in user_ids
        }
        firsts = await session.execute(
            select(TradeRow.user_id, func.min(TradeRow.timestamp)).group_by(TradeRow.user_id)
        )
        for user_id, first in firsts:
            if user_id in user_ids and user_id not in starts and first is not None:
                day = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
                starts[user_id] = _Start(day, Decimal(0), Decimal(0))
        return starts

    async def state(self, user: UserRow) -> FeeState:
        async with self.db.session() as s:
            last = await s.scalar(
                select(FeeAccrualRow)
                .where(FeeAccrualRow.user_id == user.id)
                .order_by(FeeAccrualRow.day.desc())
                .limit(1)
            )
        if last is None:
            return FeeState(self.pct_of(user), Decimal(0), Decimal(0), None)
        return FeeState(
            self.pct_of(user), Decimal(last.high_water), Decimal(last.charged), last.day
        )
