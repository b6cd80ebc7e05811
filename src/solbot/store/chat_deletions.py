"""The queue of Telegram messages that must disappear, in the database (`chat_deletions`).

Each step is its own short transaction, so that what was promised survives any kill: a row is
written before a secret message is sent (`reserve`), given the message's id once Telegram
answers (`attach`), and removed only when Telegram confirms the deletion (`done`). Times are
the wall clock's: a deletion is a security timer, never the sim's accelerated time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from solbot.clock import Clock
from solbot.store.db import Database
from solbot.store.tables import ChatDeletionRow
from solbot.store.types import utc_from_timestamp

PENDING, TELL, BY_HAND = "pending", "tell", "by_hand"


@dataclass(frozen=True)
class Due:
    """A row the worker acts on now."""

    id: str
    chat_id: int
    message_id: int | None
    user_id: str | None
    what: str
    state: str
    created_at: datetime
    attempts: int


class ChatDeletions:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def _now(self) -> datetime:
        return utc_from_timestamp(self.clock.now())

    async def reserve(
        self,
        chat_id: int,
        what: str,
        user_id: str | None,
        after_seconds: float,
        message_id: int | None = None,
    ) -> Due:
        """Promise to delete a message `after_seconds` from now: one about to be sent to
        `chat_id` (its id given by `attach` once known), or one that exists already."""
        now = self._now()
        row = ChatDeletionRow(
            id=str(uuid.uuid4()),
            chat_id=chat_id, message_id=message_id, user_id=user_id, what=what, state=PENDING,
            created_at=now, next_try_at=now + timedelta(seconds=after_seconds), attempts=0,
        )  # fmt: skip
        async with self.db.session() as s:
            s.add(row)
            return _due(row)

    async def attach(self, row_id: str, message_id: int) -> None:
        async with self.db.session() as s:
            await s.execute(
                update(ChatDeletionRow)
                .where(ChatDeletionRow.id == row_id)
                .values(message_id=message_id)
            )

    async def due(self, limit: int = 50) -> list[Due]:
        """Rows to act on now: deletions whose time came, and notices still to give."""
        async with self.db.session() as s:
            rows = await s.scalars(
                select(ChatDeletionRow)
                .where(
                    or_(
                        ChatDeletionRow.state == TELL,  # with or without its message's id
                        (ChatDeletionRow.state == PENDING)
                        & ChatDeletionRow.message_id.is_not(None),
                    ),
                    ChatDeletionRow.next_try_at <= self._now(),
                )
                .order_by(ChatDeletionRow.next_try_at)
                .limit(limit)
            )
            return [_due(row) for row in rows]

    async def unattached(self) -> list[Due]:
        """Rows that never learnt their message's id: a process died while sending it."""
        async with self.db.session() as s:
            rows = await s.scalars(
                select(ChatDeletionRow).where(
                    ChatDeletionRow.state == PENDING, ChatDeletionRow.message_id.is_(None)
                )
            )
            return [_due(row) for row in rows]

    async def pending_ids(self) -> list[str]:
        """Every row still waiting to be deleted whose message is known (for a shutdown)."""
        async with self.db.session() as s:
            ids = await s.scalars(
                select(ChatDeletionRow.id).where(
                    ChatDeletionRow.state == PENDING, ChatDeletionRow.message_id.is_not(None)
                )
            )
            return list(ids)

    async def get(self, row_id: str) -> Due | None:
        async with self.db.session() as s:
            row = await s.get(ChatDeletionRow, row_id)
            return None if row is None else _due(row)

    async def done(self, row_id: str) -> None:
        async with self.db.session() as s:
            await s.execute(delete(ChatDeletionRow).where(ChatDeletionRow.id == row_id))

    async def retry_later(self, row_id: str, seconds: float, error: str) -> None:
        async with self.db.session() as s:
            await s.execute(
                update(ChatDeletionRow)
                .where(ChatDeletionRow.id == row_id)
                .values(
                    next_try_at=self._now() + timedelta(seconds=seconds),
                    attempts=ChatDeletionRow.attempts + 1,
                    error=error[:500],
                )
            )

    async def claim(self, row_id: str, seconds: float) -> None:
        """Keep the worker off a row for `seconds` while one attempt is under way."""
        async with self.db.session() as s:
            await s.execute(
                update(ChatDeletionRow)
                .where(ChatDeletionRow.id == row_id)
                .values(next_try_at=self._now() + timedelta(seconds=seconds))
            )

    async def mark(
        self, row_ids: Sequence[str], state: str, error: str | None = None, retry_in: float = 0
    ) -> None:
        """Move rows to `TELL` (someone must be told to delete by hand; the worker tries again
        after `retry_in` unless the caller manages first) or `BY_HAND` (told)."""
        later = self._now() + timedelta(seconds=retry_in)
        values: dict[str, object] = {"state": state, "next_try_at": later}
        if error is not None:
            values["error"] = error[:500]
        async with self.db.session() as s:
            await s.execute(
                update(ChatDeletionRow).where(ChatDeletionRow.id.in_(row_ids)).values(**values)
            )


def _due(row: ChatDeletionRow) -> Due:
    return Due(
        row.id, row.chat_id, row.message_id, row.user_id, row.what, row.state, row.created_at,
        row.attempts,
    )  # fmt: skip
