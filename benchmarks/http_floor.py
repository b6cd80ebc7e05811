"""The floor an HTTP venue puts under an order: what one Jupiter-shaped request costs the bot's
process before any venue work, measured beside one ed25519 signature.

Every order makes two requests (`/swap/v2/order`, `/swap/v2/execute`), so with 10,000 users on
one candle this floor alone is 20,000 requests on the bot's one interpreter thread. Three ways
to answer the same request (an order's query string, a small JSON answer), and the way the
embedded sim now avoids them:

- `httpx, no server`: the real `httpx.AsyncClient` with `httpx.MockTransport`, whose handler
  answers at once: the client library's own cost (request building, URL parsing, cookies,
  response decoding) and nothing else;
- `httpx + ASGI + Starlette`: the same client through `httpx.ASGITransport` to a one-route
  Starlette app, the way the embedded sim's venue was reached before it moved in process;
- `JupiterClient.order`: the bot's client on top of the first (parameters, retries and rate
  limiter, JSON with `Decimal`, the answer's validation), against a fixed valid answer;
- `JupiterClient.order, in process`: the same client over what the embedded sim now passes it
  instead of an HTTP client (`InProcessJupiter`: the answer's JSON bytes in a `WireAnswer`,
  no request, no transport), with the venue's handler replaced by the fixed answer.

Medians of `--repeats` interleaved rounds of `--requests` each.

Run: `python benchmarks/http_floor.py [--requests 2000] [--repeats 5]`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from solbot.clock import ManualClock
from solbot.execution.jupiter import JupiterClient
from solbot.sim.jupiter_http import WireAnswer, json_response
from tick import report_signature  # the same unit as the tick benchmark

USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
SOL = "So11111111111111111111111111111111111111112"
ANSWER = {  # a quote without a transaction (no taker): what `order` parses and checks
    "inputMint": USDC,
    "outputMint": SOL,
    "inAmount": "100000000",
    "outAmount": "645161290",
    "otherAmountThreshold": "641935483",
    "swapMode": "ExactIn",
    "slippageBps": 50,
    "priceImpactPct": "0.0012",
    "routePlan": [],
    "router": "sim",
    "requestId": "9b7c1c0e-2a41-4d7e-8f59-1c8d2e7a4b11",
    "transaction": None,
    "feeBps": 0,
    "mode": "ultra",
}
PARAMS = {"inputMint": USDC, "outputMint": SOL, "amount": "100000000"}


async def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=ANSWER)


async def _endpoint(request: Request) -> JSONResponse:
    return JSONResponse(ANSWER)


class _InProcess:
    """`InProcessJupiter` with its handler's work taken out: the encoding and the response."""

    async def request(self, method: str, url: httpx.URL, **_: object) -> WireAnswer:
        return json_response(200, ANSWER)


async def _rounds(
    calls: dict[str, Callable[[], Awaitable[object]]], requests: int, repeats: int
) -> dict[str, float]:
    """Seconds per call, median of interleaved rounds (load hits every variant alike)."""
    seen: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            began = time.perf_counter()
            for _ in range(requests):
                await call()
            seen[name].append((time.perf_counter() - began) / requests)
    return {name: statistics.median(times) for name, times in seen.items()}


async def measure(requests: int, repeats: int) -> dict[str, float]:
    bare = httpx.AsyncClient(transport=httpx.MockTransport(_answer), base_url="http://venue")
    app = Starlette(routes=[Route("/swap/v2/order", _endpoint)])
    asgi = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://venue")
    jupiter = JupiterClient(
        httpx.AsyncClient(transport=httpx.MockTransport(_answer), base_url="http://venue"),
        ManualClock(0.0),
        base_url="http://venue",
        requests_per_second=1e9,
    )
    in_process = JupiterClient(
        _InProcess(), ManualClock(0.0), base_url="http://venue", requests_per_second=1e9
    )
    url = "http://venue/swap/v2/order"
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "httpx, no server": lambda: bare.get(url, params=PARAMS),
        "httpx + ASGI + Starlette": lambda: asgi.get(url, params=PARAMS),
        "JupiterClient.order": lambda: jupiter.order(USDC, SOL, 100_000_000),
        "JupiterClient.order, in process": lambda: in_process.order(USDC, SOL, 100_000_000),
    }
    try:
        return await _rounds(calls, requests, repeats)
    finally:
        for client in (bare, asgi):
            await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sign = report_signature()
    for name, seconds in asyncio.run(measure(args.requests, args.repeats)).items():
        fanout = seconds * 2 * 10_000
        print(
            f"{name:33s} {seconds * 1e6:6.0f} µs a request = {seconds / sign:4.1f} signatures; "
            f"two per order × 10,000 users: {fanout:5.1f} s"
        )


if __name__ == "__main__":
    main()
