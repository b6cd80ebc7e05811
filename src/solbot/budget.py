"""A budget of actions per minute and per caller (a Telegram user, a dashboard client): the
one sliding-window rule both front doors use, so a stuck client or a curious friend cannot
flood the vault, the venue or the database."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable

from solbot.clock import Clock

WINDOW = 60.0
MOST_CALLERS = 10_000  # callers remembered; the one quiet longest is forgotten first


class PerMinute:
    def __init__(self, clock: Clock, per_minute: int) -> None:
        self.clock = clock
        self.per_minute = per_minute
        self._recent: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def take(self, who: Hashable) -> bool:
        """Count one action of `who`; False when over the budget of the last minute."""
        now = self.clock.now()
        recent = self._recent.get(who)
        if recent is None:
            recent = self._recent[who] = deque()
            if len(self._recent) > MOST_CALLERS:  # memory stays bounded, in O(1)
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(who)
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
        return max(0.0, recent[-self.per_minute] + WINDOW - self.clock.now())
