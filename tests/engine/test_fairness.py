"""Fairness under a venue rate limit: every user's venue calls share one limiter, and the user
served first rotates from one signal to the next, so nobody is always last."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import update

from solbot.clock import ManualClock
from solbot.domain import RiskLimits
from solbot.engine import Engine
from solbot.sim.network import SimNetwork
from solbot.store.tables import PositionRow

from .small_world import TF, small_world

USERS = 4
RATE = 2.0  # venue requests per second, for all users together


class Recorder(httpx.AsyncBaseTransport):
    """The sim's Jupiter app, noting who asked for an order and when (on the bot's clock)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: ManualClock) -> None:
        self.inner = inner
        self.clock = clock
        self.orders: list[tuple[float, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/swap/v2/order":
            self.orders.append((self.clock.now(), request.url.params["taker"]))
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Engine, Recorder, list[str], ManualClock]]:
    seen: list[tuple[Recorder, httpx.AsyncClient]] = []

    def venue(network: SimNetwork, clock: ManualClock) -> httpx.AsyncClient:
        recorder = Recorder(httpx.ASGITransport(app=network.jupiter_app()), clock)
        http = httpx.AsyncClient(transport=recorder, base_url="http://sim")
        seen.append((recorder, http))
        return http

    built = await small_world(
        tmp_path,
        users=USERS,
        limits=RiskLimits(position_size_pct=1.0, max_position_pct=1.0, max_open_positions=50),
        symbols=("JUP",),
        venue=venue,
        requests_per_second=RATE,
    )
    recorder, http = seen[0]
    yield built.engine, recorder, built.wallets, built.clock
    await http.aclose()
    await built.db.dispose()


async def test_users_share_one_limiter_and_take_turns_at_being_first(world) -> None:
    engine, recorder, wallets, clock = world
    await engine.tick()  # opens the first candle
    firsts: list[str] = []
    for _ in range(USERS):
        clock.advance(TF.seconds)
        before = len(recorder.orders)
        await engine.tick()  # a candle closes: every user gets the entry signal
        this_round = recorder.orders[before:]
        assert sorted(taker for _, taker in this_round) == sorted(wallets)
        firsts.append(this_round[0][1])
        await _forget_positions(engine)  # so that the next signal is an entry for everyone

    assert sorted(firsts) == sorted(wallets)  # each user was served first exactly once
    times = [t for t, _ in recorder.orders]
    gaps = np.diff(times)
    assert min(gaps) >= 1.0 / RATE - 1e-9  # one budget for everyone, spaced evenly


async def _forget_positions(engine: Engine) -> None:
    """Mark every position closed in the books (one open position per token and user would
    otherwise block the next entry); the test looks at who is served, not at the books."""
    async with engine.db.session() as s:
        await s.execute(update(PositionRow).values(status="closed"))
