"""Repositories: the few queries the executor and the position manager need, and nothing else.

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

import functools
import itertools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.clock import Clock
from solbot.domain import ExitReason
from solbot.store.states import (
    PENDING_STATES,
    OrderState,
    PositionStatus,
    Purpose,
    Route,
    Side,
    check_transition,
)
from solbot.store.tables import EquityRow, OrderRow, PaperBalanceRow, PositionRow, TradeRow
from solbot.store.types import Atoms, Price, canonical_price, check_atoms, utc_from_timestamp

_T = TypeVar("_T")


class PositionAlreadyOpenError(Exception):
    """The user already holds an open position in this token (one at a time, by design)."""

    def __init__(self, user_id: str, token: str) -> None:
        super().__init__(f"user {user_id} already has an open {token} position")
        self.user_id = user_id
        self.token = token


# Fields `Orders.advance` may set. Identity (user, token, mints, side, amount) is fixed at
# creation; state, attempts and timestamps are the repository's own business.
ADVANCE_FIELDS = frozenset(
    {
        "quoted_out",
        "min_out",
        "route",
        "request_id",
        "signed_tx",
        "signature",
        "own_signature",
        "balance_before",
        "fee_bps",
        "last_valid_block_height",
        "compute_unit_limit",
        "compute_unit_price",
        "filled_in",
        "filled_out",
        "fee_lamports",
        "error",
        "position_id",
    }
)

# What an order must carry when it enters a state. `signed` is the crash-safety rule: the
# signature and the exact bytes are journalled before the transaction can leave the process.
REQUIRED_ON_ENTRY: dict[OrderState, tuple[str, ...]] = {
    OrderState.SIGNED: ("own_signature", "signed_tx"),
    OrderState.CONFIRMED: ("filled_in", "filled_out"),
    OrderState.FAILED: ("error",),
}


def exit_reason_text(reason: ExitReason | str | None) -> str | None:
    """The stored form of an exit reason: `ExitReason.STOP_LOSS` → 'stop_loss'."""
    if reason is None:
        return None
    if isinstance(reason, ExitReason):
        if reason is ExitReason.NONE:
            raise ValueError("ExitReason.NONE is not a reason to exit")
        return reason.name.lower()
    if not reason:
        raise ValueError("exit reason must not be empty")
    return reason


def _checked(table: Table, fields: dict[str, Any]) -> dict[str, Any]:
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


def _check_fields(target: OrderState, fields: dict[str, Any]) -> None:
    """The fields an `advance` may set, and those the target state needs."""
    unknown = sorted(set(fields) - ADVANCE_FIELDS)
    if unknown:
        raise TypeError(f"advance() cannot set {', '.join(unknown)}")
    missing = [f for f in REQUIRED_ON_ENTRY.get(target, ()) if fields.get(f) is None]
    if missing:
        raise ValueError(f"an order entering {target} needs {', '.join(missing)}")


_ROWS_PER_STATEMENT = 500  # rows (or ids) per statement: well inside SQLite's variable limit


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _route_rules(sources: set[OrderState], target: OrderState) -> list[Any]:
    """Conditions that keep each route on its own path through `quoted`: a paper order is filled
    at its quote (`quoted → confirmed`) and never signed; any other order must be signed and
    sent before it can be confirmed. Part of the UPDATE's WHERE, so no caller can skip it."""
    rule = _route_rule(OrderState.QUOTED, target) if OrderState.QUOTED in sources else None
    return [] if rule is None else [or_(OrderRow.state != OrderState.QUOTED.value, rule)]


def _route_rule(source: OrderState, target: OrderState) -> Any | None:
    """What a move from `source` to `target` asks of the order's route (None: nothing)."""
    if source is not OrderState.QUOTED:
        return None
    if target is OrderState.CONFIRMED:
        return OrderRow.route == Route.PAPER.value
    if target is OrderState.SIGNED:
        return OrderRow.route != Route.PAPER.value
    return None


def dialect_insert(dialect: str) -> Any:
    """The `insert` with ON CONFLICT support of a database dialect."""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


@functools.lru_cache(maxsize=256)
def _advance_statement(path: tuple[OrderState, ...], names: tuple[str, ...]) -> Any:
    """The compare-and-set UPDATE of `Orders.advance_many` for one kind of move, built once:
    building it and its cache key anew cost more than executing it (bind parameters: `b_id`,
    `b_updated_at` and `b_<name>` for each of `names`). `path` is the states the order goes
    through, first to last: one step, or several steps of one order written at once."""
    table = OrderRow.__table__
    values: dict[str, Any] = {n: bindparam(f"b_{n}", type_=table.c[n].type) for n in names}
    values["state"] = path[-1].value
    values["updated_at"] = bindparam("b_updated_at", type_=table.c.updated_at.type)
    if OrderState.SENT in path[1:]:
        values["attempts"] = table.c.attempts + 1
    # The route rule of each step: the order is known to be at the step's source.
    rules = [_route_rule(source, target) for source, target in itertools.pairwise(path)]
    return (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            table.c.state == path[0].value,
            *(rule for rule in rules if rule is not None),
        )
        .values(**values)
    )


@functools.lru_cache(maxsize=4)
def _create_orders_statement(dialect: str) -> Any:
    """`Orders.create_many`'s INSERT ... ON CONFLICT DO NOTHING, built once per dialect (Core,
    not the ORM's bulk insert: the rows are plain dictionaries already checked)."""
    return dialect_insert(dialect)(OrderRow.__table__).on_conflict_do_nothing(
        index_elements=["idempotency_key"]
    )


_ORDERS_BY_KEYS = (
    select(OrderRow)
    .where(OrderRow.idempotency_key.in_(bindparam("keys", expanding=True)))
    .execution_options(populate_existing=True)
)

_ORDER_BY_ID = (
    select(OrderRow).where(OrderRow.id == bindparam("id")).execution_options(populate_existing=True)
)
# Core inserts of checked row dictionaries (group settlement): no ORM unit of work to run.
_INSERT_POSITIONS = insert(PositionRow.__table__)
_INSERT_TRADES = insert(TradeRow.__table__)
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

_COUNT_IN_STATE = (
    select(func.count())
    .select_from(OrderRow.__table__)
    .where(
        OrderRow.__table__.c.id.in_(bindparam("ids", expanding=True)),
        OrderRow.__table__.c.state == bindparam("state"),
    )
)


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


class Orders(Repository):
    """The order journal."""

    async def create(
        self,
        *,
        idempotency_key: str,
        user_id: str,
        token: str,
        input_mint: str,
        output_mint: str,
        side: Side | str,
        purpose: Purpose | str,
        amount_in: int,
        route: Route | str = Route.V2,
        exit_reason: ExitReason | str | None = None,
        position_id: str | None = None,
        stop_frac: Decimal | None = None,
        target_frac: Decimal | None = None,
    ) -> OrderRow:
        """Journal a new order in state `created`, or return the one with this key.

        Idempotent and race-free: the insert is `ON CONFLICT (idempotency_key) DO NOTHING`,
        so of two concurrent calls exactly one inserts and both get that row. An existing row
        wins over the arguments (the journal is the truth after a restart), but a key reused
        for another user, token or side is a bug in the caller and raises ValueError.
        """
        if not idempotency_key:
            raise ValueError("idempotency_key must not be empty")
        side, purpose, route = Side(side), Purpose(purpose), Route(route)
        reason = exit_reason_text(exit_reason)
        if reason is not None and purpose is not Purpose.EXIT:
            raise ValueError("only exit orders have an exit reason")
        now = self._now()
        values = _checked(
            OrderRow.__table__,
            {
                "id": str(uuid.uuid4()),
                "idempotency_key": idempotency_key,
                "user_id": user_id,
                "token": token,
                "input_mint": input_mint,
                "output_mint": output_mint,
                "side": side.value,
                "purpose": purpose.value,
                "exit_reason": reason,
                "state": OrderState.CREATED.value,
                "amount_in": amount_in,
                "route": route.value,
                "attempts": 0,
                "position_id": position_id,
                "stop_frac": stop_frac,
                "target_frac": target_frac,
                "created_at": now,
                "updated_at": now,
            },
        )
        stmt = (
            self._insert(OrderRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
        await self.session.execute(stmt)
        row = await self.by_key(idempotency_key)
        if row is None:
            raise RuntimeError(f"order {idempotency_key!r} neither inserted nor found")
        mismatch = [
            f"{name} {getattr(row, name)!r} ≠ {values[name]!r}"
            for name in ("user_id", "token", "side")
            if getattr(row, name) != values[name]
        ]
        if mismatch:
            raise ValueError(
                f"idempotency key {idempotency_key!r} already names another order: "
                + ", ".join(mismatch)
            )
        return row

    async def create_many(self, specs: Sequence[dict[str, Any]]) -> list[OrderRow]:
        """`create` for many orders in a few statements (group commit): the rows for the specs'
        keys, in their order, new (`created`) or as earlier journaled. Same checks as
        `create`, including a key reused for another user, token or side."""
        if not specs:
            return []
        now = self._now()
        rows: list[dict[str, Any]] = []
        for spec in specs:
            key = spec["idempotency_key"]
            if not key:
                raise ValueError("idempotency_key must not be empty")
            purpose = Purpose(spec["purpose"])
            reason = exit_reason_text(spec.get("exit_reason"))
            if reason is not None and purpose is not Purpose.EXIT:
                raise ValueError("only exit orders have an exit reason")
            rows.append(
                _checked(
                    OrderRow.__table__,
                    {
                        "id": str(uuid.uuid4()),
                        "idempotency_key": key,
                        "user_id": spec["user_id"],
                        "token": spec["token"],
                        "input_mint": spec["input_mint"],
                        "output_mint": spec["output_mint"],
                        "side": Side(spec["side"]).value,
                        "purpose": purpose.value,
                        "exit_reason": reason,
                        "state": OrderState.CREATED.value,
                        "amount_in": spec["amount_in"],
                        "route": Route(spec.get("route", Route.V2)).value,
                        "attempts": 0,
                        "position_id": spec.get("position_id"),
                        "stop_frac": spec.get("stop_frac"),
                        "target_frac": spec.get("target_frac"),
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            )
        # One compiled statement, executed for every row (a VALUES list of hundreds of rows
        # would be compiled anew for each size).
        dialect = self.session.get_bind().dialect.name
        await self.session.execute(_create_orders_statement(dialect), rows)
        found: dict[str, OrderRow] = {}
        keys = [r["idempotency_key"] for r in rows]
        for chunk_keys in _chunks(keys, _ROWS_PER_STATEMENT):
            for row in await self.session.scalars(_ORDERS_BY_KEYS, {"keys": chunk_keys}):
                found[row.idempotency_key] = row
        out = []
        for values in rows:
            row = found.get(values["idempotency_key"])
            if row is None:
                raise RuntimeError(
                    f"order {values['idempotency_key']!r} neither inserted nor found"
                )
            mismatch = [
                name for name in ("user_id", "token", "side") if getattr(row, name) != values[name]
            ]
            if mismatch:
                raise ValueError(
                    f"idempotency key {values['idempotency_key']!r} already names another "
                    f"order ({', '.join(mismatch)} differ)"
                )
            out.append(row)
        return out

    async def advance_many(
        self,
        moves: Sequence[tuple[str, OrderState, OrderState, dict[str, Any]]],
    ) -> None:
        """Many `advance`s in the caller's transaction: (order id, from, to, fields) each, with
        the same checks. Successive moves of one order (`created → quoted`, then `quoted →
        signed`) are written as one UPDATE; moves of the same kind run as one executemany. Any
        order not in its expected state fails the whole call (the caller's transaction rolls
        back), because in a group commit that means another worker touched the order."""
        paths: dict[str, tuple[list[OrderState], dict[str, Any]]] = {}
        for order_id, source, target, fields in moves:
            check_transition(source, target)
            _check_fields(target, fields)
            values = _checked(OrderRow.__table__, fields)
            known = paths.get(order_id)
            if known is None:
                paths[order_id] = ([source, target], values)
            elif known[0][-1] is source:
                known[0].append(target)
                known[1].update(values)
            else:
                raise RuntimeError(
                    f"order {order_id} is moved from {source} after a move to {known[0][-1]}"
                )
        groups: dict[tuple[tuple[OrderState, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
        now = self._now()
        for order_id, (path, values) in paths.items():
            names = tuple(sorted(values))
            params = {"b_id": order_id, "b_updated_at": now}
            params.update({f"b_{n}": values[n] for n in names})
            groups.setdefault((tuple(path), names), []).append(params)
        exact = self.session.get_bind().dialect.supports_sane_multi_rowcount
        for (path, names), params in groups.items():
            result = cast(
                CursorResult[Any],
                await self.session.execute(_advance_statement(path, names), params),
            )
            ids = [p["b_id"] for p in params]
            if exact:  # SQLite: executemany sums the rows each UPDATE changed
                moved = result.rowcount
            else:  # asyncpg reports no rowcount for executemany: count what moved
                moved = 0
                for chunk in _chunks(ids, _ROWS_PER_STATEMENT):
                    moved += int(
                        await self.session.scalar(
                            _COUNT_IN_STATE, {"ids": chunk, "state": path[-1].value}
                        )
                        or 0
                    )
            if moved != len(ids):
                raise RuntimeError(
                    f"{len(ids) - moved} of {len(ids)} orders were not {path[0]} when moving them "
                    f"to {path[-1]}"
                )

    async def get(self, order_id: str) -> OrderRow | None:
        return (await self.session.scalars(_ORDER_BY_ID, {"id": order_id})).one_or_none()

    async def by_key(self, idempotency_key: str) -> OrderRow | None:
        return await self._one(OrderRow.idempotency_key == idempotency_key)

    async def by_signature(self, signature: str) -> OrderRow | None:
        return await self._one(OrderRow.signature == signature)

    async def advance(
        self,
        order_id: str,
        to_state: OrderState | str,
        *,
        expect: Iterable[OrderState | str],
        **fields: Any,
    ) -> bool:
        """Move an order to `to_state` if it is in one of the `expect`ed states; set `fields`.

        Returns False, changing nothing, when the order is not in an expected state (another
        worker got there first, or it is already finished): the caller re-reads and decides.
        Raises ValueError for a move the lifecycle forbids from any expected state, and for a
        state entered without what it needs (`signed` without `own_signature` and `signed_tx`,
        `confirmed` without `filled_in`/`filled_out`, `failed` without `error`); TypeError for a
        field that cannot be set. Entering `sent` counts one attempt.
        """
        target = OrderState(to_state)
        sources = {OrderState(s) for s in expect}
        if not sources:
            raise ValueError("expect must name at least one state")
        for source in sources:
            check_transition(source, target)
        _check_fields(target, fields)
        if "route" in fields:
            fields["route"] = Route(fields["route"]).value
        values: dict[str, Any] = _checked(OrderRow.__table__, fields)
        values["state"] = target.value
        values["updated_at"] = self._now()
        if target is OrderState.SENT:
            values["attempts"] = OrderRow.attempts + 1
        return await self._update_where(
            OrderRow.id == order_id,
            OrderRow.state.in_([s.value for s in sources]),
            *_route_rules(sources, target),
            values=values,
        )

    async def record_resend(self, order_id: str) -> bool:
        """Count one more broadcast of a `sent` order's same signed bytes; False if not sent."""
        return await self._update_where(
            OrderRow.id == order_id,
            OrderRow.state == OrderState.SENT.value,
            values={"attempts": OrderRow.attempts + 1, "updated_at": self._now()},
        )

    async def pending(self, user_id: str | None = None) -> list[OrderRow]:
        """Orders not yet finished, oldest first: what a restart must resolve, in order."""
        stmt = select(OrderRow).where(OrderRow.state.in_([s.value for s in PENDING_STATES]))
        if user_id is not None:
            stmt = stmt.where(OrderRow.user_id == user_id)
        stmt = stmt.order_by(OrderRow.created_at, OrderRow.id)
        result = await self.session.scalars(stmt.execution_options(populate_existing=True))
        return list(result)

    async def _one(self, *where: Any) -> OrderRow | None:
        stmt = select(OrderRow).where(*where).execution_options(populate_existing=True)
        return (await self.session.scalars(stmt)).one_or_none()

    async def _update_where(self, *where: Any, values: dict[str, Any]) -> bool:
        stmt = (
            update(OrderRow)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        result = cast(CursorResult[Any], await self.session.execute(stmt))
        return result.rowcount == 1


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
        values = _checked(
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
        values = _checked(
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
        values = _checked(
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
            _checked(
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


class InsufficientPaperFundsError(Exception):
    """A paper fill would take more than the paper account holds."""


class PaperBalances(Repository):
    """The balances of paper-trading accounts: what the wallet would hold, in atoms."""

    async def get(self, owner: str, mint: str) -> int:
        row = await self.session.get(PaperBalanceRow, (owner, mint), populate_existing=True)
        return 0 if row is None else row.atoms

    async def all(self, owner: str) -> dict[str, int]:
        stmt = select(PaperBalanceRow).where(PaperBalanceRow.owner == owner)
        rows = await self.session.scalars(stmt.execution_options(populate_existing=True))
        return {row.mint: row.atoms for row in rows}

    async def fund_once(self, owner: str, mint: str, atoms: int) -> bool:
        """Give a new paper account its starting balance; False (and nothing changes) when the
        account already holds anything, so a restart never tops it up."""
        if await self.all(owner):
            return False
        self.session.add(
            PaperBalanceRow(
                owner=owner, mint=mint, atoms=check_atoms(atoms), updated_at=self._now()
            )
        )
        await self.session.flush()
        return True

    async def swap(self, owner: str, *, pay_mint: str, pay: int, get_mint: str, get: int) -> None:
        """Move `pay` atoms out and `get` atoms in, as a fill does, in the caller's transaction.

        The rows are read with `FOR UPDATE` (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds
        the write lock), so two fills of one account cannot both spend the same balance.
        """
        held = await self._locked(owner, pay_mint)
        if held is None or held.atoms < check_atoms(pay):
            have = 0 if held is None else held.atoms
            raise InsufficientPaperFundsError(
                f"paper account holds {have} atoms of {pay_mint}, the fill needs {pay}"
            )
        now = self._now()
        held.atoms = held.atoms - pay
        held.updated_at = now
        received = await self._locked(owner, get_mint)
        if received is None:
            self.session.add(
                PaperBalanceRow(owner=owner, mint=get_mint, atoms=check_atoms(get), updated_at=now)
            )
        else:
            received.atoms = check_atoms(received.atoms + get)
            received.updated_at = now
        await self.session.flush()

    async def _locked(self, owner: str, mint: str) -> PaperBalanceRow | None:
        stmt = (
            select(PaperBalanceRow)
            .where(PaperBalanceRow.owner == owner, PaperBalanceRow.mint == mint)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).one_or_none()


class Equity(Repository):
    """Points of users' equity curves (portfolio value in the quote asset)."""

    async def record(self, at: int, values: dict[str, Decimal]) -> None:
        """One point per user at `at` (Unix seconds); a point already there is kept."""
        if not values:
            return
        when = utc_from_timestamp(at)
        rows = [
            {"user_id": user_id, "at": when, "value": canonical_price(value)}
            for user_id, value in values.items()
        ]
        stmt = self._insert(EquityRow).on_conflict_do_nothing(index_elements=["user_id", "at"])
        await self.session.execute(stmt, rows)

    async def curve(
        self, user_id: str, since: float | None = None
    ) -> list[tuple[datetime, Decimal]]:
        stmt = select(EquityRow.at, EquityRow.value).where(EquityRow.user_id == user_id)
        if since is not None:
            stmt = stmt.where(EquityRow.at >= utc_from_timestamp(since))
        result = await self.session.execute(stmt.order_by(EquityRow.at))
        return [(at, value) for at, value in result]
