"""A user's request to sell a position now (`/close`, the dashboard's button) is a row the loop
reads at every tick, whichever process wrote it: it sells at the next tick with the reason
"manual", a failed exit is tried again, a request never sells a later position of the same
token, and a request is forgotten once its position is closed. A request is the run's that
took it, for ten wall-clock minutes: one asked before the run started (a stop or a crash in
between) or not done in time is dropped, and its user told (both databases)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from solbot.clock import ManualClock
from solbot.domain import RiskLimits
from solbot.events import Event
from solbot.quarantine import BackoffPolicy
from solbot.store import close_requests
from solbot.store.db import Database
from solbot.store.loop_tables import CloseRequestRow
from solbot.store.positions import Positions
from solbot.store.tables import PositionRow

from .small_world import TF, SmallWorld, small_world
from .test_quarantine import Refusing

WALL = 1_900_000_000.0


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
async def world(
    tmp_path: Path, db_url: str, events: list[Event]
) -> AsyncIterator[tuple[SmallWorld, Refusing]]:
    """Two users who hold JUP, bought at a candle's close; the venue refuses on demand."""
    venues: list[Refusing] = []

    def venue(network, _clock):
        venues.append(Refusing(network))
        return httpx.AsyncClient(transport=venues[-1], base_url="http://sim")

    built = await small_world(
        tmp_path,
        users=2,
        limits=RiskLimits(position_size_pct=1.0, max_position_pct=1.0, max_open_positions=50),
        symbols=("JUP",),
        venue=venue,
        url=db_url,
        backoff=BackoffPolicy(first_delay=1.0, max_delay=1.0, max_attempts=10),
        on_event=events.append,
    )
    built.engine.wall = ManualClock(WALL)  # close requests' lifetime: the wall clock's
    built.engine._started_wall = WALL - 1.0
    await built.engine.tick()
    built.clock.advance(TF.seconds)
    await built.engine.tick()  # the candle closes: both buy JUP
    yield built, venues[0]
    await built.db.dispose()


async def ask_from_elsewhere(url: str, user_id: str, token: str, at: float = WALL) -> bool:
    """A request written as another process writes it: its own connection to the database."""
    other = Database(url)
    try:
        async with other.session() as s:
            position = await Positions(s, None).open_for(user_id, token)  # type: ignore[arg-type]
            assert position is not None
            return await close_requests.ask(s, position, "web:user_0", at)
    finally:
        await other.dispose()


async def positions(built: SmallWorld) -> set[tuple[str, str, str | None]]:
    async with built.db.session() as s:
        rows = await s.scalars(select(PositionRow))
        return {(p.user_id, p.status, p.exit_reason) for p in rows}


async def requests(built: SmallWorld) -> int:
    async with built.db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(CloseRequestRow)) or 0)


async def test_a_request_from_another_process_sells_at_the_next_tick(
    world: tuple[SmallWorld, Refusing], db_url: str
) -> None:
    built, _venue = world
    assert await ask_from_elsewhere(db_url, "u0", "JUP")
    assert not await ask_from_elsewhere(db_url, "u0", "JUP")  # asked twice: one request
    assert await requests(built) == 1
    built.clock.advance(1.0)
    await built.engine.tick()  # within the candle: no signal, only the request
    assert await positions(built) == {("u0", "closed", "manual"), ("u1", "open", None)}
    built.clock.advance(1.0)
    await built.engine.tick()
    assert await requests(built) == 0  # its position is closed: forgotten


async def test_an_exit_that_fails_is_tried_again(
    world: tuple[SmallWorld, Refusing], db_url: str
) -> None:
    built, venue = world
    jup = built.network.token("JUP").mint
    venue.refused = (built.wallets[0], jup)
    await ask_from_elsewhere(db_url, "u0", "JUP")
    built.clock.advance(1.0)
    await built.engine.tick()
    assert ("u0", "open", None) in await positions(built)
    assert await requests(built) == 1  # the loop keeps it until the position is sold
    venue.refused = None
    built.clock.advance(2.0)  # past the order guard's back-off
    await built.engine.tick()
    assert ("u0", "closed", "manual") in await positions(built)


async def test_a_request_never_sells_a_later_position_of_the_token(
    world: tuple[SmallWorld, Refusing], db_url: str
) -> None:
    built, _venue = world
    await ask_from_elsewhere(db_url, "u0", "JUP")
    async with built.db.session() as s:  # that position ends another way before the tick...
        (old,) = await s.scalars(select(PositionRow).where(PositionRow.user_id == "u0"))
        await s.execute(update(PositionRow).where(PositionRow.id == old.id).values(status="closed"))
        later = PositionRow(**{c.key: getattr(old, c.key) for c in PositionRow.__table__.columns})
        later.id, later.status = "later", "open"  # ... and a new one of the token opens
        s.add(later)
    built.clock.advance(1.0)
    await built.engine.tick()
    assert ("u0", "open", None) in await positions(built)
    assert await requests(built) == 0


async def test_a_request_from_before_the_run_is_dropped_and_told(
    world: tuple[SmallWorld, Refusing], db_url: str, events: list[Event]
) -> None:
    built, _venue = world
    await ask_from_elsewhere(db_url, "u0", "JUP", at=WALL - 60)  # the run before this one
    built.clock.advance(1.0)
    await built.engine.tick()
    assert ("u0", "open", None) in await positions(built)  # not sold at a price nobody saw
    assert await requests(built) == 0
    (told,) = [e for e in events if e.kind == "close_dropped"]
    assert (told.user_id, told.text) == (
        "u0",
        "JUP: your close was not done (the bot restarted since); ask again to sell it now",
    )


async def test_a_request_not_done_in_ten_minutes_is_dropped(
    world: tuple[SmallWorld, Refusing], db_url: str, events: list[Event]
) -> None:
    built, venue = world
    venue.refused = (built.wallets[0], built.network.token("JUP").mint)  # its exit keeps failing
    await ask_from_elsewhere(db_url, "u0", "JUP")
    built.clock.advance(1.0)
    await built.engine.tick()
    assert await requests(built) == 1
    wall = built.engine.wall
    assert isinstance(wall, ManualClock)
    wall.advance(close_requests.LIFETIME_SECONDS + 1)
    venue.refused = None
    built.clock.advance(2.0)
    await built.engine.tick()
    assert ("u0", "open", None) in await positions(built)
    assert await requests(built) == 0
    (told,) = [e for e in events if e.kind == "close_dropped"]
    assert "not sold in time" in told.text
