"""A fake GeckoTerminal on 127.0.0.1 speaking the real API's shapes, for the real httpx client."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from local_http import QuietHandler, Scripted, loopback_server, send_answer
from solbot.domain import CandleSeries, Timeframe

_GECKO_TIMEFRAMES = {
    ("minute", "1"): Timeframe.M1,
    ("minute", "5"): Timeframe.M5,
    ("minute", "15"): Timeframe.M15,
    ("hour", "1"): Timeframe.H1,
    ("hour", "4"): Timeframe.H4,
    ("day", "1"): Timeframe.D1,
}


@dataclass
class Pool:
    base: str
    quote: str
    series: dict[Timeframe, CandleSeries]


class FakeGecko:
    """Serves `/api/v2/networks/solana/pools/{pool}/ohlcv/{day|hour|minute}`.

    Rows are newest first, at most `limit`, with open time before `before_timestamp` (or at or
    before it with `inclusive_before`, since the real server's exact edge is not documented).
    """

    def __init__(self) -> None:
        self.pools: dict[str, Pool] = {}
        self.script: deque[Scripted] = deque()
        self.requests: list[dict[str, Any]] = []
        self.inclusive_before = False
        self.extra_rows: list[list[Any]] = []
        self._lock = threading.Lock()
        self.base_url = ""

    def add_pool(self, address: str, base: str, quote: str, series: CandleSeries) -> None:
        pool = self.pools.setdefault(address, Pool(base, quote, {}))
        pool.series[series.timeframe] = series

    def befores(self) -> list[int | None]:
        return [
            int(r["params"]["before_timestamp"]) if "before_timestamp" in r["params"] else None
            for r in self.requests
        ]

    def answer(self, path: str, query: str, headers: dict[str, str]) -> Scripted:
        params = {k: v[0] for k, v in parse_qs(query).items()}
        with self._lock:
            self.requests.append({"path": path, "params": params, "headers": headers})
            if self.script:
                return self.script.popleft()
        parts = path.strip("/").split("/")
        expected = ["api", "v2", "networks", "solana", "pools"]
        if len(parts) != 8 or parts[:5] != expected or parts[6] != "ohlcv":
            return _error(404, "Not Found")
        pool = self.pools.get(parts[5])
        timeframe = _GECKO_TIMEFRAMES.get((parts[7], params.get("aggregate", "1")))
        if pool is None or timeframe is None:
            return _error(404, "Not Found")
        limit = int(params.get("limit", "100"))
        if limit > 1000:
            return _error(422, "limit must be at most 1000")
        series = pool.series.get(timeframe, CandleSeries.empty(timeframe))
        times = series.open_time
        if "before_timestamp" in params:
            before = int(params["before_timestamp"])
            keep = times <= before if self.inclusive_before else times < before
            idx = [int(i) for i in keep.nonzero()[0]]
        else:
            idx = list(range(len(times)))
        idx = idx[::-1][:limit]
        rows: list[list[Any]] = [
            [
                int(times[i]),
                float(series.open[i]),
                float(series.high[i]),
                float(series.low[i]),
                float(series.close[i]),
                float(series.volume[i]),
            ]
            for i in idx
        ]
        rows.extend(self.extra_rows)
        body = {
            "data": {
                "id": "0f6f6a0c-3a0b-4a4f-9d2a-0d4f2b1c9e11",
                "type": "ohlcv_request_response",
                "attributes": {"ohlcv_list": rows},
            },
            "meta": {
                "base": {"address": pool.base, "name": "Base", "symbol": "BASE"},
                "quote": {"address": pool.quote, "name": "Quote", "symbol": "QUOTE"},
            },
        }
        return Scripted(200, {}, body)


def _error(status: int, title: str) -> Scripted:
    return Scripted(status, {}, {"errors": [{"status": str(status), "title": title}]})


def _handler(fake: FakeGecko) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server names it)
            url = urlsplit(self.path)
            send_answer(self, fake.answer(url.path, url.query, dict(self.headers.items())))

    return Handler


@contextmanager
def serve() -> Iterator[FakeGecko]:
    """Run a fake GeckoTerminal on an ephemeral port of 127.0.0.1 for the duration."""
    fake = FakeGecko()
    with loopback_server(_handler(fake)) as url:
        fake.base_url = f"{url}/api/v2"
        yield fake
