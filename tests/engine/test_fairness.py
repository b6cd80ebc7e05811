"""Fairness under a venue rate limit: every user's venue calls share one limiter, and the user
served first rotates from one signal to the next, so nobody is always last."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import httpx
import numpy as np
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select, update

from solbot.chain.litesvm import LiteSvmChain
from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.domain import CandleSeries, ExitRules, RiskLimits, Signals, Timeframe
from solbot.engine import Account, Engine
from solbot.execution.executor import Executor
from solbot.execution.jupiter import JupiterClient
from solbot.market.feeds.jupiter_price import JupiterPriceFeed
from solbot.risk import RiskGate
from solbot.sim.network import LAMPORTS_PER_SOL, SimNetwork
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.tables import PositionRow
from solbot.store.users import Users
from solbot.strategy.base import Strategy, StrategyParams
from solbot.wallet.keys import SigningKey

START = 1_800_000_000.0
TF = Timeframe.M1
USERS = 4
RATE = 2.0  # venue requests per second, for all users together


class EnterOnEveryBar(Strategy):
    name: ClassVar[str] = "enter_on_every_bar"
    Params = StrategyParams

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, series: CandleSeries) -> Signals:
        n = len(series)
        return Signals(
            np.ones(n, dtype=bool), np.zeros(n, dtype=bool), np.full(n, 0.5), np.full(n, np.nan)
        )


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
    tokens = [t.to_domain() for t in DEFAULT_TOKENS]
    clock = ManualClock(START)
    network = SimNetwork.create(
        tokens=tokens, clock=clock, seed=5, history_seconds=600, wallet_sol=1, wallet_usdc=0
    )
    usdc = Pubkey.from_string(network.token("USDC").mint)
    url = f"sqlite:///{tmp_path / 'fair.db'}"
    await schema.prepare(url)
    db = Database(url)
    accounts, wallets = [], []
    limits = RiskLimits(position_size_pct=1.0, max_position_pct=1.0, max_open_positions=50)
    for n in range(USERS):
        key = Keypair()
        network.ledger.airdrop(key.pubkey(), LAMPORTS_PER_SOL)
        network.ledger.set_token_balance(key.pubkey(), usdc, 10_000 * 10**6)
        async with db.session() as s:
            await Users(s, clock).ensure_external(f"u{n}", f"user_{n}", str(key.pubkey()))
        accounts.append(
            Account(
                f"u{n}", SigningKey(key), RiskGate(limits, 10_000.0, START), username=f"user_{n}"
            )
        )
        wallets.append(str(key.pubkey()))
    recorder = Recorder(httpx.ASGITransport(app=network.jupiter_app()), clock)
    http = httpx.AsyncClient(transport=recorder, base_url="http://sim")
    jupiter = JupiterClient(http, clock, base_url="http://sim", requests_per_second=RATE)
    chain = LiteSvmChain(network.ledger, clock)
    engine = Engine(
        tokens=[network.token("JUP")],
        quote=network.token("USDC"),
        strategy=EnterOnEveryBar(),
        feed=JupiterPriceFeed(jupiter),
        executor=Executor(db, jupiter, chain, clock, decimals={t.mint: t.decimals for t in tokens}),
        chain=chain,
        db=db,
        clock=clock,
        exits=ExitRules(stop_loss_pct=50.0),
        timeframe=TF,
        accounts=accounts,
        max_price_age=3600.0,
    )
    await engine.start()
    yield engine, recorder, wallets, clock
    await http.aclose()
    await db.dispose()


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


async def test_a_requested_exit_sells_at_the_next_tick(world) -> None:
    """A user's `/close`: the loop itself sells, at its next tick, with the reason 'manual'."""
    engine, _recorder, _wallets, clock = world
    await engine.tick()
    clock.advance(TF.seconds)
    await engine.tick()  # every user enters
    engine.request_exit("u0", "JUP")
    clock.advance(1.0)
    await engine.tick()  # within the same candle: no signal, only the request
    async with engine.db.session() as s:
        rows = {(p.user_id, p.status, p.exit_reason) for p in await s.scalars(select(PositionRow))}
    assert ("u0", "closed", "manual") in rows
    assert ("u1", "open", None) in rows
