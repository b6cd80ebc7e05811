"""The trading loop as the dashboard sees it: through its heartbeat in the database
(`store.loop_beat`), whichever process the loop runs in (`solbot run --web` starts the
dashboard as a process of its own; `solbot web` runs beside a bot). The beat gives the loop's
counters and prices while it runs, and its clock: breakers and today's PnL are read on the
trading clock, which on a fast sim is not the wall's."""

from __future__ import annotations

import asyncio
import time

from solbot.clock import Clock
from solbot.store import loop_beat
from solbot.store.db import Database
from solbot.store.loop_beat import LoopBeat
from solbot.store.types import utc_from_timestamp
from solbot.web.models import LoopStatus

REFRESH_SECONDS = 1.0  # pages ask often; the beat changes once a tick


class FollowingClock:
    """The trading clock as the loop's last beat sets it, running at the wall's pace since;
    `fallback` before any beat (where a saved sim world stopped, or the wall)."""

    def __init__(self, wall: Clock, fallback: Clock) -> None:
        self.wall = wall
        self.fallback = fallback
        self.beat: LoopBeat | None = None

    def now(self) -> float:
        if self.beat is None:
            return self.fallback.now()
        return self.beat.trading_now(self.wall.now())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class LoopWatch:
    def __init__(self, db: Database, wall: Clock, poll_seconds: float, fallback: Clock) -> None:
        self.db = db
        self.wall = wall
        self.poll_seconds = poll_seconds
        self.clock = FollowingClock(wall, fallback)
        self._read_at: float | None = None

    async def refresh(self) -> LoopBeat | None:
        """The loop's last beat, read at most once a `REFRESH_SECONDS` (a cache: monotonic
        time, whatever the clocks say) for every page and stream together."""
        now = time.monotonic()
        if self._read_at is None or now - self._read_at >= REFRESH_SECONDS:
            self.clock.beat = await loop_beat.read(self.db)
            self._read_at = now
        return self.clock.beat

    def forget(self) -> None:
        """Read the beat afresh at the next look (tests; a beat just written here)."""
        self._read_at = None

    async def status(self) -> LoopStatus | None:
        """What the running loop says; None when no loop runs on this database."""
        beat = await self.refresh()
        if beat is None or not beat.alive(self.wall.now(), self.poll_seconds):
            return None
        return LoopStatus(
            now=utc_from_timestamp(beat.now),
            seen_at=utc_from_timestamp(beat.written_at),
            ticks=beat.ticks,
            entries=beat.entries,
            exits=beat.exits,
            failed=beat.failed,
            warming_up=beat.warming_up,
            prices=beat.prices,
        )
