"""Positions whose tokens left the wallet outside solbot (a user withdrew them with an exported
key): booked as "moved out". The rule that decides it is `solbot.moved_out`; this is the
booking, in the caller's transaction.

What is booked: the quantity that left closes, with exit reason `moved_out` and no exit price,
proceeds or PnL (it was not a trade: nothing was sold, nothing is known about a price). When
everything left, that is the position itself. When part of it left, the position is split: a
closed `moved_out` row takes the quantity that left and its share of the cost, and the open
position keeps what the wallet holds and the rest of the cost, so the cost is never lost and a
later exit measures its PnL on what it actually sells.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update

from solbot.store.repository import Repository
from solbot.store.states import PENDING_STATES, PositionStatus
from solbot.store.tables import OrderRow, PositionRow
from solbot.store.types import check_atoms

MOVED_OUT = "moved_out"  # the exit reason


@dataclass(frozen=True, slots=True)
class MovedOut:
    """What was booked: `left` atoms closed as moved out, `kept` still open (0: all closed)."""

    user_id: str
    token: str
    position_id: str  # the open position (closed itself when `kept` is 0)
    closed_id: str  # the row closed as moved out (the position itself, or its split-off part)
    left: int
    kept: int
    kept_cost: int

    @property
    def closed(self) -> bool:
        return self.kept == 0


class PositionMoves(Repository):
    async def in_flight(self, user_id: str, token: str) -> int:
        """Orders of the user and token that are not finished: while one is, the chain and the
        books may disagree for a moment (a swap landed, not yet settled)."""
        stmt = select(func.count()).where(
            OrderRow.user_id == user_id,
            OrderRow.token == token,
            OrderRow.state.in_([s.value for s in PENDING_STATES]),
        )
        return int(await self.session.scalar(stmt) or 0)

    async def move_out(self, position_id: str, held: int) -> MovedOut | None:
        """Book that the wallet holds only `held` atoms of the open position's token; None if
        the position is not open or the wallet holds all of it."""
        stmt = (
            select(PositionRow)
            .where(PositionRow.id == position_id, PositionRow.status == PositionStatus.OPEN.value)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        position = (await self.session.scalars(stmt)).one_or_none()
        held = check_atoms(held)
        if position is None or held >= position.quantity:
            return None
        now = self._now()
        left = position.quantity - held
        if held == 0:
            await self.session.execute(
                update(PositionRow)
                .where(PositionRow.id == position.id)
                .values(status=PositionStatus.CLOSED.value, exit_time=now, exit_reason=MOVED_OUT)
            )
            return MovedOut(position.user_id, position.token, position.id, position.id, left, 0, 0)
        kept_cost = position.cost * held // position.quantity
        part = PositionRow(
            id=str(uuid.uuid4()),
            user_id=position.user_id,
            token=position.token,
            mint=position.mint,
            status=PositionStatus.CLOSED.value,
            quantity=left,
            cost=position.cost - kept_cost,
            entry_price=position.entry_price,
            entry_time=position.entry_time,
            stop_loss=position.stop_loss,
            take_profit=position.take_profit,
            trailing_stop_pct=position.trailing_stop_pct,
            highest_price=position.highest_price,
            exit_time=now,
            exit_reason=MOVED_OUT,
        )
        self.session.add(part)
        await self.session.execute(
            update(PositionRow)
            .where(PositionRow.id == position.id)
            .values(quantity=held, cost=kept_cost)
        )
        await self.session.flush()
        return MovedOut(
            position.user_id, position.token, position.id, part.id, left, held, kept_cost
        )
