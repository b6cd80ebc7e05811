"""Positions and the trades that open and close them (`Positions`, `Trades`).

See `solbot.store.repository` for what a repository is and why changes are compare-and-set.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from solbot.domain import ExitReason
from solbot.store.orders import exit_reason_text
from solbot.store.repository import Repository, checked_values
from solbot.store.states import (
    PositionStatus,
    Side,
)
from solbot.store.tables import PositionRow, TradeRow
from solbot.store.types import canonical_price


class PositionAlreadyOpenError(Exception):
    """The user already holds an open position in this token (one at a time, by design)."""

    def __init__(self, user_id: str, token: str) -> None:
        super().__init__(f"user {user_id} already has an open {token} position")
        self.user_id = user_id
        self.token = token


# Core inserts of checked row dictionaries (group settlement): no ORM unit of work to run.
_INSERT_POSITIONS = insert(PositionRow.__table__)


_POSITION_BY_ID = (
    select(PositionRow)
    .where(PositionRow.id == bindparam("id"))
    .execution_options(populate_existing=True)
)


def _close_position_statement() -> Any:
    """`Positions.close`'s compare-and-set, in Core: no ORM object needs refreshing (the one
    caller reads only the id and the cost of the position it loaded)."""
    table = PositionRow.__table__
    names = ("exit_price", "proceeds", "pnl", "exit_time", "exit_reason")
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status == PositionStatus.OPEN.value)
        .values(
            status=PositionStatus.CLOSED.value,
            **{n: bindparam(f"b_{n}", type_=table.c[n].type) for n in names},
        )
    )


_CLOSE_POSITION = _close_position_statement()


class Positions(Repository):
    """Open and closed positions; at most one open per user and token."""

    def new_values(
        self,
        *,
        user_id: str,
        token: str,
        mint: str,
        quantity: int,
        cost: int,
        entry_price: Decimal,
        stop_loss: Decimal | None = None,
        take_profit: Decimal | None = None,
        trailing_stop_pct: Decimal | None = None,
    ) -> dict[str, Any]:
        """A new open position's row, checked (its highest price starts at the entry price),
        for `open` or, many at once, `open_many`."""
        values = checked_values(
            PositionRow.__table__,
            {
                "quantity": quantity,
                "cost": cost,
                "entry_price": entry_price,
                "stop_loss": stop_loss,
                "take_profit": take_profit,
                "trailing_stop_pct": trailing_stop_pct,
            },
        )
        if values["quantity"] == 0:
            raise ValueError("an open position needs a quantity above 0")
        if values["entry_price"] <= 0:
            raise ValueError(f"entry price must be above 0, got {values['entry_price']}")
        return {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "token": token,
            "mint": mint,
            "status": PositionStatus.OPEN.value,
            "entry_time": self._now(),
            "highest_price": values["entry_price"],
            **values,
        }

    async def open(self, **fields: Any) -> PositionRow:
        """Record a new open position (`new_values` names the fields); see `insert`."""
        return await self.insert(self.new_values(**fields))

    async def insert(self, values: dict[str, Any]) -> PositionRow:
        """Insert a row made by `new_values`.

        Raises `PositionAlreadyOpenError` if the user holds this token already; the insert runs in a
        savepoint, so the surrounding transaction stays usable after that error.
        """
        row = PositionRow(**values)
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            if await self.open_for(row.user_id, row.token) is not None:
                raise PositionAlreadyOpenError(row.user_id, row.token) from None
            raise
        return row

    async def open_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert rows made by `new_values` in one statement (a group's fills). No savepoint:
        a position already open fails the caller's whole transaction."""
        if rows:
            await self.session.execute(_INSERT_POSITIONS, list(rows))

    async def get(self, position_id: str) -> PositionRow | None:
        return (await self.session.scalars(_POSITION_BY_ID, {"id": position_id})).one_or_none()

    async def open_for(self, user_id: str, token: str) -> PositionRow | None:
        return await self._one(
            PositionRow.user_id == user_id,
            PositionRow.token == token,
            PositionRow.status == PositionStatus.OPEN.value,
        )

    async def all_open(self, user_id: str | None = None) -> list[PositionRow]:
        """Open positions, oldest entry first (all users unless `user_id` is given)."""
        stmt = select(PositionRow).where(PositionRow.status == PositionStatus.OPEN.value)
        if user_id is not None:
            stmt = stmt.where(PositionRow.user_id == user_id)
        stmt = stmt.order_by(PositionRow.entry_time, PositionRow.id)
        result = await self.session.scalars(stmt.execution_options(populate_existing=True))
        return list(result)

    async def close(
        self,
        position_id: str,
        *,
        exit_price: Decimal,
        proceeds: int,
        pnl: Decimal,
        exit_reason: ExitReason | str,
    ) -> bool:
        """Close an open position at the clock's time; False if it was not open (already closed
        by someone else, or unknown), so an exit is booked once."""
        reason = exit_reason_text(exit_reason)
        values = checked_values(
            PositionRow.__table__,
            {"exit_price": exit_price, "proceeds": proceeds, "pnl": pnl},
        )
        params = {f"b_{name}": value for name, value in values.items()}
        params.update(b_id=position_id, b_exit_time=self._now(), b_exit_reason=reason)
        result = cast(CursorResult[Any], await self.session.execute(_CLOSE_POSITION, params))
        return result.rowcount == 1

    async def update_highest(self, position_id: str, price: Decimal) -> bool:
        """Raise an open position's highest price to `price` if it is higher; True if raised.

        Prices are TEXT on SQLite, where `>` in SQL would compare text, so the comparison is
        made here and the write is conditional on the value read (compare-and-set), retried
        if another writer moved it in between.
        """
        new = canonical_price(price)
        while True:
            stmt = select(PositionRow.highest_price).where(
                PositionRow.id == position_id,
                PositionRow.status == PositionStatus.OPEN.value,
            )
            current = (await self.session.execute(stmt)).scalar_one_or_none()
            if current is None or new <= current:
                return False
            if await self._update_where(
                PositionRow.id == position_id,
                PositionRow.status == PositionStatus.OPEN.value,
                PositionRow.highest_price == current,
                values={"highest_price": new},
            ):
                return True

    async def _one(self, *where: Any) -> PositionRow | None:
        stmt = select(PositionRow).where(*where).execution_options(populate_existing=True)
        return (await self.session.scalars(stmt)).one_or_none()

    async def _update_where(self, *where: Any, values: dict[str, Any]) -> bool:
        stmt = (
            update(PositionRow)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        result = cast(CursorResult[Any], await self.session.execute(stmt))
        return result.rowcount == 1


_INSERT_TRADES = insert(TradeRow.__table__)


class Trades(Repository):
    """Fills, one per confirmed order."""

    async def record(
        self,
        *,
        user_id: str,
        order_id: str,
        position_id: str | None,
        token: str,
        side: Side | str,
        price: Decimal,
        quantity: int,
        quote_amount: int,
        fee_lamports: int,
        pnl: Decimal | None = None,
        signature: str | None = None,
    ) -> TradeRow:
        """Record the fill of `order_id` at the clock's time; a second call returns the first.

        Idempotent on the order (`ON CONFLICT (order_id) DO NOTHING`), so recovery after a crash
        can record a fill again without counting it twice.
        """
        values = checked_values(
            TradeRow.__table__,
            {
                "id": str(uuid.uuid4()),
                "user_id": user_id,
                "order_id": order_id,
                "position_id": position_id,
                "token": token,
                "side": Side(side).value,
                "price": price,
                "quantity": quantity,
                "quote_amount": quote_amount,
                "fee_lamports": fee_lamports,
                "pnl": pnl,
                "signature": signature,
                "timestamp": self._now(),
            },
        )
        stmt = (
            self._insert(TradeRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["order_id"])
        )
        await self.session.execute(stmt)
        row = await self.for_order(order_id)
        if row is None:
            raise RuntimeError(f"trade of order {order_id} neither inserted nor found")
        return row

    async def add_many(self, fills: Sequence[dict[str, Any]]) -> None:
        """Fills of orders that cannot have one yet (they are being confirmed in this
        transaction), in one statement: `record`'s fields without the conflict check."""
        rows = [
            checked_values(
                TradeRow.__table__,
                {
                    **fill,
                    "id": str(uuid.uuid4()),
                    "side": Side(fill["side"]).value,
                    "timestamp": self._now(),
                },
            )
            for fill in fills
        ]
        if rows:
            await self.session.execute(_INSERT_TRADES, rows)

    async def for_order(self, order_id: str) -> TradeRow | None:
        stmt = (
            select(TradeRow)
            .where(TradeRow.order_id == order_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def for_user(self, user_id: str, limit: int = 100) -> list[TradeRow]:
        """A user's latest trades, newest first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        stmt = (
            select(TradeRow)
            .where(TradeRow.user_id == user_id)
            .order_by(TradeRow.timestamp.desc(), TradeRow.id.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return list(await self.session.scalars(stmt))
