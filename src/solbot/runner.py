"""Assemble and run the bot from settings: the adapters for the chosen network around the engine.

- `sim` without URLs (the default): LiteSVM in-process; the sim maker's Jupiter API over
  httpx's ASGI transport; a simulated clock (`--speed`).
- `sim` with `rpc_url` and `jupiter_url` (a `solbot sim serve` elsewhere): `RpcChain` and
  `JupiterClient` over HTTP; the wall clock.
- `devnet` / `mainnet`: `RpcChain` and Jupiter's own API; the wall clock.

Mainnet moves real money and is refused unless the operator opted in (`SOLBOT_LIVE=I_UNDERSTAND`,
or `--live` and a typed confirmation, which the CLI asks for).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

import httpx
from solders.pubkey import Pubkey

from solbot.chain.litesvm import LiteSvmChain
from solbot.chain.port import Chain
from solbot.chain.rpc import RpcChain
from solbot.clock import Clock, ScaledClock, WallClock
from solbot.config import Settings
from solbot.domain import ExitRules, TokenInfo
from solbot.engine import Account, Engine, Event
from solbot.errors import UserError
from solbot.execution.executor import Executor
from solbot.execution.jupiter import JupiterClient
from solbot.execution.signing import Signer
from solbot.market.feeds.jupiter_price import JupiterPriceFeed
from solbot.market.store import CandleStore
from solbot.risk import RiskGate, tier
from solbot.sim.network import SimNetwork
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.repos import Positions
from solbot.store.states import Route
from solbot.strategy.registry import load_strategy
from solbot.wallet.keys import SigningKey, load_signing_key

log = logging.getLogger(__name__)

OPERATOR = "operator"  # phase 0: the one user, trading the operator's wallet
LIVE_OPT_IN = "I_UNDERSTAND"
SAVE_EVERY_SECONDS = 300.0  # simulated time between sim state saves


@dataclass(frozen=True)
class RunOptions:
    speed: float = 1.0
    stop_after: float | None = None
    live: bool = False


@dataclass
class Summary:
    """What a run did, for the closing report."""

    started: float
    ended: float
    ticks: int
    entries: int
    exits: int
    failed: int
    blocked: dict[str, int]
    realised_pnl: Decimal
    quote: str
    open_positions: list[tuple[str, int, int]] = field(default_factory=list)  # token, db, chain
    cash: Decimal = Decimal(0)

    @property
    def consistent(self) -> bool:
        """Every open position's quantity equals what the wallet holds on chain."""
        return all(db == chain for _token, db, chain in self.open_positions)


class Runtime:
    """A built bot: call `run()`; `close()` releases what it holds."""

    def __init__(
        self,
        *,
        settings: Settings,
        options: RunOptions,
        clock: Clock,
        engine: Engine,
        chain: Chain,
        db: Database,
        signer: Signer,
        network: SimNetwork | None,
        closers: list[Callable[[], object]],
    ) -> None:
        self.settings = settings
        self.options = options
        self.clock = clock
        self.engine = engine
        self.chain = chain
        self.db = db
        self.signer = signer
        self.network = network
        self._closers = closers
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to finish the current tick and stop (SIGINT/SIGTERM call this)."""
        self._stop.set()

    async def run(self, on_tick: Callable[[Runtime], None] | None = None) -> Summary:
        started = self.clock.now()
        deadline = started + self.options.stop_after if self.options.stop_after else None
        last_save = started
        await self.engine.start()
        while not self._stop.is_set():
            await self.engine.tick()
            if on_tick is not None:
                on_tick(self)
            now = self.clock.now()
            if self.network is not None and now - last_save >= SAVE_EVERY_SECONDS:
                self.network.save(self.settings.sim_state_path)
                last_save = now
            if deadline is not None and now >= deadline:
                break
            await self._sleep(self.settings.poll_seconds)
        if self.network is not None:
            self.network.save(self.settings.sim_state_path)
        return await self.summary(started)

    async def _sleep(self, seconds: float) -> None:
        """Sleep on the bot's clock, waking early when asked to stop."""
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()

    async def summary(self, started: float) -> Summary:
        stats = self.engine.stats
        owner = self.signer.pubkey()
        async with self.db.session() as s:
            positions = await Positions(s, self.clock).all_open(OPERATOR)
        held = [
            (p.token, p.quantity, await self.chain.token_balance(owner, Pubkey.from_string(p.mint)))
            for p in positions
        ]
        quote = self.engine.quote
        cash = Decimal(
            await self.chain.token_balance(owner, Pubkey.from_string(quote.mint))
        ).scaleb(-quote.decimals)
        return Summary(
            started,
            self.clock.now(),
            stats.ticks,
            stats.entries,
            stats.exits,
            stats.failed,
            dict(stats.blocked),
            stats.realised_pnl,
            quote.symbol,
            held,
            cash,
        )

    async def close(self) -> None:
        for closer in reversed(self._closers):
            result = closer()
            if asyncio.iscoroutine(result):
                await result


@contextlib.asynccontextmanager
async def build(
    settings: Settings,
    options: RunOptions,
    on_event: Callable[[Event], None] | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Runtime]:
    """Everything `solbot run` needs, wired for the configured network; closed on exit.

    `clock` replaces the run's clock (tests drive the embedded sim with a `ManualClock`)."""
    _check_live(settings, options)
    closers: list[Callable[[], object]] = []
    tokens = settings.token_map()
    quote = _quote_token(settings, tokens)
    trade = [tokens[s] for s in settings.trade_tokens if s != quote.symbol]
    strategy = load_strategy(settings.strategy, settings.strategy_params)
    timeframe = settings.timeframe
    store = CandleStore(settings.candles_dir)
    embedded = settings.network == "sim" and not settings.rpc_url

    network: SimNetwork | None = None
    if embedded:
        saved = SimNetwork.saved_time(settings.sim_state_path)
        start = saved if saved is not None else float(WallClock().now())
        clock = clock or ScaledClock(start, options.speed)
        if saved is not None:
            network = SimNetwork.load(
                settings.sim_state_path, tokens=list(tokens.values()), clock=clock
            )
        else:
            history = timeframe.seconds * (strategy.samples_needed + 2)
            network = SimNetwork.create(
                tokens=list(tokens.values()),
                clock=clock,
                seed=settings.sim_seed,
                history_seconds=history,
                wallet_sol=settings.sim_wallet_sol,
                wallet_usdc=settings.sim_wallet_usdc,
            )
            network.save(settings.sim_state_path)
        network.write_history(
            store, [t.symbol for t in trade], timeframe, strategy.samples_needed + 1
        )
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=network.jupiter_app()), base_url="http://sim"
        )
        jupiter = JupiterClient(
            http,
            clock,
            base_url="http://sim",
            requests_per_second=1_000_000.0,
            max_price_impact_pct=Decimal(str(settings.max_price_impact_pct)),
        )
        chain: Chain = LiteSvmChain(network.ledger, clock)
        signer: Signer = SigningKey(network.wallet)
    else:
        if options.speed != 1.0:
            raise UserError("--speed only works on the embedded sim network")
        clock = clock or WallClock()
        if not settings.rpc:
            raise UserError("set SOLBOT_RPC_URL for this network")
        http = httpx.AsyncClient(timeout=30.0)
        key = settings.jupiter_api_key.get_secret_value() if settings.jupiter_api_key else None
        jupiter = JupiterClient(
            http,
            clock,
            base_url=settings.jupiter_url,
            api_key=key,
            requests_per_second=settings.jupiter_rps,
            max_price_impact_pct=Decimal(str(settings.max_price_impact_pct)),
        )
        rpc = RpcChain(settings.rpc)
        closers.append(rpc.close)
        chain = rpc
        if settings.wallet_private_key is None:
            raise UserError("set WALLET_PRIVATE_KEY (base58, or a Solana CLI key file path)")
        signer = load_signing_key(settings.wallet_private_key.get_secret_value())
    closers.append(http.aclose)

    url = settings.database
    await schema.prepare(url)
    db = Database(url)
    closers.append(db.dispose)

    limits = tier(settings.risk_tier)
    if settings.max_position_size_pct is not None:
        limits = replace(limits, position_size_pct=settings.max_position_size_pct)
    if settings.max_daily_loss_pct is not None:
        limits = replace(limits, max_daily_loss_pct=settings.max_daily_loss_pct)
    executor = Executor(
        db,
        jupiter,
        chain,
        clock,
        decimals={t.mint: t.decimals for t in tokens.values()},
        route=Route(settings.jupiter_route),
        poll_seconds=1.0,
        resend_seconds=2.0,
    )
    cash_atoms = await chain.token_balance(signer.pubkey(), Pubkey.from_string(quote.mint))
    account = Account(
        OPERATOR,
        signer,
        RiskGate(limits, float(Decimal(cash_atoms).scaleb(-quote.decimals)), clock.now()),
        reserve=limits.fee_reserve_sol if quote.symbol == "SOL" else 0.0,
    )
    engine = Engine(
        tokens=trade,
        quote=quote,
        strategy=strategy,
        feed=JupiterPriceFeed(jupiter),
        executor=executor,
        chain=chain,
        db=db,
        clock=clock,
        exits=ExitRules(),
        timeframe=timeframe,
        accounts=[account],
        store=store,
        max_price_age=settings.price_max_age_seconds,
        on_event=on_event,
    )
    runtime = Runtime(
        settings=settings,
        options=options,
        clock=clock,
        engine=engine,
        chain=chain,
        db=db,
        signer=signer,
        network=network,
        closers=closers,
    )
    try:
        yield runtime
    finally:
        await runtime.close()


def _check_live(settings: Settings, options: RunOptions) -> None:
    if settings.network == "mainnet" and settings.live != LIVE_OPT_IN and not options.live:
        raise UserError(
            "mainnet trades real money: set SOLBOT_LIVE=I_UNDERSTAND or pass --live (you will "
            "be asked to confirm)"
        )


def _quote_token(settings: Settings, tokens: dict[str, TokenInfo]) -> TokenInfo:
    if settings.quote != "USDC":
        raise UserError(
            "solbot run trades against USDC for now; set SOLBOT_QUOTE=USDC (SOL-quoted live "
            "trading needs native-SOL settlement, which is not built yet)"
        )
    return tokens["USDC"]
