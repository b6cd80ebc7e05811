"""Ending a user's way into the dashboard: their sessions ended and their unused links spent,
in the caller's transaction. Called where access ends (the operator revoking a friend's
Telegram access), so that a revoked friend is out of the dashboard at the same moment."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update

from solbot.store.repository import Repository
from solbot.store.web_tables import WebLinkRow, WebSessionRow


class WebAccess(Repository):
    async def end(self, user_id: str) -> int:
        """End `user_id`'s sessions and spend their unused links; how many sessions ended."""
        now = self._now()
        ended = cast(
            CursorResult[Any],
            await self.session.execute(
                update(WebSessionRow)
                .where(WebSessionRow.user_id == user_id, WebSessionRow.ended_at.is_(None))
                .values(ended_at=now)
            ),
        )
        await self.session.execute(
            update(WebLinkRow)
            .where(WebLinkRow.user_id == user_id, WebLinkRow.used_at.is_(None))
            .values(used_at=now)
        )
        return ended.rowcount
