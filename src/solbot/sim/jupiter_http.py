"""The sim's Jupiter API on the wire: the ASGI app and uvicorn server for `solbot sim serve`,
and `InProcessJupiter`, the same handlers called in process for the embedded sim, answering
with the bytes the server would have sent."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from solbot.asgi_serving import ServedApp, serve_app
from solbot.sim.jupiter_api import ROUTES, Handler, JupiterApi
from solbot.sim.maker import SimMaker
from solbot.sim.rpc_faults import Congestion

__all__ = [
    "InProcessJupiter",
    "WireAnswer",
    "create_jupiter_app",
    "json_bytes",
    "json_response",
    "serve_jupiter",
]

_JSON_HEADERS = httpx.Headers({"content-type": "application/json"})


def create_jupiter_app(maker: SimMaker, congestion: Congestion | None = None) -> Starlette:
    """The ASGI app: Swap v2, legacy Swap v1 and Price v3 over `maker` (and its ledger);
    `/build`'s priority fees read `congestion`, as the sim's RPC does."""
    api = JupiterApi(maker, congestion)

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            body = await request.body() if request.method == "POST" else b""
            status, payload = await handler(request.query_params, body)
            return Response(json_bytes(payload), status, media_type="application/json")

        return answer

    routes = [
        Route(path, endpoint(getattr(api, name)), methods=[method])
        for (method, path), name in ROUTES.items()
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal error"
        return JSONResponse({"error": detail}, status_code=status)

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


class InProcessJupiter:
    """The sim's Jupiter API called in process: what `JupiterClient` sends through instead of an
    `httpx.AsyncClient` when the sim is embedded (`solbot run` on the default network).

    Why: over httpx's ASGI transport, the HTTP framing (building the request, cookies, the
    transport, Starlette's routing) cost the bot about 1.3 ms of the 5 ms each user's order
    took in `benchmarks/fanout.py`, for no behaviour of either side. What stays is everything
    both sides do with the bytes: the client's parameters, rate limiter, retries, JSON parsing
    and error mapping; the API's checks and answers, encoded as the HTTP server encodes them.
    The sim served over HTTP (`solbot sim serve`, the integration tests) runs the same handlers.
    """

    def __init__(self, maker: SimMaker) -> None:
        self.api = JupiterApi(maker)

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> WireAnswer:
        """Answer as the HTTP server would (404/405 included). `headers` and `timeout` mean
        nothing in process: the API checks no key, and a handler runs to its end."""
        path = url.path if isinstance(url, httpx.URL) else httpx.URL(url).path
        handler = self.api.handler(method, path)
        if handler is not None:
            body = b"" if json is None else json_bytes(json)
            status, payload = await handler(params or {}, body)
        elif any(path == known for _, known in ROUTES):
            status, payload = 405, {"error": "Method Not Allowed"}
        else:
            status, payload = 404, {"error": "Not Found"}
        return json_response(status, payload)


@dataclass(frozen=True, slots=True)
class WireAnswer:
    """An answer's status and body bytes, read as an HTTP client reads them (`HttpAnswer`):
    the in-process API's answer without `httpx.Response`, whose headers and stream machinery
    cost more than decoding the JSON."""

    status_code: int
    content: bytes
    headers: httpx.Headers = field(default_factory=lambda: _JSON_HEADERS)  # shared: read only

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")

    def json(self, **kwargs: Any) -> Any:
        return json.loads(self.content, **kwargs)


def json_response(status: int, payload: Any) -> WireAnswer:
    """The answer an HTTP client would have read for this payload."""
    return WireAnswer(status, json_bytes(payload))


def json_bytes(payload: Any) -> bytes:
    """JSON as Starlette's `JSONResponse` and httpx's `json=` put it on the wire."""
    return json.dumps(
        payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


# ---------------------------------------------------------------------- serving


async def serve_jupiter(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
    """Serve `app` as a task of the running event loop (`asgi_serving.serve_app`); port 0
    picks a free one."""
    return await serve_app(app, host, port, what="sim Jupiter server")
