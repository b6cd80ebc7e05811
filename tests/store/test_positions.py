"""Positions (one open per user and token) and trades (one per order)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from solbot.clock import ManualClock
from solbot.domain import ExitReason
from solbot.store.db import Database
from solbot.store.orders import Orders
from solbot.store.positions import PositionAlreadyOpenError, Positions, Trades
from solbot.store.tables import PositionRow, TradeRow
from solbot.store.types import utc_from_timestamp

from .conftest import START
from .support import BONK, JUP, new_order, new_position

T0 = datetime(2026, 5, 10, tzinfo=UTC)


def raw_position(user_id: str = "u1", token: str = "JUP", status: str = "open") -> PositionRow:
    return PositionRow(
        id=str(uuid.uuid4()),
        user_id=user_id,
        token=token,
        mint=JUP,
        status=status,
        quantity=1,
        cost=1,
        entry_price=Decimal(1),
        entry_time=T0,
        highest_price=Decimal(1),
    )


async def test_partial_index_allows_one_open_position_per_user_and_token(db: Database) -> None:
    async with db.session() as s:
        s.add_all([raw_position(), raw_position(user_id="u2"), raw_position(token="BONK")])
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            s.add(raw_position())
    async with db.session() as s:
        count = await s.scalar(select(func.count()).select_from(PositionRow))
    assert count == 3


async def test_closed_positions_do_not_count(db: Database) -> None:
    async with db.session() as s:
        s.add_all([raw_position(status="closed") for _ in range(3)])
    async with db.session() as s:
        s.add(raw_position())  # open beside three closed ones
    async with db.session() as s:
        statuses = sorted((await s.scalars(select(PositionRow.status))).all())
    assert statuses == ["closed", "closed", "closed", "open"]


async def test_check_and_foreign_key_constraints_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            s.add(raw_position(status="gone"))
    with pytest.raises(IntegrityError):  # SQLite enforces this only with PRAGMA foreign_keys
        async with db.session() as s:
            await new_order(Orders(s, ManualClock(START)), position_id="no-such-position")


async def test_open_then_close_a_position(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        position = await new_position(Positions(s, clock), trailing_stop_pct=Decimal("2.5"))
    assert position.status == "open"
    assert position.highest_price == Decimal("0.8")
    assert position.entry_time == utc_from_timestamp(START)

    clock.advance(3600)
    async with db.session() as s:
        positions = Positions(s, clock)
        assert await positions.close(
            position.id,
            exit_price=Decimal("0.76"),
            proceeds=23_750_000,
            pnl=Decimal("-1.3125"),
            exit_reason=ExitReason.STOP_LOSS,
        )
        assert not await positions.close(
            position.id,
            exit_price=Decimal("0.7"),
            proceeds=1,
            pnl=Decimal("-2"),
            exit_reason="signal",
        )
    async with db.session() as s:
        closed = await Positions(s, clock).get(position.id)
    assert closed is not None
    assert (closed.status, closed.exit_reason) == ("closed", "stop_loss")
    assert closed.pnl == Decimal("-1.3125")
    assert closed.proceeds == 23_750_000
    assert closed.trailing_stop_pct == Decimal("2.5")
    assert closed.exit_time == utc_from_timestamp(START + 3600)


async def test_a_second_open_raises_and_leaves_the_transaction_usable(
    db: Database, clock: ManualClock
) -> None:
    async with db.session() as s:
        positions = Positions(s, clock)
        first = await new_position(positions)
        with pytest.raises(PositionAlreadyOpenError, match="u1 already has an open JUP"):
            await new_position(positions)
        other = await new_position(positions, token="BONK", mint=BONK)
    async with db.session() as s:
        positions = Positions(s, clock)
        open_ids = [p.id for p in await positions.all_open()]
        assert set(open_ids) == {first.id, other.id}
        await positions.close(
            first.id, exit_price=Decimal(1), proceeds=1, pnl=Decimal(0), exit_reason="signal"
        )
        reopened = await new_position(positions)
        found = await positions.open_for("u1", "JUP")
    assert found is not None
    assert found.id == reopened.id


async def test_open_validates_money(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        positions = Positions(s, clock)
        with pytest.raises(TypeError):
            await new_position(positions, entry_price=0.8)
        with pytest.raises(ValueError, match="quantity above 0"):
            await new_position(positions, quantity=0)
        with pytest.raises(ValueError, match="entry price must be above 0"):
            await new_position(positions, entry_price=Decimal(0))
        assert await positions.all_open() == []


async def test_all_open_filters_by_user_oldest_first(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        positions = Positions(s, clock)
        made = []
        for user, token in [("u1", "JUP"), ("u2", "JUP"), ("u1", "BONK")]:
            clock.advance(5)
            made.append((await new_position(positions, user_id=user, token=token)).id)
        assert [p.id for p in await positions.all_open()] == made
        assert [p.id for p in await positions.all_open("u1")] == [made[0], made[2]]
        assert await positions.open_for("u3", "JUP") is None


async def test_highest_price_only_ratchets_up(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        positions = Positions(s, clock)
        position = await new_position(positions, entry_price=Decimal("9.5"))
        # 10 > 9.5 although "10" < "9.5" as text: the comparison must be numeric.
        assert await positions.update_highest(position.id, Decimal("10"))
        assert not await positions.update_highest(position.id, Decimal("9.99"))
        assert not await positions.update_highest(position.id, Decimal("10.000"))
        assert await positions.update_highest(position.id, Decimal("10.000000000000000001"))
        assert not await positions.update_highest("no-such-position", Decimal("99"))
        row = await positions.get(position.id)
    assert row is not None
    assert row.highest_price == Decimal("10.000000000000000001")


async def test_concurrent_highs_keep_the_highest(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        position = await new_position(Positions(s, clock), entry_price=Decimal("1"))

    async def raise_to(price: str) -> None:
        async with db.session() as s:
            await Positions(s, clock).update_highest(position.id, Decimal(price))

    await asyncio.gather(*(raise_to(p) for p in ["3", "9", "2", "10", "4", "7"]))
    async with db.session() as s:
        row = await Positions(s, clock).get(position.id)
    assert row is not None
    assert row.highest_price == Decimal("10")


async def test_closed_positions_keep_their_highest(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        positions = Positions(s, clock)
        position = await new_position(positions)
        await positions.close(
            position.id, exit_price=Decimal(1), proceeds=1, pnl=Decimal(0), exit_reason="signal"
        )
        assert not await positions.update_highest(position.id, Decimal("100"))


async def test_trades_are_recorded_once_per_order(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        orders, positions, trades = Orders(s, clock), Positions(s, clock), Trades(s, clock)
        order = await new_order(orders, key="k1")
        position = await new_position(positions)
        first = await trades.record(
            user_id="u1",
            order_id=order.id,
            position_id=position.id,
            token="JUP",
            side="buy",
            price=Decimal("0.80016"),
            quantity=31_250_000,
            quote_amount=25_005_000,
            fee_lamports=5000,
            signature="5" * 88,
        )
    clock.advance(30)
    async with db.session() as s:
        again = await Trades(s, clock).record(
            user_id="u1",
            order_id=order.id,
            position_id=position.id,
            token="JUP",
            side="buy",
            price=Decimal("0.9"),
            quantity=1,
            quote_amount=1,
            fee_lamports=1,
        )
        count = await s.scalar(select(func.count()).select_from(TradeRow))
    assert again.id == first.id
    assert again.price == Decimal("0.80016")
    assert again.timestamp == utc_from_timestamp(START)
    assert count == 1


async def test_trades_for_user_newest_first_with_limit(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        orders, trades = Orders(s, clock), Trades(s, clock)
        recorded = []
        for i, user in enumerate(["u1", "u1", "u2", "u1"]):
            clock.advance(60)
            order = await new_order(orders, key=f"k{i}")
            trade = await trades.record(
                user_id=user,
                order_id=order.id,
                position_id=None,
                token="JUP",
                side="sell",
                price=Decimal("1.25"),
                quantity=10,
                quote_amount=12,
                fee_lamports=5000,
                pnl=Decimal("-0.5"),
            )
            recorded.append(trade.id)
        latest = [t.id for t in await trades.for_user("u1", limit=2)]
        every = await trades.for_user("u1")
        with pytest.raises(ValueError, match="limit"):
            await trades.for_user("u1", limit=0)
    assert latest == [recorded[3], recorded[1]]
    assert [t.id for t in every] == [recorded[3], recorded[1], recorded[0]]
    assert every[0].pnl == Decimal("-0.5")


async def test_a_trade_needs_a_real_order(db: Database, clock: ManualClock) -> None:
    with pytest.raises(IntegrityError):
        async with db.session() as s:
            await Trades(s, clock).record(
                user_id="u1",
                order_id="no-such-order",
                position_id=None,
                token="JUP",
                side="buy",
                price=Decimal(1),
                quantity=1,
                quote_amount=1,
                fee_lamports=0,
            )
