"""Close requests (`close_requests`): asked by a user from any process, taken by the loop at
every tick until the position they name is closed. Nothing is lost when a process dies: the
request is a row from the moment the user is told "closing", and the loop keeps reading it
until its position is sold (an exit that fails is tried again at the next tick, as any
exit is, within the order guard's back-off)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.store.db import Database
from solbot.store.loop_tables import CloseRequestRow
from solbot.store.states import PositionStatus
from solbot.store.tables import PositionRow
from solbot.store.types import utc_from_timestamp


async def ask(s: AsyncSession, position: PositionRow, actor: str, wall_now: float) -> bool:
    """Ask the loop to sell `position` (open); False when it was asked already."""
    if await s.get(CloseRequestRow, position.id) is not None:
        return False
    s.add(
        CloseRequestRow(
            position_id=position.id,
            user_id=position.user_id,
            token=position.token,
            asked_by=actor,
            asked_at=utc_from_timestamp(wall_now),
        )
    )
    return True


_PENDING = select(
    CloseRequestRow.position_id, CloseRequestRow.user_id, CloseRequestRow.token, PositionRow.status
).join(PositionRow, PositionRow.id == CloseRequestRow.position_id)


async def pending(db: Database) -> set[tuple[str, str]]:
    """(user id, token) of every open position a user asked to sell; requests whose position
    is closed are forgotten on the way. One small query a tick (a table of a few rows)."""
    async with db.session(read_only=True) as s:
        rows = list(await s.execute(_PENDING))
    done = [row.position_id for row in rows if row.status != PositionStatus.OPEN.value]
    if done:
        async with db.session() as s:
            await s.execute(delete(CloseRequestRow).where(CloseRequestRow.position_id.in_(done)))
    return {(row.user_id, row.token) for row in rows if row.status == PositionStatus.OPEN.value}
