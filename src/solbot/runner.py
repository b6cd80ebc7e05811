"""Assemble and run the bot from settings: the adapters for the chosen network around the engine.

- `sim` without URLs (the default): LiteSVM in-process; the sim maker's Jupiter API called in
  process (`InProcessJupiter`: the same handlers and JSON bytes as over HTTP, without HTTP); a
  simulated clock (`--speed`).
- `sim` with `rpc_url` and `jupiter_url` (a `solbot sim serve` elsewhere): `RpcChain` and
  `JupiterClient` over HTTP; the wallet from `WALLET_PRIVATE_KEY`; the *sim's* clock, read once
  from the server (`GET /sim/clock`: its time and speed) and then run locally at that speed, so
  candles, price freshness and quote expiry agree with the chain however fast the sim runs; the
  strategy's warm-up candles back-filled from the server (`GET /sim/candles`, the same candles
  the embedded sim writes into the store) for the time the store does not cover.
- `devnet` / `mainnet`: `RpcChain` and Jupiter's own API; the wall clock.
- paper (`SOLBOT_PAPER=true` or `--paper`, on any of the above): the network's prices and
  quotes, but `PaperChain` instead of a chain and a watch-only paper address instead of a
  wallet; orders fill at the quote in the paper world's own database
  (`data/<network>-paper/`). No key, no RPC and no live opt-in are needed, because nothing can
  be signed or sent.

Mainnet moves real money and is refused unless the operator opted in (`SOLBOT_LIVE=I_UNDERSTAND`,
or `--live` and a typed confirmation, which the CLI asks for).

Over RPC the chain is wrapped in `RetryingChain` (a node that is behind or unreachable for a moment
must not stop the loop), and a tick that still fails on the chain is skipped; the orders it left
mid-way are finished from the journal (`Executor.recover`) before the next tick.

Sim fault injection: `SOLBOT_SIM_CRASH_AFTER=<state>` (or `withdrawal:<state>`) kills the
process with SIGKILL right after the order (or withdrawal) journal records that state, on the sim
network only (see `solbot.faults`).

Withdrawals and fee sweeps: right after the orders, before the Telegram bot answers anyone,
the run settles every transfer a previous process left in flight
(`transfer_recovery.recover_transfers`) and tells each user (a `withdrawal` or `fee` event,
which the Telegram bot forwards).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import httpx
from solders.pubkey import Pubkey
from sqlalchemy import func, select

from solbot.chain.litesvm import LiteSvmChain
from solbot.chain.paper import PaperChain
from solbot.chain.port import NATIVE_MINT, Chain, ChainUnavailableError
from solbot.chain.retrying import RetryingChain
from solbot.clock import Clock, ManualClock, ScaledClock, WallClock
from solbot.config import LIVE_OPT_IN, Settings
from solbot.domain import RiskLimits, Timeframe, TokenInfo
from solbot.engine import Engine
from solbot.errors import UserError
from solbot.events import Event
from solbot.execution.cleanup import AccountCloses
from solbot.execution.executor import Executor
from solbot.execution.jupiter import JupiterClient, VenueError
from solbot.execution.landing import LandingPolicy
from solbot.execution.signing import Signer
from solbot.faults import crash_hook
from solbot.fee_sweeps import FeeSweeps, fee_wallet_address
from solbot.market.feeds.jupiter_price import JupiterPriceFeed
from solbot.market.geckoterminal import GeckoTerminalClient, download
from solbot.market.store import CandleStore
from solbot.rent_reclaim import RentReclaim
from solbot.runtime import RunOptions, Runtime, close_all
from solbot.services.custody import CustodyService
from solbot.services.roster import OPERATOR, Roster
from solbot.services.withdrawals import RENT_EXEMPT_MINIMUM
from solbot.sim.client import backfill_from_sim
from solbot.sim.lock import SimLock
from solbot.sim.maker_types import MakerConfig
from solbot.sim.network import LAMPORTS_PER_SOL, SimNetwork
from solbot.sim.replay import WARM_UP_SPARE_BARS, Replay
from solbot.startup import Remote, chain_down, reach_services
from solbot.store import run_lock, schema
from solbot.store.db import Database
from solbot.store.states import Custody, Route
from solbot.store.tables import MetaEntry, OrderRow, TradeRow, UserRow
from solbot.store.users import Users
from solbot.store.world_mark import SIM_DEPOSIT_PREFIX
from solbot.strategy.base import Strategy
from solbot.strategy.registry import load_strategy
from solbot.telegram.bot import TelegramBot
from solbot.telegram.services import BotServices
from solbot.wallet import keycheck, master
from solbot.wallet.keys import SigningKey, WatchOnly, paper_address
from solbot.web.exposure import exposure_problem
from solbot.web.process import DashboardProcess
from solbot.webhooks.dispatcher import WebhookDispatcher

log = logging.getLogger(__name__)


def sim_start_time(settings: Settings, booked: float | None = None) -> float:
    """Where the sim's clock starts: where the saved world stopped, else the wall's now; and
    never before `booked`, the latest time the world's database recorded. The ledger's time
    moves only when it is used, so a world killed between ticks can stop a little behind what
    the bot already booked; starting there would run the world's time backwards (orders
    dated after "now", a reconciliation counting fills twice)."""
    saved = SimNetwork.saved_time(settings.sim_state_path)
    start = saved if saved is not None else float(WallClock().now())
    return max(start, booked) if booked is not None else start


async def latest_booked_time(db: Database) -> float | None:
    """The latest moment the books recorded on the trading clock (an order's step, a fill;
    transfers out are stamped with the wall clock, see `solbot.transfers`)."""
    async with db.session() as s:
        times = [
            await s.scalar(select(func.max(column)))
            for column in (OrderRow.updated_at, TradeRow.timestamp)
        ]
    found = [t.timestamp() for t in times if t is not None]
    return max(found) if found else None


def open_sim_network(
    settings: Settings, clock: Clock, strategy: Strategy, replay: Replay | None = None
) -> SimNetwork:
    """The saved sim world on `clock`, or a new one (saved at once) whose price path reaches back
    far enough for `strategy` to warm up on `settings.timeframe`: the seeded walk, or `replay`'s
    recorded candles. `solbot run` (embedded) and `solbot sim serve` share it, so both continue
    the same state file the same way. Its maker charges the configured costs, those a backtest
    models."""
    tokens = list(settings.token_map().values())
    path = settings.sim_state_path
    costs = MakerConfig.from_costs(settings.fee_bps, settings.slippage_bps)
    if path.exists():
        return SimNetwork.load(path, tokens=tokens, clock=clock, maker_config=costs)
    network = SimNetwork.create(
        tokens=tokens,
        clock=clock,
        seed=settings.sim_seed,
        history_seconds=settings.timeframe.seconds * (strategy.samples_needed + WARM_UP_SPARE_BARS),
        wallet_sol=settings.sim_wallet_sol,
        wallet_usdc=settings.sim_wallet_usdc,
        maker_config=costs,
        replay=None if replay is None else replay.series,
        tick_seconds=settings.poll_seconds,
    )
    network.save(path)
    return network


@dataclass(frozen=True)
class _History:
    """The candles a run warms its strategy up on: from the sim it trades on (embedded or
    served), or on mainnet from GeckoTerminal (what `solbot data download` fetches); devnet has
    no market history, so there they come from the store only."""

    store: CandleStore
    symbols: list[str]
    timeframe: Timeframe
    bars: int

    async def from_network(self, network: SimNetwork) -> None:
        network.write_history(self.store, self.symbols, self.timeframe, self.bars)

    async def from_server(self, http: httpx.AsyncClient, base_url: str, clock: Clock) -> None:
        await backfill_from_sim(
            http, base_url, self.store, self.symbols, self.timeframe, self.bars, clock.now()
        )

    async def from_geckoterminal(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        clock: Clock,
        tokens: Sequence[TokenInfo],
        market: CandleStore,
    ) -> None:
        """Download what market history lacks of the warm-up window (as `solbot data download`
        would: it is market history), then give the run's own store that window. A failure
        only costs the warm-up: the bot starts anyway and fills its windows from live prices."""
        client = GeckoTerminalClient(http, clock, base_url=base_url)
        end = int(clock.now())
        start = end - self.bars * self.timeframe.seconds
        for token in tokens:
            try:
                await download(client, market, token, self.timeframe, start, end)
            except UserError as exc:
                log.warning("no history for %s from GeckoTerminal: %s", token.symbol, exc)
            window = market.load(token.symbol, self.timeframe, self.timeframe.floor(start), end)
            if len(window):
                self.store.merge(token.symbol, window)


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
    try:
        runtime = await _assemble(settings, options, on_event, clock, closers)
    except ChainUnavailableError as exc:  # balances for the roster, after the first contact
        await close_all(closers)
        raise chain_down(settings, exc) from None
    except BaseException:
        await close_all(closers)  # what was opened before the failure (HTTP clients, DB)
        raise
    try:
        yield runtime
    finally:
        await runtime.close()


async def _assemble(
    settings: Settings,
    options: RunOptions,
    on_event: Callable[[Event], None] | None,
    clock: Clock | None,
    closers: list[Callable[[], object]],
) -> Runtime:
    tokens = settings.token_map()
    quote = _quote_token(settings, tokens)
    if settings.fee_wallet:  # a setting to fix is said before anything opens
        fee_wallet_address(settings.fee_wallet)
    if settings.web:  # so is the dashboard's, before the start-up's work
        problem = exposure_problem(settings) or settings.telegram_login_problem
        if problem is not None:
            raise UserError(problem)
    trade = [tokens[s] for s in settings.trade_tokens if s != quote.symbol]
    strategy = load_strategy(settings.strategy, settings.strategy_params)
    timeframe = settings.timeframe
    store = CandleStore(settings.built_candles_dir())  # the world's own, never market history
    default_jupiter = settings.jupiter_url == Settings.model_fields["jupiter_url"].default
    # A sim given by URL is remote; paper trading needs only its Jupiter URL (no RPC).
    embedded = settings.network == "sim" and not settings.rpc_url and default_jupiter
    remote_sim = settings.network == "sim" and not embedded
    on_step = crash_hook(settings, "order")
    impact_cap = Decimal(str(settings.max_price_impact_pct))

    remote: Remote | None = None
    if not embedded:
        probe = (trade[0] if trade else quote).mint
        remote = await reach_services(
            settings, options.speed, quote, impact_cap, clock, closers, probe
        )
        clock = remote.clock
    http: httpx.AsyncClient | None = None

    url = settings.database
    lock = await run_lock.acquire(url)  # before anything is read or written
    closers.append(lock.release)
    await schema.prepare(url, settings.world, settings.world_hints())
    db = Database(url)
    closers.append(db.dispose)

    network: SimNetwork | None = None
    if remote is None:
        closers.append(SimLock.acquire(settings.sim_state_path).release)
        if clock is None and options.replay is not None:
            clock = ManualClock(options.replay.start)  # as fast as the ticks compute
        elif clock is None:
            start = sim_start_time(settings, await latest_booked_time(db))
            clock = ScaledClock(start, options.speed)
        network = open_sim_network(settings, clock, strategy, options.replay)
        closers.append(network.close)
        jupiter = JupiterClient(
            network.jupiter_in_process(),
            clock,
            base_url="http://sim",
            requests_per_second=1_000_000.0,
            max_price_impact_pct=impact_cap,
        )
        chain: Chain = LiteSvmChain(network.ledger, clock)
        operator: Signer | None = SigningKey(network.wallet)
    else:
        assert remote is not None
        jupiter, operator, http = remote.jupiter, remote.operator, remote.http
        if remote.rpc is not None:
            chain = RetryingChain(remote.rpc, remote.clock)
    if settings.paper:
        # Prices and quotes from the network's venue; fills and balances in the database only.
        paper = PaperChain(db, clock)
        chain = paper
        operator = WatchOnly(paper_address(OPERATOR))
        cash = int(Decimal(str(settings.paper_starting_cash)).scaleb(quote.decimals))
        await paper.fund_once(operator.pubkey(), Pubkey.from_string(quote.mint), cash)

    history = _History(store, [t.symbol for t in trade], timeframe, strategy.samples_needed + 1)
    warm_up: Callable[[], Awaitable[None]] | None = None
    if network is not None:
        warm_up = functools.partial(history.from_network, network)
    elif remote_sim:
        warm_up = functools.partial(history.from_server, http, settings.jupiter_url, clock)
    elif settings.network == "mainnet":
        warm_up = functools.partial(
            history.from_geckoterminal,
            http,
            settings.geckoterminal_url,
            clock,
            trade,
            CandleStore(settings.candles_dir),
        )

    limits = settings.operator_limits()
    exits = settings.exit_rules()
    executor = Executor(
        db,
        jupiter,
        chain,
        clock,
        decimals={t.mint: t.decimals for t in tokens.values()},
        route=_route(settings),
        trailing_stop_pct=Decimal(str(exits.trailing_stop_pct)) or None,
        poll_seconds=1.0,
        resend_seconds=2.0,
        on_step=on_step,
        landing=LandingPolicy(
            percentile_bps=settings.priority_fee_percentile * 100,
            max_priority_lamports=settings.max_priority_fee_lamports,
        ),
        trusted_programs=[Pubkey.from_string(p) for p in settings.trusted_programs],
        auto_route=settings.jupiter_route == "auto" and not settings.paper,
    )
    roster = await _roster(settings, db, clock, chain, quote, operator, limits, network)
    engine = Engine(
        tokens=trade,
        quote=quote,
        strategy=strategy,
        feed=JupiterPriceFeed(jupiter),
        executor=executor,
        chain=chain,
        db=db,
        clock=clock,
        exits=exits,
        timeframe=timeframe,
        roster=roster,
        store=store,
        max_price_age=settings.price_max_age_seconds,
        min_cash=settings.min_trade_cash_for(quote.symbol),
        on_event=on_event,
        backoff=settings.backoff_policy(),
        reclaim=None if settings.paper else _rent_reclaim(settings, db, clock, chain),
    )
    telegram = _telegram(settings, db, clock, chain, roster)
    if telegram is not None:
        _connect(telegram, engine, quote, tokens)
    sweeps = await _fee_sweeps(settings, db, clock, chain, quote, roster, network)
    custody = roster.custody or CustodyService(db, clock, None)
    webhooks = _webhooks(settings, db, clock, engine, custody.key or master.from_environment())
    if webhooks is not None:
        webhooks.start()
        closers.append(webhooks.stop)
    dashboard = DashboardProcess(settings) if settings.web else None
    return Runtime(
        settings=settings,
        options=options,
        clock=clock,
        engine=engine,
        chain=chain,
        db=db,
        signer=operator,
        network=network,
        closers=closers,
        on_event=on_event,
        warm_up=warm_up,
        telegram=telegram,
        custody=custody,
        fee_sweeps=sweeps,
        dashboard=dashboard,
        run_lock=lock,
    )


async def _fee_sweeps(
    settings: Settings,
    db: Database,
    clock: Clock,
    chain: Chain,
    quote: TokenInfo,
    roster: Roster,
    network: SimNetwork | None,
) -> FeeSweeps | None:
    """The fee sweeps, when `SOLBOT_FEE_WALLET` names where fees go and there are vault users
    to pay them (the master key is set; not in paper trading, whose books are not wallets).
    The fee wallet is checked before the first tick: one that cannot receive is one line. On
    the embedded sim its faucet opens the wallet's accounts, as a first deposit would."""
    if not settings.fee_wallet or settings.paper or roster.custody is None:
        return None
    sweeps = FeeSweeps(
        db,
        clock,
        chain,
        roster.custody,
        quote=quote,
        fee_wallet=settings.fee_wallet,
        minimum=Decimal(str(settings.fee_sweep_minimum_for(quote.symbol))),
        on_step=crash_hook(settings, "fee_sweep"),
    )
    if network is not None:
        _sim_open_accounts(network, clock, sweeps.address(), quote)
    try:
        await sweeps.destination(await roster.custody.users())
    except ChainUnavailableError as exc:
        raise chain_down(settings, exc) from None
    return sweeps


def _route(settings: Settings) -> Route:
    """The route orders are made on: `auto` makes them on `/order` and moves each to `/build`
    when that costs less (`execution.route_choice`)."""
    if settings.paper:
        return Route.PAPER
    return Route.V2 if settings.jupiter_route == "auto" else Route(settings.jupiter_route)


def _rent_reclaim(settings: Settings, db: Database, clock: Clock, chain: Chain) -> RentReclaim:
    """Closing the token accounts exits empty (`solbot.rent_reclaim`), journaled."""
    hook = crash_hook(settings, "account_close")
    # No custody: closes are journaled, not audited (`execution.cleanup`).
    return RentReclaim(AccountCloses(db, clock, chain, None, on_step=hook), clock)


def _sim_open_accounts(network: SimNetwork, clock: Clock, owner: Pubkey, quote: TokenInfo) -> None:
    ledger = network.ledger
    ledger.advance_to(clock.now())
    if ledger.account(owner) is None:
        ledger.airdrop(owner, RENT_EXEMPT_MINIMUM)
    mint = Pubkey.from_string(quote.mint)
    if mint != NATIVE_MINT:
        ledger.set_token_balance(owner, mint, ledger.token_balance(owner, mint))


async def _roster(
    settings: Settings,
    db: Database,
    clock: Clock,
    chain: Chain,
    quote: TokenInfo,
    operator: Signer | None,
    operator_limits: RiskLimits,
    network: SimNetwork | None,
) -> Roster:
    """The accounts to trade: the operator's wallet (the sim's funded one, `WALLET_PRIVATE_KEY`,
    or the paper account) and, outside paper trading, every user with a wallet in the vault,
    which needs `MASTER_ENCRYPTION_KEY` (checked against the database before anything runs)."""
    key = None if settings.paper else master.from_environment()
    async with db.session() as s:
        users = Users(s, clock)
        if operator is not None:
            try:
                await users.ensure_external(OPERATOR, OPERATOR, str(operator.pubkey()))
            except ValueError as exc:
                raise UserError(str(exc)) from None
        if key is not None:
            await keycheck.check(s, key)
        in_vault = [] if settings.paper else await users.all(custody=Custody.VAULT)
    if in_vault and key is None:
        raise UserError(
            f"{len(in_vault)} user(s) have wallets in the vault: set MASTER_ENCRYPTION_KEY "
            "to trade for them"
        )
    if operator is None and not in_vault:
        raise UserError(
            "nothing to trade: add a user (`solbot add-user`) or set WALLET_PRIVATE_KEY"
        )
    roster = Roster(
        db=db,
        clock=clock,
        chain=chain,
        quote=quote,
        custody=None,
        operator=operator,
        operator_limits=operator_limits,
        on_new_wallet=(
            functools.partial(_sim_deposit, settings, db, clock, network)
            if network is not None
            else None
        ),
    )
    if key is not None:  # decryptions limited on the wall clock, counted in the database
        # Custody's audit times are security times: the wall clock's, also in a fast sim.
        roster.custody = CustodyService(db, WallClock(), key, limits=settings.decrypt_limits())
    await roster.load()  # the accounts are known before the first tick (and the banner)
    return roster


def _telegram(
    settings: Settings, db: Database, clock: Clock, chain: Chain, roster: Roster
) -> TelegramBot | None:
    """The Telegram bot, when `TELEGRAM_BOT_TOKEN` is set (not in paper trading: its books are
    not the users' wallets)."""
    if settings.telegram_bot_token is None or settings.paper:
        return None
    if not settings.telegram_allowed_ids:
        raise UserError("TELEGRAM_ALLOWED_IDS is empty: name the Telegram user ids of the friends")
    custody = roster.custody or CustodyService(
        db, WallClock(), master.from_environment(), limits=settings.decrypt_limits()
    )
    services = BotServices(settings=settings, db=db, clock=clock, custody=custody, chain=chain)
    return TelegramBot(
        services,
        token=settings.telegram_bot_token.get_secret_value(),
        api_url=settings.telegram_api_url,
    )


def _also_tell(engine: Engine, consumer: Callable[[Event], None]) -> None:
    """`consumer` hears the loop's events too (after whoever heard them before)."""
    told = engine.on_event

    def both(event: Event) -> None:
        told(event)
        consumer(event)

    engine.on_event = both


def _webhooks(
    settings: Settings, db: Database, clock: Clock, engine: Engine, key: master.MasterKey | None
) -> WebhookDispatcher | None:
    """The webhooks' dispatcher beside the loop; none without the master key (their addresses
    are sealed under it: `solbot webhook add` needs it too)."""
    if key is None:
        return None
    dispatcher = WebhookDispatcher(db, key, settings, clock, WallClock())
    _also_tell(engine, dispatcher.on_event)
    return dispatcher


def _connect(
    telegram: TelegramBot, engine: Engine, quote: TokenInfo, tokens: dict[str, TokenInfo]
) -> None:
    """The bot and the loop in one process: events become notifications and prices come from
    the loop's feed (a `/close` reaches the loop through the database, from any process)."""
    _also_tell(engine, telegram.notifier.on_event)
    if quote.symbol == "USDC":  # USD prices are quote prices then
        telegram.services.prices = lambda: dict(engine.prices)
        sol = tokens["SOL"].mint if "SOL" in tokens else None

        async def sol_price() -> Decimal | None:
            if sol is None:
                return None
            try:
                snapshot = await engine.feed.snapshot([sol])
            except VenueError:
                return None
            return snapshot.usd().get(sol)

        telegram.services.sol_price = sol_price


async def _sim_deposit(
    settings: Settings, db: Database, clock: Clock, network: SimNetwork, user: UserRow
) -> None:
    """On the embedded sim a new user's wallet receives a deposit from the sim's faucet, once
    (what a friend sending SOL and USDC would do), so multi-user demos trade offline."""
    marker = f"{SIM_DEPOSIT_PREFIX}{user.wallet_pubkey}"
    async with db.session() as s:
        if await s.get(MetaEntry, marker) is not None:
            return
        owner = Pubkey.from_string(user.wallet_pubkey)
        network.ledger.advance_to(clock.now())
        network.ledger.airdrop(owner, int(settings.sim_user_sol * LAMPORTS_PER_SOL))
        usdc = network.token("USDC")
        mint = Pubkey.from_string(usdc.mint)
        held = network.ledger.token_balance(owner, mint)
        deposit = int(Decimal(str(settings.sim_user_usdc)).scaleb(usdc.decimals))
        network.ledger.set_token_balance(owner, mint, held + deposit)
        s.add(MetaEntry(key=marker, value=str(clock.now())))
    log.info(
        "sim deposit to %s: %s SOL, %s USDC",
        user.username,
        settings.sim_user_sol,
        settings.sim_user_usdc,
    )


def _check_live(settings: Settings, options: RunOptions) -> None:
    if settings.paper:
        return  # paper trading signs and sends nothing: no money can move
    if settings.network == "mainnet" and settings.live != LIVE_OPT_IN and not options.live:
        raise UserError(
            "mainnet trades real money: set SOLBOT_LIVE=I_UNDERSTAND or pass --live (you will "
            "be asked to confirm)"
        )


def _quote_token(settings: Settings, tokens: dict[str, TokenInfo]) -> TokenInfo:
    """The asset the portfolio is held in. SOL works on every route: where the wallet pays its
    own transactions (`build`, v1), what each one cost is read from the chain and booked apart
    from the swap (`Executor.wallet_costs`)."""
    if settings.quote not in tokens:
        raise UserError(f"the quote asset {settings.quote} is not in the token list")
    return tokens[settings.quote]
