"""Deliveries owed to webhooks (`webhook_deliveries`), a durable queue: an event is a row per
endpoint before anything is sent, a row goes when its endpoint took it, a failure waits
longer each time (2 s doubling to 10 minutes) and after `MAX_ATTEMPTS`, or at once when the
endpoint says never (a 4xx other than 408 and 429), the row is dead: the dead-letter log,
listed and replayed from the CLI. Times are the wall clock's (a delivery is not trading)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from solbot.clock import Clock
from solbot.store.db import Database
from solbot.store.types import utc_from_timestamp
from solbot.store.webhook_tables import WebhookDeliveryRow, WebhookRow

PENDING, DEAD = "pending", "dead"
FIRST_DELAY, MAX_DELAY = 2.0, 600.0
MAX_ATTEMPTS = 10  # about 20 minutes of trying
ERROR_CHARS = 200


@dataclass(frozen=True)
class Delivery:
    id: str
    webhook_id: str
    webhook: str  # its name
    kind: str
    body: str
    attempts: int
    last_error: str | None
    created_at: datetime


def delay_after(attempts: int) -> float:
    return min(MAX_DELAY, FIRST_DELAY * 2 ** max(0, attempts - 1))


class Outbox:
    def __init__(self, db: Database, wall: Clock) -> None:
        self.db = db
        self.wall = wall

    def _now(self) -> datetime:
        return utc_from_timestamp(self.wall.now())

    async def owe(self, items: Sequence[tuple[str, str, str]]) -> None:
        """(webhook id, event kind, body) each, due now."""
        if not items:
            return
        now = self._now()
        async with self.db.session() as s:
            s.add_all(
                WebhookDeliveryRow(
                    id=str(uuid.uuid4()), webhook_id=hook, kind=kind, body=body, state=PENDING,
                    attempts=0, next_try_at=now, last_error=None, created_at=now,
                )
                for hook, kind, body in items
            )  # fmt: skip

    async def due(self, limit: int = 50) -> list[Delivery]:
        return await self._listed(
            (WebhookDeliveryRow.state == PENDING, WebhookDeliveryRow.next_try_at <= self._now()),
            limit,
        )

    async def dead(self) -> list[Delivery]:
        return await self._listed((WebhookDeliveryRow.state == DEAD,), None)

    async def next_due(self) -> float | None:
        """When the next pending delivery is due (wall seconds), or None."""
        async with self.db.session(read_only=True) as s:
            at = await s.scalar(
                select(WebhookDeliveryRow.next_try_at)
                .where(WebhookDeliveryRow.state == PENDING)
                .order_by(WebhookDeliveryRow.next_try_at)
                .limit(1)
            )
        return None if at is None else at.timestamp()

    async def counts(self) -> dict[tuple[str, str], int]:
        """(webhook id, state) → deliveries."""
        async with self.db.session(read_only=True) as s:
            rows = await s.execute(
                select(
                    WebhookDeliveryRow.webhook_id, WebhookDeliveryRow.state, func.count()
                ).group_by(WebhookDeliveryRow.webhook_id, WebhookDeliveryRow.state)
            )
            return {(hook, state): int(n) for hook, state, n in rows}

    async def delivered(self, delivery_id: str) -> None:
        async with self.db.session() as s:
            await s.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.id == delivery_id))

    async def failed(
        self, delivery: Delivery, error: str, *, never: bool = False, wait: float | None = None
    ) -> bool:
        """Another failed try: later (`wait`, or the back-off), or dead (`never`, or too many
        tries). True when it is dead now."""
        attempts = delivery.attempts + 1
        dead = never or attempts >= MAX_ATTEMPTS
        delay = max(wait or 0.0, delay_after(attempts))
        async with self.db.session() as s:
            await s.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery.id)
                .values(
                    attempts=attempts,
                    state=DEAD if dead else PENDING,
                    last_error=error[:ERROR_CHARS],
                    next_try_at=self._now() + timedelta(seconds=delay),
                )
            )
        return dead

    async def replay(self, ids: Sequence[str] | None = None) -> int:
        """Dead deliveries (these, or all) owed again, due now, their tries counted afresh."""
        stmt = update(WebhookDeliveryRow).where(WebhookDeliveryRow.state == DEAD)
        if ids is not None:
            stmt = stmt.where(WebhookDeliveryRow.id.in_(list(ids)))
        async with self.db.session() as s:
            done = await s.execute(stmt.values(state=PENDING, attempts=0, next_try_at=self._now()))
        return int(done.rowcount or 0)  # type: ignore[attr-defined]

    async def _listed(self, where: tuple[object, ...], limit: int | None) -> list[Delivery]:
        stmt = (
            select(WebhookDeliveryRow, WebhookRow.name)
            .join(WebhookRow, WebhookRow.id == WebhookDeliveryRow.webhook_id)
            .where(*where)  # type: ignore[arg-type]
            .order_by(WebhookDeliveryRow.next_try_at, WebhookDeliveryRow.created_at)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        async with self.db.session(read_only=True) as s:
            rows = await s.execute(stmt)
            return [
                Delivery(
                    r.id, r.webhook_id, name, r.kind, r.body, r.attempts, r.last_error,
                    r.created_at,
                )
                for r, name in rows
            ]  # fmt: skip
