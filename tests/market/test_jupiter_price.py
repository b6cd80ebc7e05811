"""The Jupiter Price API v3 feed against the fake Jupiter, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from execution.fake_jupiter import (
    JUP_MINT,
    SOL_MINT,
    USDC_MINT,
    FakeJupiter,
    Scripted,
    serve,
)
from solbot.clock import ManualClock
from solbot.execution.jupiter import BadResponseError, JupiterClient, VenueServerError
from solbot.market.feeds.jupiter_price import MAX_IDS_PER_CALL, JupiterPriceFeed

T0 = 1_750_000_000.0
API_KEY = "price-test-key"
# Prices as the server writes them, with more digits than a float holds.
SOL_PRICE = Decimal("147.48425976849282163")
JUP_PRICE = Decimal("0.00000412345678901234567")


@pytest.fixture
def fake() -> Iterator[FakeJupiter]:
    with serve() as server:
        server.prices = {
            SOL_MINT: {
                "usdPrice": SOL_PRICE,
                "blockId": 348_004_023,
                "decimals": 9,
                "priceChange24h": Decimal("1.2971"),
            },
            JUP_MINT: {
                "usdPrice": JUP_PRICE,
                "blockId": 348_004_020,
                "decimals": 6,
                "priceChange24h": None,
            },
        }
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def client(fake: FakeJupiter, http: httpx.AsyncClient, clock: ManualClock) -> JupiterClient:
    return JupiterClient(http, clock, base_url=fake.base_url, api_key=API_KEY)


@pytest.fixture
def feed(client: JupiterClient) -> JupiterPriceFeed:
    return JupiterPriceFeed(client)


async def test_prices_are_exact_decimals_and_a_missing_mint_is_absent(
    feed: JupiterPriceFeed, fake: FakeJupiter
) -> None:
    snapshot = await feed.snapshot([SOL_MINT, USDC_MINT, Pubkey.from_string(JUP_MINT)])
    (seen,) = fake.requests
    assert (seen.method, seen.path) == ("GET", "/price/v3")
    assert seen.params == {"ids": f"{SOL_MINT},{USDC_MINT},{JUP_MINT}"}
    assert seen.headers["x-api-key"] == API_KEY
    assert snapshot.usd() == {SOL_MINT: SOL_PRICE, JUP_MINT: JUP_PRICE}
    assert USDC_MINT not in snapshot.prices  # never a zero price
    assert snapshot.missing == (USDC_MINT,)
    sol = snapshot.prices[SOL_MINT]
    assert (sol.block_id, sol.decimals, sol.price_change_24h) == (348_004_023, 9, Decimal("1.2971"))
    assert sol.observed_at == T0
    assert snapshot.prices[JUP_MINT].price_change_24h is None


async def test_prices_shortcut(feed: JupiterPriceFeed) -> None:
    assert await feed.prices([USDC_MINT]) == {}
    assert await feed.prices([SOL_MINT, SOL_MINT]) == {SOL_MINT: SOL_PRICE}


async def test_more_than_fifty_mints_take_two_calls(
    feed: JupiterPriceFeed, fake: FakeJupiter, sent: list[float]
) -> None:
    mints = [str(Keypair.from_seed(bytes([i]) * 32).pubkey()) for i in range(1, 71)]
    for rank, mint in enumerate(mints, start=1):
        fake.prices[mint] = {"usdPrice": Decimal(rank), "blockId": 1, "decimals": 6}
    snapshot = await feed.snapshot([*mints, SOL_MINT, *mints[:5]])  # duplicates asked once
    calls = [seen.params["ids"].split(",") for seen in fake.requests]
    assert [len(ids) for ids in calls] == [MAX_IDS_PER_CALL, 21]
    assert list(itertools.chain(*calls)) == [*mints, SOL_MINT]
    assert len(snapshot.prices) == 71
    assert snapshot.prices[mints[69]].usd_price == Decimal(70)
    assert sent == [T0, T0 + 1.0]  # paced by the client's limiter (free tier: 1 request/s)
    assert snapshot.prices[mints[0]].observed_at == T0
    assert snapshot.prices[SOL_MINT].observed_at == T0 + 1.0


async def test_zero_negative_and_null_prices_are_absent(
    feed: JupiterPriceFeed, fake: FakeJupiter
) -> None:
    zero, negative, null = (str(Keypair.from_seed(bytes([i]) * 32).pubkey()) for i in (80, 81, 82))
    fake.prices.update(
        {
            zero: {"usdPrice": 0, "decimals": 6},
            negative: {"usdPrice": Decimal("-1.5"), "decimals": 6},
            null: None,  # type: ignore[dict-item]
        }
    )
    snapshot = await feed.snapshot([zero, negative, null, SOL_MINT])
    assert snapshot.usd() == {SOL_MINT: SOL_PRICE}
    assert snapshot.missing == (zero, negative, null)


async def test_fresh_drops_old_prices_and_old_blocks(
    feed: JupiterPriceFeed, clock: ManualClock
) -> None:
    snapshot = await feed.snapshot([SOL_MINT, JUP_MINT])
    assert snapshot.fresh(T0 + 30, max_age=30) == {SOL_MINT: SOL_PRICE, JUP_MINT: JUP_PRICE}
    assert snapshot.fresh(T0 + 31, max_age=30) == {}
    assert snapshot.fresh(T0, max_age=30, min_block_id=348_004_021) == {SOL_MINT: SOL_PRICE}


async def test_an_unexpected_shape_is_a_bad_response(
    feed: JupiterPriceFeed, fake: FakeJupiter
) -> None:
    wrapped = {"data": {SOL_MINT: {"usdPrice": SOL_PRICE}}, "timeTaken": Decimal("0.003")}
    fake.script("/price/v3", Scripted(200, {}, wrapped), Scripted(200, {}, [1, 2]))
    with pytest.raises(BadResponseError, match="keys not asked for: data, timeTaken"):
        await feed.prices([SOL_MINT])  # the Price v2 shape: never read as "no prices"
    with pytest.raises(BadResponseError, match="not a JSON object"):
        await feed.prices([SOL_MINT])
    fake.script("/price/v3", Scripted(200, {}, {SOL_MINT: {"decimals": 9}}))
    with pytest.raises(BadResponseError, match="has no usdPrice"):
        await feed.prices([SOL_MINT])
    fake.script("/price/v3", Scripted(200, {}, b"<html>busy</html>"))
    with pytest.raises(BadResponseError, match="non-JSON"):
        await feed.prices([SOL_MINT])


async def test_server_errors_are_retried_then_reported(
    feed: JupiterPriceFeed, fake: FakeJupiter
) -> None:
    fake.script("/price/v3", Scripted(500), Scripted(429, {"Retry-After": "3"}))
    assert await feed.prices([SOL_MINT]) == {SOL_MINT: SOL_PRICE}
    fake.script("/price/v3", *[Scripted(502)] * 4)
    with pytest.raises(VenueServerError, match=r"failed prices of 1 token\(s\) 4 times"):
        await feed.prices([SOL_MINT])


async def test_a_bad_mint_never_reaches_the_network(
    feed: JupiterPriceFeed, fake: FakeJupiter
) -> None:
    with pytest.raises(ValueError, match="not a Solana mint"):
        await feed.prices([f"{SOL_MINT},{USDC_MINT}"])
    assert fake.requests == []


async def test_no_mints_no_call(feed: JupiterPriceFeed, fake: FakeJupiter) -> None:
    snapshot = await feed.snapshot([])
    assert snapshot.usd() == {}
    assert fake.requests == []
