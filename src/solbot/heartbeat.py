"""The running loop's heartbeat (`store.loop_beat`), taken from the engine: written at start,
after every tick and at a clean stop, so other processes (the dashboard, a close request from
Telegram or a page) know that a loop runs, what it did and where its clock stands. Writing it
never costs a tick: a database's moment is logged and the next tick writes again."""

from __future__ import annotations

import logging
from decimal import Decimal

from solbot.clock import Clock
from solbot.engine import Engine
from solbot.events import warm_up
from solbot.store import loop_beat
from solbot.store.db import Database

log = logging.getLogger(__name__)


async def beat(
    db: Database, engine: Engine, clock: Clock, wall: Clock, *, stopped: bool = False
) -> None:
    stats, now = engine.stats, clock.now()
    state = loop_beat.LoopBeat(
        now=now,
        written_at=wall.now(),
        ticks=stats.ticks,
        entries=stats.entries,
        exits=stats.exits,
        failed=stats.failed,
        warming_up=warm_up(engine, now) or None,
        prices={symbol: Decimal(price) for symbol, price in engine.prices.items()},
        stopped=stopped,
    )
    try:
        await loop_beat.publish(db, state)
    except Exception as exc:  # the dashboard's information, never the loop's failure
        log.warning("the loop's heartbeat was not written: %s", exc)
