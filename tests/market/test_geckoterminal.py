"""The GeckoTerminal client and downloader against a local fake server, over real HTTP."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from fake_gecko import FakeGecko, Scripted
from series_asserts import assert_same

from solbot.clock import ManualClock
from solbot.domain import CandleSeries, Timeframe, TokenInfo
from solbot.errors import UserError
from solbot.market.geckoterminal import (
    MAX_LIMIT,
    DownloadProgress,
    GeckoTerminalClient,
    GeckoTerminalError,
    download,
    gecko_timeframe,
    missing_ranges,
)
from solbot.market.store import CandleStore
from solbot.market.synth import synth_candles

H = 3600
T0 = 1_704_067_200  # 2024-01-01T00:00:00Z
BARS = 3_000  # server history: T0 .. T0 + 2999h; the last one is still forming at NOW
NOW = T0 + (BARS - 1) * H + 1_800
POOL = "58oQChx4yWmvKdwLLZzBi4ChoCc2fqCUWBkwMihLYQo2"
SOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
SOL = TokenInfo("SOL", SOL_MINT, 9, POOL)
HISTORY = synth_candles(Timeframe.H1, BARS, seed=99, start_price=150.0, start_time=T0)


@pytest.fixture
def server(gecko: FakeGecko) -> FakeGecko:
    gecko.add_pool(POOL, SOL_MINT, USDC_MINT, HISTORY)
    return gecko


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def sent() -> list[float]:
    """Clock time at which each request left the client."""
    return []


@pytest.fixture
async def client(
    server: FakeGecko, clock: ManualClock, sent: list[float]
) -> AsyncIterator[GeckoTerminalClient]:
    async def stamp(request: httpx.Request) -> None:
        assert request.url.host == "127.0.0.1"
        sent.append(clock.now())

    async with httpx.AsyncClient(trust_env=False, event_hooks={"request": [stamp]}) as http:
        yield GeckoTerminalClient(http, clock, base_url=server.base_url, max_attempts=4)


def test_timeframes_map_to_documented_aggregates() -> None:
    valid = {"minute": {1, 5, 15}, "hour": {1, 4, 12}, "day": {1}}
    for timeframe in Timeframe:
        name, aggregate = gecko_timeframe(timeframe)
        assert aggregate in valid[name]
        unit = {"minute": 60, "hour": 3600, "day": 86400}[name]
        assert unit * aggregate == timeframe.seconds


async def test_one_page_sends_the_real_query_and_returns_oldest_first(
    client: GeckoTerminalClient, server: FakeGecko
) -> None:
    page = await client.ohlcv_page(POOL, Timeframe.H1, before=T0 + 2000 * H, token=SOL_MINT)
    assert_same(page.candles, HISTORY[1000:2000])
    (request,) = server.requests
    assert request["path"] == f"/api/v2/networks/solana/pools/{POOL}/ohlcv/hour"
    assert request["params"] == {
        "aggregate": "1",
        "limit": str(MAX_LIMIT),
        "currency": "usd",
        "before_timestamp": str(T0 + 2000 * H),
        "token": SOL_MINT,
    }
    assert request["headers"]["Accept"] == "application/json;version=20230302"


async def test_minute_aggregates_reach_the_right_path(
    client: GeckoTerminalClient, server: FakeGecko
) -> None:
    five = synth_candles(Timeframe.M15, 10, seed=1, start_time=T0)
    server.add_pool(POOL, SOL_MINT, USDC_MINT, five)
    page = await client.ohlcv_page(POOL, Timeframe.M15)
    assert_same(page.candles, five)
    assert server.requests[0]["path"].endswith("/ohlcv/minute")
    assert server.requests[0]["params"]["aggregate"] == "15"


async def test_rate_limiter_spaces_calls_two_seconds_apart(
    client: GeckoTerminalClient, sent: list[float], clock: ManualClock
) -> None:
    for _ in range(4):
        await client.ohlcv_page(POOL, Timeframe.H1, limit=5)
    assert sent == [NOW, NOW + 2.0, NOW + 4.0, NOW + 6.0]
    clock.advance(10.0)  # idle time is not banked into a burst beyond the spacing
    await client.ohlcv_page(POOL, Timeframe.H1, limit=5)
    await client.ohlcv_page(POOL, Timeframe.H1, limit=5)
    assert sent[-1] - sent[-2] == 2.0


async def test_429_is_retried_after_retry_after(
    client: GeckoTerminalClient, server: FakeGecko, sent: list[float]
) -> None:
    server.script.append(Scripted(429, {"Retry-After": "7"}, {"status": {"error_code": 429}}))
    page = await client.ohlcv_page(POOL, Timeframe.H1, limit=3)
    assert len(page.candles) == 3
    assert len(server.requests) == 2
    assert sent[1] - sent[0] == 7.0


async def test_429_with_http_date_retry_after(
    client: GeckoTerminalClient, server: FakeGecko, sent: list[float]
) -> None:
    server.script.append(Scripted(429, {"Retry-After": formatdate(NOW + 30, usegmt=True)}))
    await client.ohlcv_page(POOL, Timeframe.H1, limit=3)
    assert sent[1] - sent[0] == 30.0


async def test_5xx_and_dropped_connections_back_off_exponentially(
    client: GeckoTerminalClient, server: FakeGecko, sent: list[float]
) -> None:
    server.script.extend([Scripted(500), Scripted(0), Scripted(503, {}, "x")])
    page = await client.ohlcv_page(POOL, Timeframe.H1, limit=3)
    assert len(page.candles) == 3
    assert [b - a for a, b in itertools.pairwise(sent)] == [2.0, 4.0, 8.0]
    assert client.requests == 4


async def test_persistent_failure_ends_in_a_clear_error(
    client: GeckoTerminalClient, server: FakeGecko
) -> None:
    server.script.extend([Scripted(500)] * 4)
    with pytest.raises(GeckoTerminalError, match=r"failed 4 times for pool .*HTTP 500"):
        await client.ohlcv_page(POOL, Timeframe.H1)
    assert len(server.requests) == 4


async def test_client_errors_are_not_retried(
    client: GeckoTerminalClient, server: FakeGecko
) -> None:
    with pytest.raises(GeckoTerminalError, match="HTTP 404 for pool NoSuchPool: Not Found"):
        await client.ohlcv_page("NoSuchPool", Timeframe.H1)
    assert len(server.requests) == 1


async def test_pool_that_does_not_trade_the_token_is_refused(
    client: GeckoTerminalClient,
) -> None:
    with pytest.raises(GeckoTerminalError, match="check the token's pool"):
        await client.ohlcv_page(
            POOL, Timeframe.H1, token="JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"
        )


async def test_bad_rows_are_repaired_or_dropped(
    client: GeckoTerminalClient, server: FakeGecko
) -> None:
    server.add_pool(POOL, SOL_MINT, USDC_MINT, CandleSeries.empty(Timeframe.H1))
    server.extra_rows = [
        [T0 + 2 * H, 10.0, 10.5, 9.0, 11.0, 5.0],  # high below close: widened
        [T0 + H, -1.0, 1.0, 1.0, 1.0, 1.0],  # negative price: dropped
        [T0 + 90, 1.0, 1.0, 1.0, 1.0, 1.0],  # off the hourly grid: dropped
        [T0, 1.0, 1.2, 0.9, 1.1, 2.0],
    ]
    page = await client.ohlcv_page(POOL, Timeframe.H1)
    assert (page.received, page.repaired, page.dropped) == (4, 1, 2)
    assert list(page.candles.open_time) == [T0, T0 + 2 * H]
    assert page.candles.high[1] == 11.0


async def test_malformed_answer_is_a_clear_error(
    client: GeckoTerminalClient, server: FakeGecko
) -> None:
    server.script.append(Scripted(200, {}, {"data": {"attributes": {}}}))
    with pytest.raises(GeckoTerminalError, match=r"no data\.attributes\.ohlcv_list"):
        await client.ohlcv_page(POOL, Timeframe.H1)


def test_missing_ranges() -> None:
    tf = Timeframe.H1
    assert missing_ranges(None, 0, 10 * H, tf) == [(0, 10 * H)]
    assert missing_ranges((3 * H, 6 * H, 4), 0, 10 * H, tf) == [(7 * H, 10 * H), (0, 3 * H)]
    assert missing_ranges((0, 9 * H, 10), 0, 10 * H, tf) == []
    assert missing_ranges((0, 9 * H, 10), 2 * H, 5 * H, tf) == []
    assert missing_ranges((5 * H, 9 * H, 5), 0, 3 * H, tf) == [(0, 3 * H)]
    assert missing_ranges(None, 5, 5, tf) == []


async def test_download_pages_backwards_and_stores_closed_candles(
    client: GeckoTerminalClient, server: FakeGecko, tmp_path: Path
) -> None:
    store = CandleStore(tmp_path)
    start = T0 + 100 * H
    report = await download(client, store, SOL, Timeframe.H1, start, NOW + 10 * H)
    # The last server bar (open at NOW - 30 min) is still forming and must not be stored.
    assert_same(store.load("SOL", Timeframe.H1), HISTORY[100 : BARS - 1])
    assert server.befores() == [T0 + 2999 * H, T0 + 1999 * H, T0 + 999 * H]
    assert report.requests == 3
    assert report.added == BARS - 1 - 100
    assert report.coverage == (start, T0 + 2998 * H, BARS - 1 - 100)


async def test_second_download_fetches_only_what_is_missing(
    client: GeckoTerminalClient, server: FakeGecko, clock: ManualClock, tmp_path: Path
) -> None:
    store = CandleStore(tmp_path)
    await download(client, store, SOL, Timeframe.H1, T0 + 1500 * H, T0 + 2500 * H)
    assert len(server.requests) == 1

    again = await download(client, store, SOL, Timeframe.H1, T0 + 1500 * H, T0 + 2500 * H)
    assert again.requests == 0
    assert len(server.requests) == 1

    # Time passes: the new hours after the last stored bar, and older history before the first.
    clock.advance(5 * H)
    more = await download(client, store, SOL, Timeframe.H1, T0 + 800 * H, int(clock.now()))
    # The bar that was forming at the first download (open at T0 + 2999 h) has closed since.
    assert more.ranges == ((T0 + 2500 * H, T0 + 3004 * H), (T0 + 800 * H, T0 + 1500 * H))
    assert server.befores()[1:] == [T0 + 3004 * H, T0 + 1500 * H]
    assert more.requests == 2
    assert more.added == 500 + 700
    assert_same(store.load("SOL", Timeframe.H1), HISTORY[800:3000])


async def test_progress_reports_cover_the_whole_span(
    client: GeckoTerminalClient, tmp_path: Path
) -> None:
    seen: list[DownloadProgress] = []
    await download(
        client, CandleStore(tmp_path), SOL, Timeframe.H1, T0, NOW, on_progress=seen.append
    )
    total = T0 + 2999 * H - T0
    assert seen[0].covered == 0
    assert seen[-1].covered == seen[-1].total == total
    assert [p.requests for p in seen] == [0, 1, 2, 3, 3]
    assert [p.candles for p in seen] == [0, 1000, 2000, 2999, 2999]
    covered = [p.covered for p in seen]
    assert covered == sorted(covered)


async def test_inclusive_before_edge_still_yields_each_candle_once(
    client: GeckoTerminalClient, server: FakeGecko, tmp_path: Path
) -> None:
    server.inclusive_before = True
    store = CandleStore(tmp_path)
    await download(client, store, SOL, Timeframe.H1, T0 + 10 * H, NOW)
    assert_same(store.load("SOL", Timeframe.H1), HISTORY[10 : BARS - 1])


async def test_history_that_starts_later_stops_at_an_empty_page(
    client: GeckoTerminalClient, server: FakeGecko, tmp_path: Path
) -> None:
    server.add_pool(POOL, SOL_MINT, USDC_MINT, HISTORY[2500:])
    store = CandleStore(tmp_path)
    report = await download(client, store, SOL, Timeframe.H1, T0, NOW)
    # The API answers an empty list when there is nothing earlier; a short page alone proves
    # nothing (paid plans cap a call at six months), so it takes one more call to know.
    assert server.befores() == [T0 + 2999 * H, T0 + 2500 * H]
    assert report.requests == 2
    assert report.coverage == (T0 + 2500 * H, T0 + 2998 * H, 499)


async def test_interrupted_download_resumes_without_holes(
    client: GeckoTerminalClient, server: FakeGecko, tmp_path: Path
) -> None:
    store = CandleStore(tmp_path)
    # The first page arrives, then the server keeps failing: the first page must be kept.
    original = server.answer
    calls = 0

    def flaky(path: str, query: str, headers: dict[str, str]) -> Scripted:
        nonlocal calls
        calls += 1
        if calls > 1:
            return Scripted(500)
        return original(path, query, headers)

    server.answer = flaky  # type: ignore[method-assign]
    with pytest.raises(GeckoTerminalError):
        await download(client, store, SOL, Timeframe.H1, T0, NOW)
    assert store.coverage("SOL", Timeframe.H1) == (T0 + 1999 * H, T0 + 2998 * H, 1000)

    server.answer = original  # type: ignore[method-assign]
    server.requests.clear()
    await download(client, store, SOL, Timeframe.H1, T0, NOW)
    assert server.befores() == [T0 + 1999 * H, T0 + 999 * H]
    assert_same(store.load("SOL", Timeframe.H1), HISTORY[: BARS - 1])


async def test_token_without_pool_is_refused(client: GeckoTerminalClient, tmp_path: Path) -> None:
    usdc = TokenInfo("USDC", USDC_MINT, 6, "")
    with pytest.raises(UserError, match="no GeckoTerminal pool"):
        await download(client, CandleStore(tmp_path), usdc, Timeframe.H1, T0, NOW)
