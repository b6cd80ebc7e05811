"""A dashboard over a test database (SQLite and PostgreSQL): two friends, alice and bob, with
trades, a position and an equity curve; an operator token; clients that sign in as each of
them. Requests go through httpx to the ASGI app, as a browser's would (cookies included: the
base URL is https, so the Secure cookies come back)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from booking import book_trade
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.services.custody import CustodyService
from solbot.store.balances import Equity
from solbot.store.db import Database
from solbot.store.positions import Positions
from solbot.store.tables import UserRow
from solbot.store.users import Users
from solbot.wallet.master import MasterKey
from solbot.web.app import create_app
from solbot.web.auth import CSRF_COOKIE
from solbot.web.services import WebServices

START = 1_800_000_000.0
KEY = MasterKey.generate()
BASE = "https://testserver"
TELEGRAM_IDS = (1001, 1002)  # alice's and bob's Telegram accounts


@dataclass
class Site:
    db: Database
    services: WebServices
    clock: ManualClock
    wall: ManualClock
    users: dict[str, UserRow]
    operator_token: str
    secret_keys: dict[str, str]  # what /export would show (base58): never in an answer
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, **headers: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(self.services), client=("127.0.0.1", 5000))
        client = httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers)
        self.clients.append(client)
        return client

    def bearer(self, token: str | None = None) -> httpx.AsyncClient:
        return self.client(Authorization=f"Bearer {token or self.operator_token}")

    async def signed_in(self, username: str | None = None) -> httpx.AsyncClient:
        """A browser signed in as `username` (a one-time link) or as the operator (its token),
        sending the CSRF header its page would."""
        if username is None:
            secret = self.operator_token
        else:
            secret = await self.services.credentials.create_link(self.users[username].id)
        client = self.client()
        answer = await client.post("/api/v1/session", json={"secret": secret})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = client.cookies[CSRF_COOKIE]
        return client


async def seed(db: Database, clock: ManualClock, user: UserRow, trades: int) -> None:
    for n in range(trades):
        pnl = "1.5" if n % 3 else "-2.25"
        await book_trade(
            db, user.id, pnl, START - 3600 * (trades - n), token="JUP" if n % 2 else "BONK"
        )
    async with db.session() as s:
        await Positions(s, clock).open(
            user_id=user.id,
            token="JUP",
            mint="JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN",
            quantity=12_345_678,
            cost=6_000_000,
            entry_price=Decimal("0.486"),
            stop_loss=Decimal("0.45"),
            take_profit=Decimal("0.6"),
        )
        await Equity(s, clock).record(int(START - 7200), {user.id: Decimal("1000.5")})
        await Equity(s, clock).record(int(START - 3600), {user.id: Decimal("1012.25")})


async def make_site(db_url: str, data_dir: Path, **settings: object) -> Site:
    db = Database(db_url)
    clock, wall = ManualClock(START), ManualClock(START)
    custody = CustodyService(db, clock, KEY)
    users, keys = {}, {}
    for n, name in enumerate(("alice", "bob")):
        users[name], keys[name] = await custody.create_user(
            name, actor="test", telegram_id=TELEGRAM_IDS[n]
        )
    await seed(db, clock, users["alice"], 6)
    await seed(db, clock, users["bob"], 2)
    async with db.session() as s:  # what the loop marked last: alice's wallet, bob's not yet
        await Users(s, clock).set_portfolio_values(
            {users["alice"].id: Decimal("1012.25")}, {users["alice"].id: (1_006_250_000, START)}
        )
    services = WebServices(Settings(data_dir=data_dir, **settings), custody, clock, wall=wall)
    _row, token = await services.credentials.create_token("laptop", actor="cli")
    return Site(db, services, clock, wall, users, token, {n: k.reveal() for n, k in keys.items()})


@asynccontextmanager
async def site_of(db_url: str, data_dir: Path, **settings: object) -> AsyncIterator[Site]:
    """A site for the length of a block (its clients closed and its database let go after)."""
    made = await make_site(db_url, data_dir, **settings)
    try:
        yield made
    finally:
        for client in made.clients:
            await client.aclose()
        await made.db.dispose()


@pytest.fixture
async def site(db_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    async with site_of(db_url, tmp_path / "data") as made:
        yield made


def seed_candles(site: Site, hours: int = 48) -> None:
    """`hours` hourly JUP candles up to START, where the loop writes them in this world."""
    import numpy as np

    from solbot.domain import CandleSeries
    from solbot.market.store import CandleStore

    cfg = site.services.settings
    step = cfg.timeframe.seconds
    first = int(START) // step * step - hours * step
    times = np.arange(first, first + hours * step, step, dtype=np.int64)
    closes = np.linspace(0.40, 0.52, len(times))
    series = CandleSeries(
        cfg.timeframe, times, closes, closes + 0.01, closes - 0.01, closes, closes
    )
    CandleStore(cfg.built_candles_dir()).save("JUP", series)
