"""Close requests (`close_requests`): asked by a user from any process, taken by the loop at
every tick until the position they name is closed. The request is a row from the moment the
user is told "closing", so a dashboard or Telegram process dying loses nothing, and an exit
that fails is tried again at the next tick (within the order guard's back-off).

A request is good for the run that took it, for `LIFETIME_SECONDS` of the wall clock: a sale
hours later, or at the next start after a stop or a crash, at a price nobody saw, is not what
the user asked for. Such a request is dropped, and the user told (`dropped`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.store.db import Database
from solbot.store.loop_tables import CloseRequestRow
from solbot.store.states import PositionStatus
from solbot.store.tables import PositionRow
from solbot.store.types import utc_from_timestamp

LIFETIME_SECONDS = 600.0  # a request not done in ten minutes (wall) is dropped


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
    CloseRequestRow.position_id,
    CloseRequestRow.user_id,
    CloseRequestRow.token,
    CloseRequestRow.asked_at,
    PositionRow.status,
).join(PositionRow, PositionRow.id == CloseRequestRow.position_id)


async def pending(
    db: Database, not_before: float
) -> tuple[set[tuple[str, str]], list[tuple[str, str, float]]]:
    """(user id, token) of every open position a user asked to sell since `not_before` (wall
    seconds), and those asked earlier, dropped now (with when they were asked). Requests
    whose position is closed are forgotten on the way. One small query a tick."""
    async with db.session(read_only=True) as s:
        rows = list(await s.execute(_PENDING))
    oldest = utc_from_timestamp(not_before)
    live = {(r.user_id, r.token) for r in rows if _open(r) and r.asked_at >= oldest}
    dropped = [
        (r.user_id, r.token, r.asked_at.timestamp())
        for r in rows
        if _open(r) and r.asked_at < oldest
    ]
    done = [r.position_id for r in rows if not _open(r) or r.asked_at < oldest]
    if done:
        async with db.session() as s:
            await s.execute(delete(CloseRequestRow).where(CloseRequestRow.position_id.in_(done)))
    return live, dropped


def _open(row: Any) -> bool:
    return bool(row.status == PositionStatus.OPEN.value)
