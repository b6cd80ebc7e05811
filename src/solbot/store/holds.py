"""The `order_holds` table: orders of a user, token and side that keep failing (see
`solbot.quarantine` for the rule; this module only reads and writes the rows).

Rows are few (only what is failing right now), so the loop reads them whole; each failure is
written under a row lock (`FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` holds the
write lock already), so a quarantine is decided, and told, exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select

from solbot.store.repository import Repository
from solbot.store.tables import OrderHoldRow

Key = tuple[str, str, str]  # (user id, token, side)


class OrderHolds(Repository):
    """Reads and writes of `order_holds`, in the caller's transaction."""

    async def all(self, user_id: str | None = None) -> list[OrderHoldRow]:
        stmt = select(OrderHoldRow)
        if user_id is not None:
            stmt = stmt.where(OrderHoldRow.user_id == user_id)
        stmt = stmt.order_by(OrderHoldRow.user_id, OrderHoldRow.token, OrderHoldRow.side)
        return list(await self.session.scalars(stmt.execution_options(populate_existing=True)))

    async def locked(self, keys: Sequence[Key]) -> dict[Key, OrderHoldRow]:
        """The existing rows of `keys`, locked until the transaction ends."""
        if not keys:
            return {}
        stmt = (
            select(OrderHoldRow)
            .where(or_(*(_is(key) for key in keys)))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {_key(row): row for row in await self.session.scalars(stmt)}

    async def put(
        self,
        key: Key,
        *,
        failures: int,
        last_error: str,
        first_failed_at: datetime,
        retry_at: datetime,
        quarantined_at: datetime | None,
        position_id: str | None,
    ) -> None:
        """Insert or overwrite the row of `key` (read it with `locked` first)."""
        user_id, token, side = key
        values: dict[str, Any] = {
            "failures": failures,
            "last_error": last_error,
            "first_failed_at": first_failed_at,
            "last_failed_at": self._now(),
            "retry_at": retry_at,
            "quarantined_at": quarantined_at,
            "position_id": position_id,
        }
        stmt = (
            self._insert(OrderHoldRow)
            .values(user_id=user_id, token=token, side=side, **values)
            .on_conflict_do_update(index_elements=["user_id", "token", "side"], set_=values)
        )
        await self.session.execute(stmt)

    async def delete(self, keys: Iterable[Key]) -> None:
        wanted = list(keys)
        if wanted:
            await self.session.execute(
                delete(OrderHoldRow).where(or_(*(_is(key) for key in wanted)))
            )

    async def clear(self, user_id: str, token: str | None = None) -> list[OrderHoldRow]:
        """Delete the user's holds (of one token, or all of them: the whole-user one too);
        the rows as they were (a re-arm, or a position that is gone)."""
        stmt = select(OrderHoldRow).where(OrderHoldRow.user_id == user_id)
        if token is not None:
            stmt = stmt.where(OrderHoldRow.token == token)
        rows = list(await self.session.scalars(stmt.with_for_update()))
        await self.delete(_key(row) for row in rows)
        return rows


def _key(row: OrderHoldRow) -> Key:
    return (row.user_id, row.token, row.side)


def _is(key: Key) -> Any:
    user_id, token, side = key
    return and_(
        OrderHoldRow.user_id == user_id, OrderHoldRow.token == token, OrderHoldRow.side == side
    )
