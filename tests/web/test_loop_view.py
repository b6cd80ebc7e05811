"""The running loop as the API sees it: through its heartbeat in the database, in whichever
process the loop runs. While it beats, the status shows its counters and prices and the
trading clock follows its clock; a close is a request row the loop takes, for the position's
owner only, audited; without a loop (none yet, stopped, or silent too long) a close is
refused and nothing is written (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from solbot.store import loop_beat
from solbot.store.loop_beat import ALIVE_SECONDS, LoopBeat
from solbot.store.loop_tables import CloseRequestRow
from solbot.store.tables import AuditRow
from web.conftest import START, Site

TRADING_NOW = datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()


async def beat(site: Site, **changes: object) -> None:
    state = LoopBeat(
        now=TRADING_NOW,
        written_at=site.wall.now(),
        ticks=42,
        entries=3,
        exits=1,
        prices={"JUP": Decimal("0.51")},
    )
    await loop_beat.publish(site.db, LoopBeat(**{**state.__dict__, **changes}))
    site.wall.advance(1.0)
    site.services.loop.forget()  # the dashboard looks at the beat once a second: now


async def requests(site: Site) -> list[tuple[str, str, str]]:
    async with site.db.session() as s:
        rows = await s.scalars(select(CloseRequestRow))
        return [(r.user_id, r.token, r.asked_by) for r in rows]


async def close_audits(site: Site) -> int:
    async with site.db.session() as s:
        query = select(func.count()).where(AuditRow.action == "close_request")
        return int(await s.scalar(query) or 0)


async def test_the_loops_state_from_its_heartbeat(site: Site) -> None:
    alice = await site.signed_in("alice")
    assert (await alice.get("/api/v1/status")).json()["loop"] is None  # no loop ever ran
    await beat(site)
    loop = (await alice.get("/api/v1/status")).json()["loop"]
    assert loop["ticks"] == 42
    assert loop["prices"] == {"JUP": "0.51"}
    assert loop["now"].startswith("2027-01-15T08:00:00")
    (position,) = (await alice.get("/api/v1/users/alice/positions")).json()
    assert position["price_now"] == "0.51"
    # The trading clock is the loop's, running on at the wall's pace since its beat.
    assert site.services.clock.now() == TRADING_NOW + 1.0


async def test_a_close_is_a_request_the_loop_takes(site: Site) -> None:
    await beat(site)
    alice = await site.signed_in("alice")
    done = await alice.post("/api/v1/users/alice/positions/jup/close")
    assert done.json() == {"changed": True, "message": "closing JUP at the next tick"}
    assert await requests(site) == [(site.users["alice"].id, "JUP", "web:alice")]
    again = await alice.post("/api/v1/users/alice/positions/JUP/close")
    assert again.status_code == 200
    assert len(await requests(site)) == 1  # one position, one request
    assert await close_audits(site) == 1
    refused = await alice.post("/api/v1/users/alice/positions/WIF/close")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == "You hold no open WIF position."
    assert (await alice.post("/api/v1/users/bob/positions/JUP/close")).status_code == 403
    assert len(await requests(site)) == 1


async def test_no_close_without_a_running_loop(site: Site) -> None:
    bob = await site.signed_in("bob")
    no_loop = "Closing needs the trading loop running (solbot run); try later."
    for state in ("never ran", "stopped", "silent"):
        if state == "stopped":
            await beat(site, stopped=True)
        elif state == "silent":
            await beat(site, written_at=START - ALIVE_SECONDS - 60)
        refused = await bob.post("/api/v1/users/bob/positions/JUP/close")
        assert refused.status_code == 409, state
        assert refused.json()["error"]["message"] == no_loop
        assert (await bob.get("/api/v1/status")).json()["loop"] is None
    assert await requests(site) == []
    assert await close_audits(site) == 0


async def test_two_closes_at_once_are_one_request(site: Site) -> None:
    """A double click, or a page and Telegram at the same moment: one row, one audit entry,
    and neither caller sees an error."""
    import asyncio

    await beat(site)
    alice = await site.signed_in("alice")
    url = "/api/v1/users/alice/positions/JUP/close"
    answers = await asyncio.gather(*(alice.post(url) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert len(await requests(site)) == 1
    assert await close_audits(site) == 1
