"""A small trading world for engine tests: the embedded sim, funded external users, an engine
with a strategy that wants to enter on every bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import ClassVar

import numpy as np
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from solbot.accounts import Account
from solbot.chain.litesvm import LiteSvmChain
from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.domain import CandleSeries, ExitRules, RiskLimits, Signals, Timeframe
from solbot.engine import Engine
from solbot.events import Event
from solbot.execution.executor import Executor
from solbot.execution.jupiter import DEFAULT_REQUESTS_PER_SECOND, HttpRequester, JupiterClient
from solbot.market.feeds.jupiter_price import JupiterPriceFeed
from solbot.quarantine import BackoffPolicy
from solbot.risk import RiskGate
from solbot.sim.network import LAMPORTS_PER_SOL, SimNetwork
from solbot.sim.prices import PriceSource
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.users import Users
from solbot.strategy.base import Strategy, StrategyParams
from solbot.wallet.keys import SigningKey

START = 1_800_000_000.0
TF = Timeframe.M1


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


@dataclass
class SmallWorld:
    engine: Engine
    db: Database
    clock: ManualClock
    wallets: list[str]  # each user's address, users `u0`, `u1`, ... in order
    network: SimNetwork
    prices: dict[str, float]  # pinned USD prices by symbol: set one and the sim trades at it


class PinnedPrices:
    """The sim's prices with some tokens pinned to what the test says now (a path written tick
    by tick, where a random walk would only hit a rule by chance)."""

    def __init__(self, walk: PriceSource, pinned: dict[str, float]) -> None:
        self.walk = walk
        self.pinned = pinned

    def price(self, symbol: str, t: float) -> float:
        pinned = self.pinned.get(symbol.upper())
        return self.walk.price(symbol, t) if pinned is None else pinned

    def symbols(self) -> tuple[str, ...]:
        return self.walk.symbols()


async def small_world(
    tmp_path: Path,
    *,
    users: int,
    limits: RiskLimits,
    symbols: Sequence[str],
    venue: Callable[[SimNetwork, ManualClock], HttpRequester],
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
    on_event: Callable[[Event], None] | None = None,
    url: str | None = None,
    backoff: BackoffPolicy | None = None,
    strategy: Strategy | None = None,
    exits: ExitRules | None = None,
    prices: dict[str, float] | None = None,
) -> SmallWorld:
    """`users` funded users (1 SOL, 10,000 USDC) trading `symbols` through `venue` (the sim's
    Jupiter API as the Jupiter client's HTTP requester); the engine is started. The strategy
    enters on every bar unless another is given. `prices` pins tokens' USD prices (the test
    changes them as it goes: `SmallWorld.prices`), the others follow the sim's walk. The database is
    a SQLite file in `tmp_path` unless `url` names one (the `db_url` fixture: both backends)."""
    tokens = [t.to_domain() for t in DEFAULT_TOKENS]
    exits = exits or ExitRules(stop_loss_pct=50.0)
    clock = ManualClock(START)
    network = SimNetwork.create(
        tokens=tokens, clock=clock, seed=5, history_seconds=600, wallet_sol=1, wallet_usdc=0
    )
    pinned = PinnedPrices(network.prices, dict(prices or {}))
    network.maker.prices = pinned
    usdc = Pubkey.from_string(network.token("USDC").mint)
    url = url or f"sqlite:///{tmp_path / 'world.db'}"
    await schema.prepare(url)
    db = Database(url)
    accounts, wallets = [], []
    for n in range(users):
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
    jupiter = JupiterClient(
        venue(network, clock), clock, base_url="http://sim", requests_per_second=requests_per_second
    )
    chain = LiteSvmChain(network.ledger, clock)
    engine = Engine(
        tokens=[network.token(symbol) for symbol in symbols],
        quote=network.token("USDC"),
        strategy=strategy or EnterOnEveryBar(),
        feed=JupiterPriceFeed(jupiter),
        executor=Executor(
            db,
            jupiter,
            chain,
            clock,
            decimals={t.mint: t.decimals for t in tokens},
            trailing_stop_pct=Decimal(str(exits.trailing_stop_pct)) or None,
        ),
        chain=chain,
        db=db,
        clock=clock,
        exits=exits,
        timeframe=TF,
        accounts=accounts,
        max_price_age=3600.0,
        on_event=on_event,
        backoff=backoff,
    )
    await engine.start()
    return SmallWorld(engine, db, clock, wallets, network, pinned.pinned)
