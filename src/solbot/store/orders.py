"""The order journal's repository (`Orders`): create, advance by compare-and-set, look up.

See `solbot.store.repository` for what a repository is and why changes are compare-and-set.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, func, or_, select, update

from solbot.domain import ExitReason
from solbot.store.repository import (
    ROWS_PER_STATEMENT,
    Repository,
    checked_values,
    chunks,
    dialect_insert,
)
from solbot.store.states import (
    PENDING_STATES,
    OrderState,
    Purpose,
    Route,
    Side,
    check_transition,
)
from solbot.store.tables import OrderRow

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


def _check_fields(target: OrderState, fields: dict[str, Any]) -> None:
    """The fields an `advance` may set, and those the target state needs."""
    unknown = sorted(set(fields) - ADVANCE_FIELDS)
    if unknown:
        raise TypeError(f"advance() cannot set {', '.join(unknown)}")
    missing = [f for f in REQUIRED_ON_ENTRY.get(target, ()) if fields.get(f) is None]
    if missing:
        raise ValueError(f"an order entering {target} needs {', '.join(missing)}")


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


_COUNT_IN_STATE = (
    select(func.count())
    .select_from(OrderRow.__table__)
    .where(
        OrderRow.__table__.c.id.in_(bindparam("ids", expanding=True)),
        OrderRow.__table__.c.state == bindparam("state"),
    )
)


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
        values = checked_values(
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
                checked_values(
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
        for chunk_keys in chunks(keys, ROWS_PER_STATEMENT):
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
            values = checked_values(OrderRow.__table__, fields)
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
                for chunk in chunks(ids, ROWS_PER_STATEMENT):
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
        values: dict[str, Any] = checked_values(OrderRow.__table__, fields)
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
