"""The trading loop's heartbeat in the database: what it has done (ticks, entries, exits), what
it is waiting for (warm-up), its last prices and where its clock stands, written after every
tick. Other processes read it: the dashboard (beside `solbot run` or started by `solbot run
--web`), and whoever takes a close request (`services.closing`: a request is only taken while
a loop runs to sell it).

One `meta` row, rewritten each tick in a transaction that need not reach the disk before the
loop goes on (`durable=False`): a crash loses at most a heartbeat, which the next tick
rewrites; a beat that stops coming says the loop is gone."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from solbot.store.db import Database
from solbot.store.tables import MetaEntry

BEAT_KEY = "loop_beat"
ALIVE_SECONDS = 120.0  # a beat older than this (and 3 polls) says no loop runs


@dataclass(frozen=True)
class LoopBeat:
    now: float  # the trading clock's time at the beat (simulated on the sim)
    written_at: float  # the wall clock's
    ticks: int = 0
    entries: int = 0
    exits: int = 0
    failed: int = 0
    warming_up: str | None = None
    prices: dict[str, Decimal] = field(default_factory=dict)  # last USD price per symbol
    stopped: bool = False  # the loop stopped cleanly after this beat

    def alive(self, wall_now: float, poll_seconds: float) -> bool:
        """Whether a loop is running: it beat lately and has not said it stopped. A tick of
        thousands of users takes seconds, so 'lately' is generous."""
        limit = max(ALIVE_SECONDS, 3 * poll_seconds)
        return not self.stopped and wall_now - self.written_at <= limit

    def trading_now(self, wall_now: float) -> float:
        """The trading clock now, from the beat: it runs at the wall's pace between beats
        (on a fast sim that lags by less than one tick)."""
        return self.now + max(0.0, wall_now - self.written_at)


async def publish(db: Database, beat: LoopBeat) -> None:
    """Write `beat`, replacing the last one (the loop calls this; never durable)."""
    data = asdict(beat)
    data["prices"] = {symbol: str(price) for symbol, price in beat.prices.items()}
    value = json.dumps(data, separators=(",", ":"))
    async with db.session(durable=False) as s:
        row = await s.get(MetaEntry, BEAT_KEY)
        if row is None:
            s.add(MetaEntry(key=BEAT_KEY, value=value))
        else:
            row.value = value


async def read(db: Database) -> LoopBeat | None:
    """The last beat, or None when no loop ever ran on this database."""
    async with db.session(read_only=True) as s:
        return await last(s)


async def last(s: AsyncSession) -> LoopBeat | None:
    """The last beat, read in the caller's transaction."""
    row = await s.get(MetaEntry, BEAT_KEY)
    if row is None:
        return None
    data = json.loads(row.value)
    known = {f.name for f in fields(LoopBeat)}  # a beat of another version: what is common
    data = {name: value for name, value in data.items() if name in known}
    data["prices"] = {symbol: Decimal(price) for symbol, price in data.get("prices", {}).items()}
    try:
        return LoopBeat(**data)
    except TypeError:  # too old to read (a field it lacks has no default): as if none
        return None
