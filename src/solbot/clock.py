"""Time as a port: logic asks a `Clock`, never the system, so tests and backtests control it."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the Unix epoch (UTC), and a way to wait."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class WallClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told: sleeping advances it instantly (tests, backtests)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


class ScaledClock:
    """Simulated time running `speed` times faster than the wall (sim only: `--speed N`).

    Starts at `start` (simulated Unix seconds) and advances with the monotonic clock, so it never
    jumps when the system clock is adjusted; sleeping waits the wall time that corresponds.
    """

    def __init__(self, start: float, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._start = float(start)
        self._speed = float(speed)
        self._origin = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        return self._start + (time.monotonic() - self._origin) * self._speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._speed)


class RunningFrom:
    """A clock that starts at `start` and runs at the wall's speed: where a saved sim world
    stopped, for a process that reads it without running it (`solbot web` beside the sim)."""

    def __init__(self, start: float) -> None:
        self._offset = float(start) - time.time()

    def now(self) -> float:
        return time.time() + self._offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
