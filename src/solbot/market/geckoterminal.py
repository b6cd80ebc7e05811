"""Historical candles from GeckoTerminal's public API, politely and resumably.

The endpoint is `GET {base}/networks/solana/pools/{pool}/ohlcv/{day|hour|minute}` with
`aggregate` (minute: 1, 5, 15; hour: 1, 4, 12; day: 1), `before_timestamp` (Unix seconds),
`limit` (at most 1000), `currency=usd` and `token` (`base`, `quote` or a mint address; we pass
the token's mint so the candles price our token whichever side of the pool it sits on). The
answer lists `[time, open, high, low, close, volume]` rows newest first under
`data.attributes.ohlcv_list`; intervals without swaps are skipped; `meta.base`/`meta.quote`
describe the pair. The public API allows 30 calls a minute and answers 429 beyond.

So the client pages backwards with `before_timestamp`, spaces its calls at least 2 s apart (a
limiter on the injected `Clock`, so tests never really wait), retries 429 (honouring
`Retry-After`) and 5xx with exponential back-off, and `download` fetches only what the
`CandleStore` does not already hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from solbot.clock import Clock
from solbot.domain import CandleSeries, Timeframe, TokenInfo
from solbot.errors import UserError
from solbot.http_retry import RateLimiter, RetriesExhaustedError, RetryPolicy, send_with_retries
from solbot.market.store import CandleStore

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_LIMIT",
    "DownloadProgress",
    "DownloadReport",
    "GeckoTerminalClient",
    "GeckoTerminalError",
    "OhlcvPage",
    "RateLimiter",
    "download",
    "gecko_timeframe",
    "missing_ranges",
]

DEFAULT_BASE_URL = "https://api.geckoterminal.com/api/v2"
MAX_LIMIT = 1000
CALLS_PER_MINUTE = 30
_ACCEPT = "application/json;version=20230302"
_TIMEFRAMES: dict[Timeframe, tuple[str, int]] = {
    Timeframe.M1: ("minute", 1),
    Timeframe.M5: ("minute", 5),
    Timeframe.M15: ("minute", 15),
    Timeframe.H1: ("hour", 1),
    Timeframe.H4: ("hour", 4),
    Timeframe.D1: ("day", 1),
}


class GeckoTerminalError(UserError):
    """GeckoTerminal refused, kept failing, or answered something we cannot use."""


def gecko_timeframe(timeframe: Timeframe) -> tuple[str, int]:
    """Our timeframe as GeckoTerminal's (path segment, aggregate)."""
    return _TIMEFRAMES[timeframe]


@dataclass(frozen=True, slots=True)
class OhlcvPage:
    """One answer, oldest first. `repaired` rows had a high/low inside their open/close and were
    widened to contain them; `dropped` rows were unusable (non-positive or non-finite prices,
    negative volume, a time off the timeframe's grid)."""

    candles: CandleSeries
    received: int
    repaired: int
    dropped: int


class GeckoTerminalClient:
    """GeckoTerminal's OHLCV endpoint over an `httpx.AsyncClient` you own (and close)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        clock: Clock,
        *,
        base_url: str = DEFAULT_BASE_URL,
        network: str = "solana",
        limiter: RateLimiter | None = None,
        max_attempts: int = 5,
        backoff: float = 2.0,
        max_backoff: float = 60.0,
        max_retry_after: float = 300.0,
    ) -> None:
        self._policy = RetryPolicy(max_attempts, backoff, max_backoff, max_retry_after)
        self._http = http
        self._clock = clock
        self._base = base_url.rstrip("/")
        self._network = network
        self._limiter = limiter if limiter is not None else RateLimiter(clock, CALLS_PER_MINUTE)
        self._requests = 0

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._requests

    async def ohlcv_page(
        self,
        pool: str,
        timeframe: Timeframe,
        *,
        before: int | None = None,
        limit: int = MAX_LIMIT,
        token: str | None = None,
    ) -> OhlcvPage:
        """Up to `limit` candles with open time before `before` (the newest when None)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be within 1..{MAX_LIMIT}, got {limit}")
        name, aggregate = gecko_timeframe(timeframe)
        url = f"{self._base}/networks/{self._network}/pools/{pool}/ohlcv/{name}"
        params: dict[str, str | int] = {"aggregate": aggregate, "limit": limit, "currency": "usd"}
        if before is not None:
            params["before_timestamp"] = int(before)
        if token:
            params["token"] = token
        response = await self._get(url, params, f"pool {pool}")
        try:
            payload = response.json()
        except ValueError:
            raise GeckoTerminalError(
                f"GeckoTerminal sent a non-JSON answer for pool {pool}"
            ) from None
        return _parse_page(payload, timeframe, pool, token)

    async def pages(
        self,
        pool: str,
        timeframe: Timeframe,
        start: int,
        end: int,
        *,
        token: str | None = None,
    ) -> AsyncIterator[tuple[OhlcvPage, int]]:
        """Walk `[start, end)` backwards, newest page first.

        Yields each page trimmed to the range, with the oldest time it reached. Stops at `start`,
        at an empty page (no earlier history) or when a page brings nothing older.
        """
        before = end
        while before > start:
            page = await self.ohlcv_page(pool, timeframe, before=before, token=token)
            candles = page.candles
            if len(candles) == 0:
                return
            oldest = int(candles.open_time[0])
            lo = int(np.searchsorted(candles.open_time, start, side="left"))
            hi = int(np.searchsorted(candles.open_time, before, side="left"))
            trimmed = OhlcvPage(candles[lo:hi], page.received, page.repaired, page.dropped)
            yield trimmed, max(start, min(oldest, before))
            if oldest >= before:
                return
            before = oldest

    async def _get(self, url: str, params: dict[str, str | int], what: str) -> httpx.Response:
        try:
            response = await send_with_retries(
                lambda: self._http.get(url, params=params, headers={"Accept": _ACCEPT}),
                clock=self._clock,
                limiter=self._limiter,
                policy=self._policy,
                on_send=self._count_request,
            )
        except RetriesExhaustedError as exc:
            raise GeckoTerminalError(
                f"GeckoTerminal failed {exc.attempts} times for {what}; last: {exc.problem}"
            ) from None
        if response.status_code != 200:
            raise GeckoTerminalError(
                f"GeckoTerminal answered HTTP {response.status_code} for {what}: "
                f"{_detail(response)}"
            )
        return response

    def _count_request(self) -> None:
        self._requests += 1


def _detail(response: httpx.Response) -> str:
    """GeckoTerminal's error title (`{"errors": [{"status", "title"}]}`) or the status text."""
    try:
        errors = response.json().get("errors")
        title = errors[0].get("title") if errors else None
    except (ValueError, AttributeError, IndexError, TypeError):
        title = None
    return str(title) if title else response.reason_phrase or "error"


def _parse_page(payload: Any, timeframe: Timeframe, pool: str, token: str | None) -> OhlcvPage:
    try:
        rows = payload["data"]["attributes"]["ohlcv_list"]
    except (KeyError, TypeError):
        raise GeckoTerminalError(
            f"unexpected GeckoTerminal answer for pool {pool}: no data.attributes.ohlcv_list"
        ) from None
    if not isinstance(rows, list):
        raise GeckoTerminalError(f"unexpected GeckoTerminal answer for pool {pool}: bad list")
    _check_pair(payload, pool, token)
    if not rows:
        return OhlcvPage(CandleSeries.empty(timeframe), 0, 0, 0)
    try:
        table = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise GeckoTerminalError(
            f"unexpected GeckoTerminal answer for pool {pool}: rows are not numbers"
        ) from None
    if table.ndim != 2 or table.shape[1] != 6:
        raise GeckoTerminalError(
            f"unexpected GeckoTerminal answer for pool {pool}: rows must have 6 values"
        )
    ts, o, h, low, c, v = table.T
    with np.errstate(invalid="ignore"):
        usable = (
            np.isfinite(table).all(axis=1)
            & (ts == np.floor(ts))
            & (ts % timeframe.seconds == 0)
            & (o > 0)
            & (h > 0)
            & (low > 0)
            & (c > 0)
            & (v >= 0)
        )
    ts, o, h, low, c, v = (col[usable] for col in (ts, o, h, low, c, v))
    top = np.maximum(o, c)
    bottom = np.minimum(o, c)
    repaired = int(np.count_nonzero((h < top) | (low > bottom)))
    h = np.maximum(h, top)
    low = np.minimum(low, bottom)
    times = ts.astype(np.int64)
    order = np.argsort(times, kind="stable")
    times = times[order]
    first = np.concatenate(([True], times[1:] != times[:-1]))
    pick = order[first]
    candles = CandleSeries(timeframe, times[first], o[pick], h[pick], low[pick], c[pick], v[pick])
    return OhlcvPage(candles, len(rows), repaired, int(len(rows) - np.count_nonzero(usable)))


def _check_pair(payload: Any, pool: str, token: str | None) -> None:
    """A pool that does not trade the token would silently give another token's prices."""
    if not token or not isinstance(payload, dict):
        return
    meta = payload.get("meta")
    if not isinstance(meta, dict):
        return
    addresses = [
        side.get("address")
        for side in (meta.get("base"), meta.get("quote"))
        if isinstance(side, dict) and side.get("address")
    ]
    if len(addresses) == 2 and token not in addresses:
        raise GeckoTerminalError(
            f"pool {pool} pairs {addresses[0]} with {addresses[1]}, not {token}: "
            "check the token's pool in the configuration"
        )


def missing_ranges(
    coverage: tuple[int, int, int] | None, start: int, end: int, timeframe: Timeframe
) -> list[tuple[int, int]]:
    """The `[lo, hi)` open-time ranges of `[start, end)` outside the stored span, newest first.

    Holes inside the stored span are not refetched: GeckoTerminal skips intervals without swaps,
    so most holes are real and asking again would only spend the rate limit.
    """
    if start >= end:
        return []
    if coverage is None:
        return [(start, end)]
    first, last, _ = coverage
    ranges = []
    after = last + timeframe.seconds
    if after < end:
        ranges.append((max(after, start), end))
    if start < first:
        ranges.append((start, min(first, end)))
    return [(lo, hi) for lo, hi in ranges if lo < hi]


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """Where a download stands: `covered` of `total` seconds of the missing span are done."""

    symbol: str
    timeframe: Timeframe
    requests: int
    candles: int
    covered: int
    total: int


@dataclass(frozen=True, slots=True)
class DownloadReport:
    """What a download did: the ranges it asked for, the calls it spent, the candles it brought
    (`added` counts open times the store did not hold) and the store's coverage afterwards."""

    symbol: str
    timeframe: Timeframe
    ranges: tuple[tuple[int, int], ...]
    requests: int
    fetched: int
    added: int
    repaired: int
    dropped: int
    coverage: tuple[int, int, int] | None


async def download(
    client: GeckoTerminalClient,
    store: CandleStore,
    token: TokenInfo,
    timeframe: Timeframe,
    start: int,
    end: int,
    *,
    on_progress: Callable[[DownloadProgress], None] | None = None,
) -> DownloadReport:
    """Bring the store's `token`/`timeframe` file up to `[start, end)`, fetching only what is
    missing before the first and after the last stored candle.

    Only closed candles are stored: `end` is capped at the start of the bucket the clock is in.
    When nothing is stored yet, or when extending history backwards from the first stored
    candle, every page is saved as it arrives, so an interrupted download resumes where it
    stopped; pages after the last stored candle are saved together once their range is complete,
    so an interruption never leaves a hole behind the newest data.
    """
    if not token.pool:
        raise UserError(f"{token.symbol} has no GeckoTerminal pool configured")
    end = min(end, timeframe.floor(int(client.clock.now())))
    start = timeframe.floor(start)
    coverage = store.coverage(token.symbol, timeframe)
    ranges = missing_ranges(coverage, start, end, timeframe)
    total = sum(hi - lo for lo, hi in ranges)
    requests_before = client.requests
    fetched = added = repaired = dropped = 0
    done = 0

    def report(covered: int) -> None:
        if on_progress is not None:
            on_progress(
                DownloadProgress(
                    token.symbol,
                    timeframe,
                    client.requests - requests_before,
                    fetched,
                    covered,
                    total,
                )
            )

    report(0)
    for lo, hi in ranges:
        save_each_page = coverage is None or hi == coverage[0]
        held: list[CandleSeries] = []
        async for page, reached in client.pages(
            token.pool, timeframe, lo, hi, token=token.mint or None
        ):
            fetched += len(page.candles)
            repaired += page.repaired
            dropped += page.dropped
            if save_each_page:
                added += store.merge(token.symbol, page.candles)
            else:
                held.append(page.candles)
            report(done + hi - reached)
        if held:
            added += store.merge(token.symbol, _concat(held[::-1], timeframe))
        done += hi - lo
        report(done)
    return DownloadReport(
        token.symbol,
        timeframe,
        tuple(ranges),
        client.requests - requests_before,
        fetched,
        added,
        repaired,
        dropped,
        store.coverage(token.symbol, timeframe),
    )


def _concat(parts: list[CandleSeries], timeframe: Timeframe) -> CandleSeries:
    return CandleSeries(
        timeframe,
        *(
            np.concatenate([getattr(part, name) for part in parts])
            for name in ("open_time", "open", "high", "low", "close", "volume")
        ),
    )
