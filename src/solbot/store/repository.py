"""Repositories: the few queries the executor and the position manager need, and nothing else
(`orders`, `positions`, `balances`, `users`, `holds`, ...); here their common base.

A repository is bound to one `AsyncSession`, so several of them share one transaction:

    async with db.session() as s:
        orders, positions, trades = Orders(s, clock), Positions(s, clock), Trades(s, clock)
        if await orders.advance(order.id, "confirmed", expect={"sent"}, filled_in=..., ...):
            position = await positions.open(...)
            await trades.record(order_id=order.id, position_id=position.id, ...)

Changes are compare-and-set statements (`UPDATE ... WHERE state IN (...)`) rather than read,
modify, write: two workers racing on one order cannot both win, on SQLite or PostgreSQL.
Money arguments are checked here, eagerly, so a float fails with a plain TypeError at the call
rather than as a wrapped error at flush time. Timestamps come from the injected `Clock`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.clock import Clock
from solbot.store.types import Atoms, Price, canonical_price, check_atoms, utc_from_timestamp

_T = TypeVar("_T")


ROWS_PER_STATEMENT = 500  # rows (or ids) per statement: well inside SQLite's variable limit


def chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def checked_values(table: Table, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate money values by their column's type, so mistakes surface at the call."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        column_type = table.c[name].type
        if value is not None and isinstance(column_type, Atoms):
            value = check_atoms(value)
        elif value is not None and isinstance(column_type, Price):
            value = canonical_price(value)
        out[name] = value
    return out


def dialect_insert(dialect: str) -> Any:
    """The `insert` with ON CONFLICT support of a database dialect."""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


class Repository:
    """Base of the repositories: one session (one transaction) and the clock for timestamps."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def _now(self) -> datetime:
        return utc_from_timestamp(self.clock.now())

    def _insert(self, entity: type[Any]) -> Any:
        """INSERT with ON CONFLICT support, in the dialect of the session's database."""
        return insert_for(self.session, entity)


def insert_for(session: Any, entity: Any) -> Any:
    """INSERT with ON CONFLICT support, in the dialect of `session`'s database."""
    return dialect_insert(session.get_bind().dialect.name)(entity)
