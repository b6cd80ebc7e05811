"""The performance fee: a share of realised profit above the high-water mark, never taking a
user below it; accrued once per user and trading day (both databases), whatever restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from booking import book_trade
from solbot.clock import ManualClock
from solbot.errors import UserError
from solbot.fees import FeeBook, performance_fee
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.tables import AuditRow, FeeAccrualRow
from solbot.wallet.master import MasterKey

KEY = MasterKey.generate()
DAY1 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
D = Decimal


@pytest.mark.parametrize(
    ("net", "mark", "pct", "fee", "new_mark"),
    [
        ("100", "0", "10", "10", "90"),  # profit above the mark: 10 % of it
        ("90", "90", "10", "0", "90"),  # at the mark: nothing
        ("40", "90", "10", "0", "90"),  # below it (a loss): nothing, the mark stays
        ("100", "90", "10", "1", "99"),  # only the part above the mark
        ("100", "0", "0", "0", "100"),  # off: the mark follows the profit
        ("-5", "0", "20", "0", "0"),  # never a fee on a loss
    ],
)
def test_the_fee_is_a_share_of_profit_above_the_high_water_mark(
    net: str, mark: str, pct: str, fee: str, new_mark: str
) -> None:
    step = performance_fee(D(net), D(mark), D(pct))
    assert (step.fee, step.high_water) == (D(fee), D(new_mark))
    assert step.high_water >= D(mark)  # never below the mark
    assert D(net) - step.fee >= D(mark) or step.fee == 0


async def test_fees_accrue_once_per_day_over_the_books(db_url: str) -> None:
    db = Database(db_url)
    clock = ManualClock(DAY1)
    try:
        custody = CustodyService(db, clock, KEY)
        alice, _ = await custody.create_user("alice", actor="test")
        bob, _ = await custody.create_user("bob", actor="test")
        await custody.set_fee("bob", D(0), actor="cli")  # bob pays none
        for user in (alice, bob):
            await book_trade(db, user.id, "100", DAY1 + 3600)  # day 1: +100
            await book_trade(db, user.id, "-60", DAY1 + 86_400 + 3600)  # day 2: -60
            await book_trade(db, user.id, "80", DAY1 + 2 * 86_400 + 3600)  # day 3: +80
        book = FeeBook(db, clock, default_pct=10.0)
        clock.advance(3 * 86_400 + 60)  # into day 4
        assert await book.accrue_due() == 6  # three days for each, bob's at no fee
        assert await book.accrue_due() == 0  # the same day: not looked at again
        assert await FeeBook(db, clock, 10.0).accrue_due() == 0  # a restart: nothing twice
        async with db.session() as s:
            rows = list(await s.scalars(select(FeeAccrualRow).order_by(FeeAccrualRow.day)))
            audit = [a.action for a in await s.scalars(select(AuditRow))]
        assert [(r.user_id, r.day, r.fee, r.high_water) for r in rows if r.user_id == alice.id] == [
            (alice.id, "2026-03-01", D(10), D(90)),  # +100: 10 % of 100
            (alice.id, "2026-03-02", D(0), D(90)),  # net 30 after the loss: below the mark
            (alice.id, "2026-03-03", D(2), D(108)),  # net 110: 10 % of the 20 above 90
        ]
        assert "fee" in audit
        state = await book.state(alice)
        assert (state.accrued, state.high_water, state.through) == (D(12), D(108), "2026-03-03")
    finally:
        await db.dispose()


async def test_a_fee_is_set_per_user_within_bounds_and_audited(db_url: str) -> None:
    db = Database(db_url)
    try:
        custody = CustodyService(db, ManualClock(DAY1), KEY)
        await custody.create_user("alice", actor="test")
        user = await custody.set_fee("alice", D("12.5"), actor="cli")
        assert user.fee_pct == D("12.5")
        assert (await custody.set_fee("alice", None, actor="cli")).fee_pct is None
        with pytest.raises(UserError, match="below 100"):
            await custody.set_fee("alice", D(100), actor="cli")
    finally:
        await db.dispose()


async def test_a_fee_turned_on_later_charges_only_the_profit_made_since(db_url: str) -> None:
    db = Database(db_url)
    clock = ManualClock(DAY1)
    try:
        custody = CustodyService(db, clock, KEY)
        alice, _ = await custody.create_user("alice", actor="test")
        await book_trade(db, alice.id, "1000", DAY1 + 3600)  # made while there is no fee
        clock.advance(10 * 86_400)
        assert await FeeBook(db, clock, default_pct=0.0).accrue_due() == 10
        await book_trade(db, alice.id, "50", clock.now() + 3600)  # after the fee is on
        clock.advance(86_400)
        await FeeBook(db, clock, default_pct=20.0).accrue_due()
        state = await FeeBook(db, clock, 20.0).state(alice)
        assert state.accrued == D(10)  # 20 % of the 50, nothing of the 1000
        assert state.high_water == D(1040)
    finally:
        await db.dispose()


async def test_two_processes_accruing_at_once_write_each_day_once(db_url: str) -> None:
    """`solbot run` and another process (a second run on PostgreSQL, a restart overlapping the
    old one) may both reach a new day: the second must neither fail nor write a day twice."""
    clock = ManualClock(DAY1)
    dbs = [Database(db_url) for _ in range(3)]
    try:
        custody = CustodyService(dbs[0], clock, KEY)
        alice, _ = await custody.create_user("alice", actor="test")
        await book_trade(dbs[0], alice.id, "100", DAY1 + 3600)
        clock.advance(2 * 86_400)
        books = [FeeBook(db, clock, default_pct=10.0) for db in dbs]
        if db_url.startswith("postgresql"):  # the worst interleaving: all read, then all write
            barrier = asyncio.Barrier(len(books))
            for book in books:
                book._starts = _then_wait(book._starts, barrier)  # type: ignore[method-assign]
        written = await asyncio.gather(*(book.accrue_due() for book in books))
        async with dbs[0].session() as s:
            rows = list(await s.scalars(select(FeeAccrualRow)))
    finally:
        for db in dbs:
            await db.dispose()
    assert sorted(r.day for r in rows) == ["2026-03-01", "2026-03-02"]
    assert sum(written) == 2  # each day written by one of them
    assert [r.fee for r in sorted(rows, key=lambda r: r.day)] == [D(10), D(0)]


def _then_wait(read: Any, barrier: asyncio.Barrier) -> Any:
    """`FeeBook._starts`, then wait until every process has read too (PostgreSQL: readers in
    their own transactions do not block each other, so all of them see no row yet)."""

    async def starts(*args: Any) -> Any:
        found = await read(*args)
        await barrier.wait()
        return found

    return starts


async def test_a_fill_booked_late_into_a_day_already_accrued_counts_the_next_day(
    db_url: str,
) -> None:
    """Seen in review: realised PnL was carried over from the last accrued row, so a trade
    stamped into a day already accrued (an order a restart settled late) was never charged."""
    clock = ManualClock(DAY1)
    db = Database(db_url)
    try:
        custody = CustodyService(db, clock, KEY)
        alice, _ = await custody.create_user("alice", actor="test")
        await book_trade(db, alice.id, "100", DAY1 + 3600)
        clock.advance(86_400 + 60)
        book = FeeBook(db, clock, default_pct=10.0)
        assert await book.accrue_due() == 1  # day 1: 10 on 100
        await book_trade(db, alice.id, "50", DAY1 + 7200)  # booked now, stamped in day 1
        clock.advance(86_400)
        assert await book.accrue_due() == 1  # day 2 counts it
        state = await book.state(alice)
    finally:
        await db.dispose()
    assert state.accrued == D(15)  # 10 % of 150, charged once
    assert state.high_water == D(135)
