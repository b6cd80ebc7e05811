"""A built bot, running: the loop around the engine, stopping on a signal, the summary.

`Runtime.run` starts the engine (orders left in flight are finished from the journal), settles
the transfers a previous process left in flight (`transfer_recovery.recover_transfers`) before the
Telegram bot answers anyone, notes what every wallet holds (where the run's reconciliation
starts), then ticks until stopped. A tick that fails on the chain is skipped and the orders it
left mid-way are finished before the next one. SIGINT/SIGTERM give the current step
`STOP_GRACE_SECONDS`, then cancel it wherever it waits; finishing orders and the summary share
`CLOSING_SECONDS` (`CLOSING_WHEN_DOWN` when the chain was failing as the stop came). The
summary reconciles every user's every asset with the books (`reconcile`). `runner.build`
assembles it from settings.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from solders.pubkey import Pubkey

from solbot.chain.port import (
    Chain,
    ChainUnavailableError,
    holdings,
)
from solbot.clock import Clock, WallClock
from solbot.config import Settings
from solbot.deposits import DepositWatch
from solbot.engine import Engine
from solbot.errors import EnvironmentFaultError
from solbot.events import Event, recovered_text
from solbot.execution.signing import Signer
from solbot.faults import crash_hook
from solbot.fee_sweeps import LATER, UNREACHED, FeeSweeps, SweepsHeldError, Swept, amount_text
from solbot.fees import FeeBook
from solbot.heartbeat import beat
from solbot.quarantine import Hold
from solbot.reconcile import Assets, Line, Opening, Wallet, opening, reconcile
from solbot.services.custody import CustodyService
from solbot.sim.network import SimNetwork
from solbot.sim.replay import Replay
from solbot.startup import chain_down
from solbot.store.db import Database
from solbot.store.positions import Positions
from solbot.store.run_lock import RunLock
from solbot.telegram.bot import TelegramBot
from solbot.transfer_recovery import Recovered, recover_transfers
from solbot.web.process import DashboardProcess

log = logging.getLogger(__name__)

SAVE_EVERY_SECONDS = 300.0  # simulated time between sim state saves
STOP_GRACE_SECONDS = 1.0  # wall time a stopping run lets the current step finish
CLOSING_SECONDS = 2.0  # wall time for the closing recovery and the summary, after a stop
CLOSING_WHEN_DOWN = 0.5  # the same when the chain was failing as the stop came
SWEEP_RETRY_SECONDS = 300.0  # wall time before fees that could not be swept are tried again
SWEEP_SECONDS_PER_TICK = 10.0  # wall time a tick gives the fee sweeps before trading goes on
DEPOSIT_CHECK_SECONDS = 300.0  # bot time between looks for deposits (a few per candle)
DEPOSIT_THRESHOLD_UNITS = {"SOL": Decimal("0.01")}  # less is not announced; others: 1 unit


@dataclass(frozen=True)
class RunOptions:
    speed: float = 1.0
    stop_after: float | None = None
    live: bool = False
    tune_gc: bool = False  # `solbot run` sets it; see `tune_collector`
    replay: Replay | None = None  # recorded candles instead of the sim's walk (`sim.replay`)


GC_THRESHOLDS = (50_000, 20, 10)  # allocations before a young collection; then 20, then 10


def tune_collector() -> None:
    """Fit the cyclic garbage collector to a long run, once the engine has started.

    The users' accounts and signers, the candles and the sim's world live as long as the
    process, yet every full collection walks them all again: in a 10,000-user fan-out that was
    about 1 s of each candle close (`benchmarks/fanout.py`). `gc.freeze` moves every object
    alive now to a generation the collector never scans (collecting first keeps garbage out
    of it). What a tick allocates then is mostly short-lived (requests, rows, answers), so the
    youngest generation is collected every 50,000 allocations instead of 700: the collector's
    time in that tick fell from 0.70 s to 0.15 s, at no measurable cost in peak memory.
    Process-wide, so the CLI asks for it (`RunOptions.tune_gc`), not library code.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(frozen=True)
class Held:
    """An open position as the books have it, and what the wallet holds of its token."""

    user: str
    token: str
    quantity: int
    on_chain: int
    decimals: int = 0  # the token's: the summary shows units


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
    open_positions: list[Held] = field(default_factory=list)
    cash: Decimal = Decimal(0)  # over every account
    paper: bool = False  # the "chain" figures are paper balances
    # Every user's every asset, books against chain (`reconcile`).
    reconciled: list[Line] = field(default_factory=list)
    quarantined: list[Hold] = field(default_factory=list)  # no orders until re-armed
    moved_out: int = 0  # positions (or parts) closed because their tokens left the wallet
    names: dict[str, str] = field(default_factory=dict)  # user id -> username, for the report
    costs_lamports: int = 0  # what the wallets paid beyond the swaps (`TickStats`)

    @property
    def costs_sol(self) -> Decimal:
        return Decimal(self.costs_lamports).scaleb(-9)

    @property
    def net_pnl(self) -> Decimal | None:
        """The realised PnL less the costs, where both are in SOL (a SOL-quoted run); None
        otherwise (the costs are in SOL, the PnL in the quote asset)."""
        return self.realised_pnl - self.costs_sol if self.quote == "SOL" else None

    @property
    def consistent(self) -> bool:
        """Every open position's quantity equals what the wallet holds on chain, and every
        strict line of the reconciliation balances."""
        return all(h.quantity == h.on_chain for h in self.open_positions) and all(
            line.ok for line in self.reconciled if line.strict
        )

    @property
    def mismatches(self) -> list[Line]:
        return [line for line in self.reconciled if not line.ok]


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
        on_event: Callable[[Event], None] | None = None,
        warm_up: Callable[[], Awaitable[None]] | None = None,
        telegram: TelegramBot | None = None,
        custody: CustodyService | None = None,
        fee_sweeps: FeeSweeps | None = None,
        wall: Clock | None = None,
        dashboard: DashboardProcess | None = None,
        run_lock: RunLock | None = None,
    ) -> None:
        self.settings = settings
        self.run_lock = run_lock  # one bot per database: looked at before every tick
        self.options = options
        self.clock = clock
        self.engine = engine
        self.chain = chain
        self.db = db
        self.signer = signer
        self.network = network
        self._closers = closers
        self._on_event = on_event or (lambda _e: None)
        self._warm_up = warm_up
        self.telegram = telegram
        self.custody = custody or CustodyService(db, clock, None)  # keyless: nothing to sign
        if telegram is not None:
            self._closers.append(telegram.stop)  # closers run in reverse: it stops first
        self.dashboard = dashboard
        if dashboard is not None:
            self._closers.append(dashboard.stop)
        self._stop = asyncio.Event()
        self.chain_failures = 0  # ticks skipped because the chain could not be reached
        self._openings: dict[str, Opening] = {}  # what each wallet held when first served
        self.fees = FeeBook(db, clock, settings.performance_fee_pct)  # per trading day
        self.fee_sweeps = fee_sweeps  # None: fees accrue, unpaid (no SOLBOT_FEE_WALLET)
        self.wall = wall or WallClock()
        self._sweep_due = True  # what earlier runs left owed is swept at the first tick
        self._sweep_retry_at = 0.0  # wall time
        self._sweep_interrupted = False  # a payment may be in flight: recover before the next
        self.deposits = None if settings.paper else self._deposit_watch()
        self._deposits_due = 0.0  # bot time

    def stop(self) -> None:
        """Ask the loop to stop (SIGINT/SIGTERM call this): the current step may finish for
        `STOP_GRACE_SECONDS`, then it is cancelled, wherever it waits (a retry's back-off, a
        download, a server that does not answer), and the run closes within seconds."""
        self._stop.set()

    async def run(self, on_tick: Callable[[Runtime], None] | None = None) -> Summary:
        started = self.clock.now()
        deadline = started + self.options.stop_after if self.options.stop_after else None
        last_save = started
        unfinished = False  # a tick failed mid-way: orders may wait in a non-terminal state
        started_up = await self._unless_stopped(self._start())
        while started_up and not self._stop.is_set():
            # Another bot took the database: stop now, writing nothing more (not even the
            # stopped beat: the beat is the other bot's now).
            if self.run_lock is not None and not await self._unless_stopped(
                self.run_lock.still_held()
            ):
                break
            try:
                if not await self._unless_stopped(self._step(unfinished)):
                    unfinished = True  # cancelled mid-tick: the journal knows what to finish
                    break
                unfinished = False
            except ChainUnavailableError as exc:
                # RetryingChain already retried; the node is down for longer. Skip the tick,
                # keep the loop alive, and let the journal finish what the tick left behind.
                self.chain_failures += 1
                unfinished = True
                log.warning("tick skipped, the chain is unavailable: %s", exc)
                self._on_event(Event(self.clock.now(), None, "chain", f"tick skipped: {exc}"))
            if len(self._openings) < len(self.engine.accounts):  # a user added while running
                await self._note_openings()
            await self._beat()
            if on_tick is not None:
                on_tick(self)
            now = self.clock.now()
            if (
                self.network is not None
                and self.options.replay is None  # a replay is not continued: saved at its end
                and now - last_save >= SAVE_EVERY_SECONDS
            ):
                self.network.save(self.settings.sim_state_path)
                last_save = now
            if deadline is not None and now >= deadline:
                break
            await self._sleep(self.settings.poll_seconds)
        if started_up:
            await self._beat(stopped=True)  # no close request is taken from here on
        self.engine.market.save()  # the candles not written yet
        closing = self._closing_deadline()
        if unfinished:
            try:
                async with asyncio.timeout_at(closing):
                    await self._recover()
            except (ChainUnavailableError, TimeoutError) as exc:  # the next start finishes them
                log.warning("orders left for the next start, the chain is unavailable: %r", exc)
        if self.engine.reclaim is not None:  # a close a stop cut short: settled before the books
            try:
                async with asyncio.timeout_at(closing):
                    await self.engine.reclaim.closes.recover()
            except Exception as exc:  # housekeeping: never the stop's failure
                log.warning("account closes left for the next start: %r", exc)
        if self.network is not None:
            self.network.save(self.settings.sim_state_path)
        try:
            async with asyncio.timeout_at(closing):
                return await self.summary(started)
        except (ChainUnavailableError, TimeoutError) as exc:
            raise EnvironmentFaultError(
                f"stopped after {self.engine.stats.ticks} tick(s), without a summary: the chain "
                f"did not answer ({str(exc) or 'not in time'}); `solbot positions` shows the books"
            ) from None

    async def _start(self) -> None:
        """What comes before the first tick: warm-up candles, the journal's recovery, the bot."""
        if self._warm_up is not None:
            # Right before the engine loads the candles: on a fast sim clock, history written
            # earlier (during start-up) would end minutes before the first tick, leaving a gap.
            await self._warm_up()
        try:
            await self.engine.start()  # orders left in flight are settled first ...
            await self._settle_transfers()  # ... and withdrawals and fees, before the Telegram bot
            await self._note_openings()  # so what recovery settled is in the openings
        except ChainUnavailableError as exc:
            raise chain_down(self.settings, exc) from None
        if self.options.tune_gc:
            tune_collector()
        await self._beat()  # before the bot and the dashboard: a close request finds a loop
        if self.telegram is not None and not self.telegram.running:
            await self.telegram.start()
        if self.dashboard is not None and self.dashboard.url is None:
            await self.dashboard.start()

    async def _beat(self, *, stopped: bool = False) -> None:
        await beat(self.db, self.engine, self.clock, self.wall, stopped=stopped)

    async def _step(self, unfinished: bool) -> None:
        """One tick, after finishing what an earlier one left mid-way."""
        if unfinished or self.engine.needs_recovery:
            await self._recover()
            self.engine.needs_recovery = False
        await self.engine.tick()
        try:  # once a day: the days just ended, each user's fee; never at trading's expense
            if await self.fees.accrue_due():
                self._sweep_due = True
        except Exception as exc:  # the database's moment: the next tick tries again
            log.warning("performance fees not accrued this tick: %s", exc)
        if self.fee_sweeps is not None and self._sweep_due:
            await self._sweep_fees(self.fee_sweeps)
        if self.deposits is not None and self.clock.now() >= self._deposits_due:
            self._deposits_due = self.clock.now() + DEPOSIT_CHECK_SECONDS
            await self._tell_deposits(self.deposits)

    def _deposit_watch(self) -> DepositWatch:
        sol = self.settings.token_map().get("SOL")
        cash = {t.mint: t for t in (self.engine.quote, sol) if t is not None}
        thresholds = {
            mint: int(DEPOSIT_THRESHOLD_UNITS.get(t.symbol, Decimal(1)).scaleb(t.decimals))
            for mint, t in cash.items()
        }
        return DepositWatch(self.db, self.chain, list(cash.values()), thresholds)

    async def _tell_deposits(self, watch: DepositWatch) -> None:
        """Deposits since the last look, each told to its user (and the console)."""
        try:
            found = await watch.check(self._wallets(), self._openings)
        except Exception as exc:  # the chain's or the database's moment: the next look sees it
            log.warning("deposits not looked for this tick: %s", exc)
            return
        for deposit in found:
            event = Event(
                self.clock.now(), deposit.user_id, "deposit", deposit.text, deposit.username
            )
            self.engine.on_event(event)

    async def _sweep_fees(self, sweeps: FeeSweeps) -> None:
        """Pay the fees owed to the fee wallet: after each day's accrual, and at the first
        tick. Never at trading's expense: a pass takes at most `SWEEP_SECONDS_PER_TICK` before
        the next tick (the users not reached wait for the next pass), and a failure is told
        to the operator and tried again `SWEEP_RETRY_SECONDS` later (a crash mid-way is the
        journal's: the next start settles it)."""
        if self.wall.now() < self._sweep_retry_at:
            return
        try:
            results: list[Swept] = []
            if self._sweep_interrupted:  # the chain stopped answering mid-payment last time:
                names = {a.user_id: a.username or a.user_id for a in self.engine.accounts}
                results += [  # settled first, as a start would
                    Swept(row.user_id, names.get(row.user_id, row.user_id), row)
                    for row in await sweeps.recover()
                ]
            until = self.wall.now() + SWEEP_SECONDS_PER_TICK
            results += await sweeps.sweep_all(until=until)
        except SweepsHeldError as exc:  # after a restore: the operator's word, told once a day
            self._sweep_due = False
            self.engine.on_event(Event(self.clock.now(), None, "fee_failed", str(exc)))
            return
        except Exception as exc:  # a fee wallet gone bad, the chain or the database's moment
            self._sweep_retry_at = self.wall.now() + SWEEP_RETRY_SECONDS
            log.warning("performance fees not swept: %s", exc, exc_info=True)
            event = Event(self.clock.now(), None, "fee_failed", f"fees not paid: {exc}")
            self.engine.on_event(event)
            return
        for result in results:
            self._tell_sweep(result)
        skipped = [r.skipped or "" for r in results if r.row is None]
        self._sweep_interrupted = any(s.startswith(UNREACHED) for s in skipped)
        # Tried again soon: what the chain did not answer, and payments that failed before
        # anything was spent (an on-chain failure cost a fee: it waits for the next day).
        retry = self._sweep_interrupted or any(
            r.row is not None and not r.confirmed and r.row.fee_lamports is None for r in results
        )
        self._sweep_due = retry or LATER in skipped
        if retry:
            self._sweep_retry_at = self.wall.now() + SWEEP_RETRY_SECONDS

    def _tell_sweep(self, result: Swept) -> None:
        row = result.row
        if row is None:
            if result.skipped and result.skipped != "nothing is owed":
                log.info("fee of %s not swept: %s", result.username, result.skipped)
            return
        now = self.clock.now()
        amount = amount_text(row.atoms, row.decimals, row.symbol)
        if result.confirmed:
            text = f"performance fee of {amount} paid to the operator (transaction {row.signature})"
            self.engine.on_event(Event(now, row.user_id, "fee", text, result.username))
        else:
            text = f"{result.username}: fee payment of {amount} {row.state}: {row.error}"
            self.engine.on_event(Event(now, row.user_id, "fee_failed", text, result.username))

    async def _unless_stopped(self, step: Awaitable[None]) -> bool:
        """Run `step` to its end, unless a stop is asked for first: then it may finish within
        `STOP_GRACE_SECONDS` (wall time), else it is cancelled. True if it ran to its end.

        Cancelling is safe where it lands: the journal survives a kill at any point (the
        crash tests), and a cancellation is gentler (`finally` blocks run, transactions roll
        back). Without it a stop would wait for whatever the step waits on: a back-off of the
        Jupiter client or of `RetryingChain`, a history download, a server that never answers.
        """
        task = asyncio.ensure_future(step)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
            if not task.done():
                log.info("stop asked: cancelling the current step")
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return False
            task.result()  # its exception, if it raised one
            return True
        finally:
            stopper.cancel()
            if not task.done():  # we were cancelled ourselves
                task.cancel()

    def _closing_deadline(self) -> float | None:
        """When the closing work (finishing orders, the summary) must be done, on the loop's
        clock: within `CLOSING_SECONDS` after a stop, which must end within seconds even when
        the chain does not answer; no limit after a normal end."""
        if not self._stop.is_set():
            return None
        # Stopped while the node was failing: the summary would most likely fail too, and the
        # operator is waiting; it is still tried, briefly.
        down = bool(getattr(self.chain, "failing", False))
        return asyncio.get_running_loop().time() + (CLOSING_WHEN_DOWN if down else CLOSING_SECONDS)

    def _wallets(self) -> list[Wallet]:
        return [
            Wallet(a.user_id, a.username or a.user_id, a.signer.pubkey())
            for a in self.engine.accounts
        ]

    def _assets(self) -> Assets:
        traded = {t.mint for t in self.engine.tokens}
        paper = self.settings.paper
        return Assets(
            traded=self.engine.tokens,
            other=[t for t in self.settings.token_map().values() if t.mint not in traded],
            strict_cash=paper or self.settings.network == "sim",
        )

    async def _note_openings(self) -> None:
        """What each wallet not yet seen holds now: where its reconciliation starts."""
        assets = self._assets()
        for wallet in self._wallets():
            if wallet.user_id not in self._openings:
                self._openings[wallet.user_id] = await opening(
                    self.chain, wallet, assets, self.clock.now(), self.wall.now()
                )

    async def _settle_transfers(self) -> None:
        """Every withdrawal and fee sweep a previous process left in flight, settled and told:
        an event for the console and, through the Telegram notifier, for the user."""

        def tell(item: Recovered) -> None:
            event = Event(self.clock.now(), item.user_id, item.kind, item.text, item.username)
            self.engine.on_event(event)

        hook = crash_hook(self.settings, "withdrawal", "fee_sweep", "account_close")
        await recover_transfers(
            self.db, self.clock, self.chain, self.custody, tell, on_step=hook, wall=self.wall
        )

    async def _recover(self) -> None:
        """Finish every order a failed tick left mid-way, from the journal, as at start-up."""
        for account in self.engine.accounts:
            name = account.username or account.user_id
            for outcome in await self.engine.executor.recover(account.signer, account.user_id):
                text = recovered_text(outcome.order_id, outcome.state, outcome.error)
                log.info("recovered %s: %s", name, text)
                self._on_event(Event(self.clock.now(), account.user_id, "recovered", text, name))

    async def _sleep(self, seconds: float) -> None:
        """Sleep on the bot's clock, waking early when asked to stop."""
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sleeper, stopper):
            task.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)

    async def summary(self, started: float) -> Summary:
        stats = self.engine.stats
        quote = self.engine.quote
        held: list[Held] = []
        decimals = {t.mint: t.decimals for t in self.settings.token_map().values()}
        cash = Decimal(0)
        for account in self.engine.accounts:
            owner = account.signer.pubkey()
            async with self.db.session() as s:
                positions = await Positions(s, self.clock).all_open(account.user_id)
            for p in positions:
                on_chain = await holdings(self.chain, owner, Pubkey.from_string(p.mint))
                name = account.username or account.user_id
                held.append(Held(name, p.token, p.quantity, on_chain, decimals.get(p.mint, 0)))
            atoms = await holdings(self.chain, owner, Pubkey.from_string(quote.mint))
            cash += Decimal(atoms).scaleb(-quote.decimals)
        lines = await reconcile(
            self.db, self.chain, self._wallets(), self._assets(), self._openings
        )
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
            paper=self.settings.paper,
            reconciled=lines,
            quarantined=self.engine.guard.quarantined,
            moved_out=stats.moved_out,
            names={a.user_id: a.username or a.user_id for a in self.engine.accounts},
            costs_lamports=stats.costs_lamports,
        )

    async def close(self) -> None:
        await close_all(self._closers)


async def close_all(closers: list[Callable[[], object]]) -> None:
    """Run what a built bot must release, the last opened first."""
    for closer in reversed(closers):
        result = closer()
        if asyncio.iscoroutine(result):
            await result
