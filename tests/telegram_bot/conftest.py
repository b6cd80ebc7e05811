"""The real python-telegram-bot `Application` against the local Bot API, with solbot's services
on a real database (both backends) and the in-process sim chain."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from solders.pubkey import Pubkey

from solbot.chain.litesvm import LiteSvmChain
from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS, Settings
from solbot.services.custody import CustodyService
from solbot.sim.network import SimNetwork
from solbot.store.db import Database
from solbot.telegram.bot import TelegramBot
from solbot.telegram.services import BotServices
from solbot.wallet.master import MasterKey

from .fake_bot_api import TOKEN, FakeBotApi, serve

ALICE, BOB, STRANGER, OPERATOR = 1001, 1002, 6666, 9999
START = 1_800_000_000.0
KEY = MasterKey.generate()


@dataclass
class World:
    api: FakeBotApi
    bot: TelegramBot
    services: BotServices
    network: SimNetwork
    clock: ManualClock  # trading
    wall: ManualClock  # security timers (the same clock unless a test splits them)

    def wallet_of(self, address: str) -> Pubkey:
        return Pubkey.from_string(address)

    def pass_time(self, seconds: float) -> None:
        """Move the (wall) clock on, and have the deletion queue look at once."""
        self.wall.advance(seconds)
        self.bot.commands.secrets.wake()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotApi]:
    for name in list(os.environ):  # python-telegram-bot's httpx must not use a proxy
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    with serve() as fake:
        yield fake


@asynccontextmanager
async def open_world(
    api: FakeBotApi, db_url: str, wall: ManualClock | None = None
) -> AsyncIterator[World]:
    """A running bot. `wall` apart from the trading clock plays an accelerated sim: trading
    time moves on its own while the security timers follow the wall."""
    clock = ManualClock(START)
    tokens = [t.to_domain() for t in DEFAULT_TOKENS]
    network = SimNetwork.create(
        tokens=tokens, clock=clock, seed=5, history_seconds=600, wallet_sol=1, wallet_usdc=0
    )
    settings = Settings(
        telegram_allowed_ids=[ALICE, BOB],
        telegram_operator_chat_id=OPERATOR,
        tokens=Settings().tokens,
    )
    db = Database(db_url)
    services = BotServices(
        settings=settings,
        db=db,
        clock=clock,
        custody=CustodyService(db, wall or clock, KEY),
        chain=LiteSvmChain(network.ledger, clock),
        wall=wall or clock,
    )
    bot = TelegramBot(services, token=TOKEN, api_url=api.base_url)
    # Tests move the clock by days; the daily summaries would interleave with the replies they
    # wait for. The summary tests call them directly or shorten this.
    bot.notifier.check_seconds = 10_000.0
    await bot.start()
    try:
        yield World(api, bot, services, network, clock, wall or clock)
    finally:
        await bot.stop()
        await db.dispose()


@pytest.fixture
async def world(api: FakeBotApi, db_url: str) -> AsyncIterator[World]:
    """The bot with one manual clock for trading and for the wall."""
    async with open_world(api, db_url) as opened:
        yield opened
