"""The bot's side of a served sim (`solbot sim serve`): its clock and its candles over HTTP,
next to the Jupiter API the sim serves."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from solbot.clock import ScaledClock
from solbot.domain import Candle, CandleSeries, Timeframe
from solbot.errors import UserError
from solbot.market.store import CandleStore

SIM_CLOCK_PATH = "/sim/clock"  # served by `solbot sim serve` next to the Jupiter API
SIM_CANDLES_PATH = "/sim/candles"
SIM_FUND_PATH = "/sim/fund"  # POST {address, token, amount}: the faucet (`solbot sim fund`)


async def remote_sim_clock(http: httpx.AsyncClient, base_url: str) -> ScaledClock:
    """The clock of a `solbot sim serve`, continued locally.

    The sim runs `speed` times faster than the wall from a simulated start; the bot must live on
    that time, not its own, or its candles would take real minutes while the chain's blockhashes
    and the maker's quotes expire in simulated seconds. One request gives the sim's now and
    speed; half the round trip is added for the answer's flight. Both sides then advance with
    their monotonic clocks at the same rate, so they stay together to within that half trip.
    """
    began = time.monotonic()
    body = await _sim_get(http, base_url, SIM_CLOCK_PATH, {})
    half_trip = (time.monotonic() - began) / 2
    try:
        now, speed = float(body["now"]), float(body["speed"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{base_url}{SIM_CLOCK_PATH}: unexpected answer {body!r:.200}") from None
    return ScaledClock(now + half_trip * speed, speed)


async def backfill_from_sim(
    http: httpx.AsyncClient,
    base_url: str,
    store: CandleStore,
    symbols: Sequence[str],
    timeframe: Timeframe,
    bars: int,
    now: float,
) -> None:
    """Store the `bars` closed candles before `now` for each symbol from a remote sim, unless
    the store already covers them: the remote counterpart of `SimNetwork.write_history` (the
    server builds them with it), what a mainnet bot gets from `solbot data download`."""
    end = timeframe.floor(int(now))
    start = end - bars * timeframe.seconds
    for symbol in symbols:
        cover = store.coverage(symbol, timeframe)
        if cover is not None and cover[0] <= start and cover[1] >= end - timeframe.seconds:
            continue
        query = {"symbol": symbol, "timeframe": timeframe.value, "start": start, "end": end}
        body = await _sim_get(http, base_url, SIM_CANDLES_PATH, query)
        try:
            candles = [
                Candle(int(row[0]), *(float(x) for x in row[1:6]), timeframe)
                for row in body["candles"]
            ]
        except (KeyError, TypeError, ValueError, IndexError):
            raise UserError(
                f"{base_url}{SIM_CANDLES_PATH}: unexpected answer for {symbol}"
            ) from None
        store.merge(symbol, CandleSeries.from_candles(candles, timeframe))


async def _sim_get(
    http: httpx.AsyncClient, base_url: str, path: str, params: dict[str, Any]
) -> Any:
    url = f"{base_url.rstrip('/')}{path}"
    try:
        response = await http.get(url, params=params)
    except httpx.HTTPError as exc:
        raise UserError(
            f"cannot reach the sim at {url} ({type(exc).__name__}): is `solbot sim serve` running?"
        ) from None
    if response.status_code == 404:
        raise UserError(
            f"{url} answered 404: SOLBOT_JUPITER_URL must be the Jupiter URL that "
            "`solbot sim serve` prints"
        )
    if response.status_code != 200:
        raise UserError(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")
    return response.json()
