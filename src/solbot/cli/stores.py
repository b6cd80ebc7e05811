"""What the operator commands open: the database (at the current schema), the custody service
with the master key from the environment, and a read view of the chain for balances.

The database, the custody service and the chain adapters (solana-py, the sim's LiteSVM world)
are imported when a command opens them, not when the `solbot` command starts: `solbot --help`
or a typo should not wait for SQLAlchemy, Alembic and solders to load."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from rich.console import Console

from solbot.clock import Clock, ManualClock, WallClock
from solbot.errors import EnvironmentFaultError, UserError

if TYPE_CHECKING:
    from solbot.chain.port import Chain
    from solbot.config import Settings
    from solbot.services.custody import CustodyService
    from solbot.store.db import Database
    from solbot.store.run_lock import RunLock


def clock() -> Clock:
    """The clock commands read 'now' from (tests substitute a manual one)."""
    return WallClock()


def console() -> Console:
    """Output for people; a pipe or a file gets wide lines, so tables keep whole addresses."""
    out = Console(soft_wrap=True, highlight=False)
    if not out.is_terminal:
        out = Console(soft_wrap=True, highlight=False, width=160)
    return out


def log_file(settings: Settings, *, verbose: bool = False) -> None:
    """Log to the world's file (JSON lines, 0600) for a long-running command, opened again on
    SIGHUP so logrotate can move it (see `solbot.logs`). The file is made by the first line: a
    command that stops at a configuration error leaves none behind."""
    from solbot.logs import log_to_file, reopen_on_hangup

    log_to_file(settings.log_path, verbose=verbose, level=settings.log_level, delay=True)
    reopen_on_hangup()


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The world's database at the schema this code needs: a new one is created (and marked
    with its world), an old one refused with the command that upgrades it, one of another
    world refused with where to point instead (see `schema.prepare`)."""
    from solbot.store import schema
    from solbot.store.db import Database

    url = settings.database
    await schema.prepare(url, settings.world, settings.world_hints())
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def custody(
    settings: Settings, *, need_key: bool = True, emergency: bool = False
) -> AsyncIterator[CustodyService]:
    """The custody service on the database. `need_key=False`: the master key if set;
    `emergency` also goes on without one that cannot be read (a pause must always work), and
    the service knows why it has none."""
    from solbot.services.custody import CustodyService
    from solbot.wallet import master

    problem = None
    if need_key:
        key = master.require()
    else:
        try:
            key = master.from_environment()
        except UserError as exc:
            if not emergency:
                raise
            key, problem = None, str(exc)
    async with database(settings) as db:
        yield CustodyService(
            db, clock(), key, limits=settings.decrypt_limits(), key_problem=problem
        )


@contextlib.asynccontextmanager
async def chain_view(settings: Settings) -> AsyncIterator[tuple[Chain | None, str]]:
    """A chain to read balances from, and a note on where they come from. On the embedded sim
    that is the saved world (as the last `solbot run` left it); None when there is none yet."""
    from solbot.chain.litesvm import LiteSvmChain
    from solbot.chain.rpc import RpcChain
    from solbot.sim.network import SimNetwork

    if settings.network == "sim" and not settings.rpc_url:
        path = settings.sim_state_path
        if not path.exists():
            yield None, "no sim world yet (`solbot run` creates it)"
            return
        saved = SimNetwork.saved_time(path) or 0.0
        sim_clock = ManualClock(saved)
        tokens = list(settings.token_map().values())
        network = SimNetwork.load(path, tokens=tokens, clock=sim_clock, writable=False)
        yield LiteSvmChain(network.ledger, sim_clock), "balances as the sim world was last saved"
        return
    if not settings.rpc:
        raise UserError("set SOLBOT_RPC_URL to read balances on this network")
    rpc = RpcChain(settings.rpc)
    try:
        with _reachable(settings):
            yield rpc, f"balances from {settings.network}"
    finally:
        await rpc.close()


MOVES_MONEY = "a solbot command that moves money"


@contextlib.asynccontextmanager
async def money_lock(settings: Settings) -> AsyncIterator[RunLock]:
    """The database's run lock for a command that moves money (`withdraw`, `cleanup`, `fees
    sweep`, `telegram`): it settles first what a dead process left in flight, and a running
    bot's transfers are not a dead process's."""
    from solbot.store import run_lock

    lock = await run_lock.acquire(
        settings.database,
        what=MOVES_MONEY,
        doing=": wait for it to end, or stop it (a command that moves money must have the "
        "database to itself; with a bot running, friends withdraw in Telegram)",
    )
    try:
        yield lock
    finally:
        await lock.release()


@contextlib.asynccontextmanager
async def writable_chain(
    settings: Settings, *, locked: RunLock | None = None
) -> AsyncIterator[tuple[Chain, Clock]]:
    """A chain to send transactions on, and the clock to wait on, for a command that moves
    money, holding `money_lock` meanwhile (`locked`: the caller holds it already). The
    embedded sim's world is locked too (no `solbot run` may own it meanwhile), changed, and
    saved back."""
    if locked is not None:
        async with _chain(settings) as opened:
            yield opened
        return
    async with money_lock(settings), _chain(settings) as opened:
        yield opened


@contextlib.asynccontextmanager
async def _chain(settings: Settings) -> AsyncIterator[tuple[Chain, Clock]]:
    from solbot.chain.litesvm import LiteSvmChain
    from solbot.chain.rpc import RpcChain
    from solbot.sim.lock import SimLock
    from solbot.sim.network import SimNetwork

    if settings.network == "sim" and not settings.rpc_url:
        path = settings.sim_state_path
        if not path.exists():
            raise UserError("no sim world yet: `solbot run` creates it")
        lock = SimLock.acquire(path)
        try:
            sim_clock = ManualClock(SimNetwork.saved_time(path) or 0.0)
            tokens = list(settings.token_map().values())
            network = SimNetwork.load(path, tokens=tokens, clock=sim_clock)
            try:  # every change is journaled as it happens; the save folds the journal in
                yield LiteSvmChain(network.ledger, sim_clock), sim_clock
            finally:  # a command that failed may still have moved money (a recovery) first
                network.save(path)
                network.close()
        finally:
            lock.release()
        return
    if not settings.rpc:
        raise UserError("set SOLBOT_RPC_URL to send transactions on this network")
    rpc = RpcChain(settings.rpc)
    try:
        with _reachable(settings):
            yield rpc, WallClock()
    finally:
        await rpc.close()


@contextlib.contextmanager
def _reachable(settings: Settings) -> Iterator[None]:
    """A command that needs the chain stops in one line when its RPC cannot be reached (the
    trading loop waits an outage out instead; a command has nothing to wait for)."""
    from solbot.chain.port import ChainUnavailableError

    try:
        yield
    except ChainUnavailableError as exc:
        raise EnvironmentFaultError(
            f"the Solana RPC at {settings.rpc} is unavailable ({exc}): check SOLBOT_RPC_URL "
            "and the network"
        ) from None
