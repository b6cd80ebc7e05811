"""One post is over in `TIMEOUT_SECONDS` whatever the endpoint does, and reads a few KB of its
answer at most: an endpoint that drips its answer a byte at a time would otherwise hold every
delivery behind it (httpx's timeout is per read), and one streaming gigabytes would fill the
bot's memory, crash it, and crash it again on the retry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from solbot.asgi_serving import serve_app
from solbot.webhooks import sender


async def dripping() -> AsyncIterator[bytes]:
    """A body without end, a byte at a time: each within httpx's read timeout."""
    while True:
        yield b"."
        await asyncio.sleep(0.2)


def hostile() -> Starlette:
    async def drip(_request: Request) -> Response:
        return StreamingResponse(dripping(), status_code=500)

    async def flood(_request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            chunk = b"x" * (1 << 20)
            while True:
                yield chunk
                await asyncio.sleep(0)

        return StreamingResponse(body(), status_code=500)

    async def taken_slowly(_request: Request) -> Response:
        return StreamingResponse(dripping(), status_code=200)  # 200, then a body without end

    return Starlette(
        routes=[
            Route("/drip", drip, methods=["POST"]),
            Route("/flood", flood, methods=["POST"]),
            Route("/taken", taken_slowly, methods=["POST"]),
        ]
    )


@pytest.fixture
async def url() -> AsyncIterator[str]:
    served = await serve_app(hostile(), "127.0.0.1", 0, what="hostile endpoints")
    try:
        yield served.url
    finally:
        await served.stop()


async def test_an_answer_dripped_a_byte_at_a_time_is_cut_off(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender, "TIMEOUT_SECONDS", 1.0)
    began = time.monotonic()
    async with sender.client() as http:
        answer = await sender.post(http, f"{url}/drip", "{}")
    assert time.monotonic() - began < 3.0  # each byte came within httpx's read timeout
    assert (answer.delivered, answer.error, answer.unreachable) == (
        False,
        "no answer in time",
        True,
    )


async def test_an_endless_answer_is_read_a_few_kilobytes_deep(url: str) -> None:
    async with sender.client() as http:
        answer = await sender.post(http, f"{url}/flood", "{}")
    assert not answer.delivered
    assert answer.error.startswith("HTTP 500: xxxx")
    assert len(answer.error) < 200
    assert not answer.never  # a 5xx is tried again later


async def test_a_2xx_is_delivered_whatever_its_body_does(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taken is taken: a slow body after a 200 must not make it sent again."""
    monkeypatch.setattr(sender, "TIMEOUT_SECONDS", 1.0)
    async with sender.client() as http:
        answer = await sender.post(http, f"{url}/taken", "{}")
    assert answer.delivered
