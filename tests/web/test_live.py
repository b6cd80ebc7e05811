"""Live updates (`GET /api/v1/events`, Server-Sent Events): a signed-in page hears `beat` when
the running loop beats again, from the one shared look at the beat; anonymous callers get
401, and a caller may keep only a few streams open. Both databases."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx

from solbot.store import loop_beat
from solbot.store.loop_beat import LoopBeat
from solbot.web.routes_live import PER_CALLER
from web.browser import served
from web.conftest import Site


async def next_event(lines: object) -> tuple[str, dict[str, object]]:
    """The next `event:`/`data:` pair of an SSE stream."""
    kind = ""
    async for line in lines:  # type: ignore[attr-defined]
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind:
            return kind, json.loads(line.removeprefix("data: "))
    raise AssertionError("the stream ended")


async def test_a_page_hears_each_beat(site: Site) -> None:
    beat = LoopBeat(now=0.0, written_at=site.wall.now(), ticks=7)
    await loop_beat.publish(site.db, beat)
    headers = {"Authorization": f"Bearer {site.operator_token}"}
    async with (
        served(site.services) as server,
        httpx.AsyncClient(
            base_url=server.url, headers=headers, trust_env=False, timeout=10
        ) as client,
        client.stream("GET", "/api/v1/events") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        kind, data = await asyncio.wait_for(next_event(lines), 10)
        assert (kind, data["ticks"], data["running"]) == ("beat", 7, True)
        assert set(data) == {"running", "ticks", "entries", "exits"}  # counters, nothing else
        later = LoopBeat(now=10.0, written_at=site.wall.now() + 10, ticks=8)
        await loop_beat.publish(site.db, later)
        kind, data = await asyncio.wait_for(next_event(lines), 10)
        assert (kind, data["ticks"]) == ("beat", 8)


async def test_streams_need_a_caller_and_are_few(site: Site) -> None:
    headers = {"Authorization": f"Bearer {site.operator_token}"}
    async with (
        served(site.services) as server,
        httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=10) as client,
    ):
        assert (await client.get("/api/v1/events")).status_code == 401
        async with contextlib.AsyncExitStack() as stack:
            reading = []  # kept: an abandoned line iterator would close its stream
            for _ in range(PER_CALLER):
                stream = await stack.enter_async_context(
                    client.stream("GET", "/api/v1/events", headers=headers)
                )
                reading.append(stream.aiter_lines())
                await anext(reading[-1])  # the stream started (and is counted)
            refused = await client.get("/api/v1/events", headers=headers)
            assert refused.status_code == 429
        for _ in range(100):  # the pages closed: their streams end and are not counted
            if not site.services.streams:
                break
            await asyncio.sleep(0.05)
        assert not site.services.streams
