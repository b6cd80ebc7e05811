"""Live updates: `GET /api/v1/events`, a Server-Sent Events stream that says when the running
loop beat again (after every tick), so a page redraws when there is something new instead of
on a timer. Every stream reads the one shared look at the beat (`LoopWatch.refresh`, once a
second for all of them). A stream lasts `STREAM_SECONDS` (the browser's EventSource opens
the next one by itself), a caller has at most `PER_CALLER` open and the dashboard
`OVERALL`: a page left open in many tabs cannot hold the server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from solbot.store.loop_beat import LoopBeat
from solbot.web.auth import Caller, Services
from solbot.web.errors import ApiError
from solbot.web.services import WebServices

router = APIRouter(prefix="/api/v1", tags=["read"])
STREAM_SECONDS = 600.0
LOOK_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
PER_CALLER = 4
OVERALL = 200


@router.get(
    "/events",
    response_class=StreamingResponse,
    summary="Live updates (Server-Sent Events): `beat` after every tick of the running loop",
)
async def events(who: Caller, web: Services) -> StreamingResponse:
    streams = web.streams
    if streams[who.actor] >= PER_CALLER or sum(streams.values()) >= OVERALL:
        raise ApiError(429, "too many live pages open; close some", headers={"Retry-After": "30"})
    return StreamingResponse(
        _stream(web, who.actor),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _stream(web: WebServices, actor: str) -> AsyncIterator[str]:
    streams = web.streams
    streams[actor] += 1  # counted from the stream's start: one never started holds nothing
    try:
        yield "retry: 5000\n\n"  # the browser's wait before it opens the next stream
        seen: float | None = None
        end = time.monotonic() + STREAM_SECONDS
        quiet_since = time.monotonic()
        while time.monotonic() < end:  # a client gone: Starlette cancels the stream
            beat = await web.loop.refresh()
            if beat is not None and beat.written_at != seen:
                seen = beat.written_at
                yield f"event: beat\ndata: {json.dumps(_brief(beat, web))}\n\n"
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                yield ": still here\n\n"  # proxies close streams that say nothing
                quiet_since = time.monotonic()
            await asyncio.sleep(LOOK_SECONDS)
    finally:
        streams[actor] -= 1
        if streams[actor] <= 0:
            del streams[actor]


def _brief(beat: LoopBeat, web: WebServices) -> dict[str, object]:
    return {
        "running": beat.alive(web.wall.now(), web.settings.poll_seconds),
        "ticks": beat.ticks,
        "entries": beat.entries,
        "exits": beat.exits,
    }
