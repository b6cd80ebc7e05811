"""Each user leased to one worker, exactly once (`solbot run --worker`, PostgreSQL only).

Several workers on one database share the users. Which worker acts for a user is a row,
`user_leases` (owner, epoch, expiry), and every rule below is one SQL statement on it, timed
by the database's clock (`statement_timestamp()`), never a worker's: machines' clocks
disagree, the database's is one.

- **Claim**: a worker takes leases that are free or expired (`FOR UPDATE SKIP LOCKED`: two
  claimers never take the same row, and neither waits for the other), raising each one's epoch.
- **Renew**: every tick, a worker extends the leases it holds. A worker that was paused past
  its expiry (a GC pause, SIGSTOP, a partition) finds them taken: the epoch moved on.
- **Fence**: every journal write of a worker for a user checks, in the same transaction, that
  the lease is still its own at the epoch it claimed, and holds the row (`FOR SHARE`) until
  that transaction ends. A takeover is an UPDATE of the same row, so it cannot happen in the
  middle of a fenced write: it comes before (and the write is refused) or after (and the new
  holder sees the write when it recovers the user's orders). A stale worker can therefore
  not write an order for a user it no longer holds.
- **Release**: a worker stopping (SIGTERM) or over its share hands leases back at once; the
  others claim them at their next tick without waiting for expiry.

A worker's share is the number of users divided by the live workers (`workers.beat_at`
recent), rounded up, so a new worker takes its share as others give back what they hold over
theirs."""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, literal, null, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.errors import EnvironmentFaultError
from solbot.store.loop_tables import UserLeaseRow, WorkerRow
from solbot.store.tables import UserRow

LEASE_SECONDS = 90.0  # a tick renews; a worker silent this long has its users taken over


class LeaseLostError(EnvironmentFaultError):
    """A fenced write for users this worker no longer holds: nothing of it was written."""


@dataclass(frozen=True)
class Held:
    """A worker's leases after a renewal or a claim: user id → epoch."""

    epochs: Mapping[str, int]


def _db_now() -> Any:
    """The database's time of the statement (not of its transaction's start, `now()`)."""
    return func.statement_timestamp()


def worker_name() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"[:64]


class Leases:
    """One worker's view of the leases, in one transaction (`session`)."""

    def __init__(self, session: AsyncSession, worker_id: str, seconds: float = LEASE_SECONDS):
        self.s = session
        self.worker_id = worker_id
        self.seconds = seconds

    def _until(self) -> object:
        return _db_now() + func.make_interval(0, 0, 0, 0, 0, 0, bindparam("ttl", self.seconds))

    async def beat(self) -> int:
        """This worker is alive (registered on its first beat); how many workers are."""
        stmt = pg_insert(WorkerRow).values(
            id=self.worker_id, name=worker_name(), started_at=_db_now(), beat_at=_db_now()
        )
        await self.s.execute(
            stmt.on_conflict_do_update(index_elements=[WorkerRow.id], set_={"beat_at": _db_now()})
        )
        alive = select(func.count()).where(WorkerRow.beat_at > self._ago())
        return int(await self.s.scalar(alive) or 0)

    def _ago(self) -> object:
        return _db_now() - func.make_interval(0, 0, 0, 0, 0, 0, bindparam("ago", self.seconds))

    async def renew(self) -> Held:
        """The leases this worker still holds, extended; those taken from it are gone."""
        rows = await self.s.execute(
            update(UserLeaseRow)
            .where(UserLeaseRow.worker_id == self.worker_id)
            .values(expires_at=self._until())
            .returning(UserLeaseRow.user_id, UserLeaseRow.epoch)
        )
        return Held({user_id: epoch for user_id, epoch in rows})

    async def claim(self, wanted: int) -> Held:
        """Up to `wanted` more users, free or expired, each at a new epoch."""
        if wanted <= 0:
            return Held({})
        await self.s.execute(
            pg_insert(UserLeaseRow)
            .from_select(
                ["user_id", "worker_id", "epoch", "expires_at"],
                select(UserRow.id, null(), literal(0), _db_now()).where(
                    ~exists().where(UserLeaseRow.user_id == UserRow.id)
                ),
            )
            .on_conflict_do_nothing(index_elements=[UserLeaseRow.user_id])
        )
        free = (
            select(UserLeaseRow.user_id)
            .where(or_(UserLeaseRow.worker_id.is_(None), UserLeaseRow.expires_at <= _db_now()))
            .order_by(UserLeaseRow.user_id)
            .limit(wanted)
            .with_for_update(skip_locked=True)
        )
        rows = await self.s.execute(
            update(UserLeaseRow)
            .where(UserLeaseRow.user_id.in_(free.scalar_subquery()))
            .values(
                worker_id=self.worker_id, epoch=UserLeaseRow.epoch + 1, expires_at=self._until()
            )
            .returning(UserLeaseRow.user_id, UserLeaseRow.epoch)
        )
        return Held({user_id: epoch for user_id, epoch in rows})

    async def release(self, user_ids: list[str] | None = None) -> int:
        """Hand back `user_ids` (all of this worker's when None) for others to claim now."""
        stmt = update(UserLeaseRow).where(UserLeaseRow.worker_id == self.worker_id)
        if user_ids is not None:
            stmt = stmt.where(UserLeaseRow.user_id.in_(user_ids))
        result = await self.s.execute(stmt.values(worker_id=None, expires_at=_db_now()))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def share(self, alive: int) -> int:
        """How many users one of `alive` workers should hold."""
        users = int(await self.s.scalar(select(func.count()).select_from(UserRow)) or 0)
        return math.ceil(users / max(1, alive))

    async def fence(self, held: Mapping[str, int]) -> None:
        """`LeaseLostError` unless every user of `held` is still this worker's at that epoch;
        their rows are held until the transaction ends (no takeover in between)."""
        if not held:
            return
        pairs = list(held.items())
        ours = await self.s.scalars(
            select(UserLeaseRow.user_id)
            .where(
                and_(
                    UserLeaseRow.worker_id == self.worker_id,
                    tuple_(UserLeaseRow.user_id, UserLeaseRow.epoch).in_(pairs),
                )
            )
            .with_for_update(read=True)
        )
        lost = set(held) - set(ours)
        if lost:
            raise LeaseLostError(
                f"{len(lost)} user(s) were taken over by another worker: nothing written for "
                "them; this worker lets them go"
            )


def new_worker_id() -> str:
    return str(uuid.uuid4())
