"""A fake GeckoTerminal on 127.0.0.1 speaking the real API's shapes, for the real httpx client."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

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
class Scripted:
    """A forced answer: an HTTP status with headers and body, or status 0 to drop the line."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


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
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            answer = fake.answer(url.path, url.query, dict(self.headers.items()))
            if answer.status == 0:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            payload = json.dumps(answer.body if answer.body is not None else {}).encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def serve() -> Iterator[FakeGecko]:
    """Run a fake GeckoTerminal on an ephemeral port of 127.0.0.1 for the duration."""
    fake = FakeGecko()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    fake.base_url = f"http://{host}:{port}/api/v2"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
