"""One POST to a webhook, and what its answer means: delivered (2xx), try again later
(a timeout, a network error, 408, 429 with how long to wait, 5xx), or never (any other
answer: the address is wrong, gone or refuses the body; a redirect too, which is not
followed: the token would go wherever it points). Errors are told without the address."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import httpx

from solbot import __version__
from solbot.wallet.redact import redact
from solbot.webhooks.public_only import REFUSED, public_transport

TIMEOUT_SECONDS = 10.0  # the whole post, answer included
ANSWER_BYTES = 4096  # of an endpoint's answer: what the log and the dead letter show
RETRY = {408, 429}


@dataclass(frozen=True)
class Answer:
    delivered: bool
    error: str = ""
    never: bool = False
    wait: float | None = None  # seconds the endpoint asked us to wait
    unreachable: bool = False  # no answer at all: its other deliveries wait for the next pass


PRIVATE = "the address leads to this machine or a private network"


def client(*, public_only: bool = False) -> httpx.AsyncClient:
    """The client deliveries are posted with; `public_only` for the webhooks added from the
    dashboard (`public_only.PublicOnly`: never this machine or a private network)."""
    return httpx.AsyncClient(
        timeout=TIMEOUT_SECONDS,
        follow_redirects=False,
        headers={
            "User-Agent": f"solbot/{__version__}",
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",  # 4 KB read is 4 KB, not a gzip bomb's megabytes
        },
        transport=public_transport() if public_only else None,
        trust_env=not public_only,
    )


async def post(http: httpx.AsyncClient, url: str, body: str) -> Answer:
    """One POST, over within `TIMEOUT_SECONDS` whatever the endpoint does (httpx's timeout is
    per read: an endpoint dripping a byte at a time would hold every delivery), reading at
    most `ANSWER_BYTES` of its answer (one streaming gigabytes would fill the bot's memory)."""
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            async with http.stream("POST", url, content=body.encode()) as response:
                if 200 <= response.status_code < 300:  # taken: its body does not matter
                    return Answer(True)
                said = await _first_bytes(response)
    except (TimeoutError, httpx.TimeoutException):
        return Answer(False, "no answer in time", unreachable=True)
    except (httpx.InvalidURL, UnicodeError):  # refused before anything was sent
        return Answer(False, "the address is not valid", never=True)
    except httpx.ConnectError as exc:
        if REFUSED in str(exc):  # it will not become a public address by waiting
            return Answer(False, PRIVATE, never=True)
        return Answer(False, f"not reached ({type(exc).__name__})", unreachable=True)
    except httpx.HTTPError as exc:  # its message may name the address: only its kind
        return Answer(False, f"not reached ({type(exc).__name__})", unreachable=True)
    status = response.status_code
    shown = redact(" ".join(said.split()))[:120]  # an echo of the address is masked
    error = f"HTTP {status}" + (f": {shown}" if shown else "")
    if status == 429:
        return Answer(False, error, wait=_retry_after(response.headers, said))
    if status in RETRY or status >= 500:
        return Answer(False, error)
    return Answer(False, error, never=True)


async def _first_bytes(response: httpx.Response) -> str:
    got = b""
    async for chunk in response.aiter_bytes():
        got += chunk
        if len(got) >= ANSWER_BYTES:
            break
    return got[:ANSWER_BYTES].decode(errors="replace")


def _retry_after(headers: httpx.Headers, said: str) -> float | None:
    """Seconds to wait: the Retry-After header, or Discord's JSON `retry_after` (seconds)."""
    header = headers.get("retry-after")
    try:
        if header is not None:
            return max(0.0, float(header))
        value = json.loads(said).get("retry_after")
        return max(0.0, float(value)) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None
