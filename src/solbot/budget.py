"""A budget of actions per minute and per caller (a Telegram user, a dashboard client): the
one sliding-window rule both front doors use, so a stuck client or a curious friend cannot
flood the vault, the venue or the database."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

from solbot.clock import Clock

WINDOW = 60.0


class PerMinute:
    def __init__(self, clock: Clock, per_minute: int) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self._recent: dict[Hashable, deque[float]] = {}

    def take(self, who: Hashable) -> bool:
        """Count one action of `who`; False when over the budget of the last minute."""
        now = self.clock.now()
        if len(self._recent) > 10_000:  # callers gone quiet are forgotten: memory stays bounded
            self._forget_quiet(now)
        recent = self._recent.setdefault(who, deque())
        while recent and recent[0] <= now - WINDOW:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return False
        recent.append(now)
        return True

    def retry_after(self, who: Hashable) -> float:
        """Seconds until `who` may act again (0 when it may now)."""
        recent = self._recent.get(who)
        if not recent or len(recent) < self.per_minute:
            return 0.0
        return max(0.0, recent[0] + WINDOW - self.clock.now())

    def _forget_quiet(self, now: float) -> None:
        for who in [w for w, r in self._recent.items() if not r or r[-1] <= now - WINDOW]:
            del self._recent[who]
