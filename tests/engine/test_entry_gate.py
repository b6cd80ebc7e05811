"""The breakers' answer to a user's entries in one tick: the first token that is turned down
turns down the rest alike (the verdict does not depend on the token), counted per token and
told in one line per reason."""

from __future__ import annotations

from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from engine.test_fairness import EnterOnEveryBar
from solbot.chain.litesvm import LiteSvmChain
from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.domain import ExitRules, RiskLimits, Timeframe
from solbot.engine import Account, Engine, Event
from solbot.execution.executor import Executor
from solbot.execution.jupiter import JupiterClient
from solbot.market.feeds.jupiter_price import JupiterPriceFeed
from solbot.risk import RiskGate
from solbot.sim.network import LAMPORTS_PER_SOL, SimNetwork
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.users import Users
from solbot.wallet.keys import SigningKey

START = 1_800_000_000.0
TF = Timeframe.M1


async def test_the_rest_of_a_users_entries_are_turned_down_with_the_first(tmp_path: Path) -> None:
    tokens = [t.to_domain() for t in DEFAULT_TOKENS]
    clock = ManualClock(START)
    network = SimNetwork.create(
        tokens=tokens, clock=clock, seed=5, history_seconds=600, wallet_sol=1, wallet_usdc=0
    )
    url = f"sqlite:///{tmp_path / 'gate.db'}"
    await schema.prepare(url)
    db = Database(url)
    key = Keypair()
    network.ledger.airdrop(key.pubkey(), LAMPORTS_PER_SOL)
    usdc = Pubkey.from_string(network.token("USDC").mint)
    network.ledger.set_token_balance(key.pubkey(), usdc, 10_000 * 10**6)
    async with db.session() as s:
        await Users(s, clock).ensure_external("u0", "user_0", str(key.pubkey()))
    limits = RiskLimits(position_size_pct=0.1, max_position_pct=0.1, max_open_positions=1)
    account = Account("u0", SigningKey(key), RiskGate(limits, 10_000.0, START), username="user_0")
    jupiter = JupiterClient(network.jupiter_in_process(), clock, base_url="http://sim")
    chain = LiteSvmChain(network.ledger, clock)
    traded = [network.token(symbol) for symbol in ("JUP", "BONK", "WIF")]
    events: list[Event] = []
    engine = Engine(
        tokens=traded,
        quote=network.token("USDC"),
        strategy=EnterOnEveryBar(),
        feed=JupiterPriceFeed(jupiter),
        executor=Executor(db, jupiter, chain, clock, decimals={t.mint: t.decimals for t in tokens}),
        chain=chain,
        db=db,
        clock=clock,
        exits=ExitRules(stop_loss_pct=50.0),
        timeframe=TF,
        accounts=[account],
        max_price_age=3600.0,
        on_event=events.append,
    )
    await engine.start()
    await engine.tick()  # opens the first candles
    clock.advance(TF.seconds)
    await engine.tick()  # they close: three entry signals, room for one position
    await db.dispose()

    assert engine.stats.entries == 1
    assert engine.stats.blocked == {"max open positions": 2}
    told = [e.text for e in events if e.kind == "blocked"]
    assert told == ["BONK, WIF: already 1 open positions (the maximum)"]
