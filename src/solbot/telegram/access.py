"""Who may talk to the bot, where, and how often.

Every update is checked on `from_user.id` against `TELEGRAM_ALLOWED_IDS` (the friends). Commands
that show or move money or keys answer only in a private chat with the bot, never in a group
where others read along. Each user has a command budget per minute, so a stuck client or a
curious friend cannot flood the vault or the venue.
"""

from __future__ import annotations

from collections.abc import Iterable

from solbot.budget import PerMinute
from solbot.clock import Clock


class Access:
    def __init__(self, clock: Clock, allowed: Iterable[int], *, per_minute: int = 20) -> None:
        self.clock = clock
        self.allowed = {int(i) for i in allowed}  # the configured ids, and those approved
        self._budget = PerMinute(clock, per_minute)

    @property
    def per_minute(self) -> int:
        return self._budget.per_minute

    @per_minute.setter
    def per_minute(self, value: int) -> None:
        self._budget.per_minute = value

    def is_allowed(self, user_id: int) -> bool:
        return user_id in self.allowed

    def allow(self, user_id: int) -> None:
        """Let in an id the operator approved (from Telegram, see `telegram.operator`)."""
        self.allowed.add(int(user_id))

    def revoke(self, user_id: int) -> None:
        self.allowed.discard(int(user_id))

    def take(self, user_id: int) -> bool:
        """Count one command of `user_id`; False when over the budget of the last minute."""
        return self._budget.take(user_id)
