"""One tick for 20 tokens, from closed candles to signed, executed swaps, in the embedded sim.

Every token's candle closes in the same tick and every one signals an entry, so the tick
computes 20 signals, passes 20 entries through the risk gate, and drives 20 orders through the
whole journaled lifecycle (quote over the Jupiter-shaped API, own-slot signing, execution by the
Solana runtime in LiteSVM, settlement from balances, position and trade rows in SQLite).

Printed next to it, measured in the same run: the cost of one ed25519 signature
(`solders.Keypair.sign_message`), the unit the target is stated in: per-order overhead under 20
signatures' worth. Medians of `--repeats` ticks, each on a fresh world: "cold" is the world's
first trading tick, "warm" the third (after one entry and one exit per token), as in a bot that
has been running.

Each line also says what an order cost the wallet: the lamports it paid during the tick
(network and priority fees, and on a cold tick the rent of new token accounts) and the fee
Jupiter's `/order` names (`/build` and legacy v1 charge none; the maker's spread is in the
price on every route alike). `/order` is gasless in the sim: the maker pays the network fee.

Run: `python benchmarks/tick.py [--tokens 20] [--repeats 5]`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import httpx
import numpy as np
from solders.keypair import Keypair

from solbot.accounts import Account
from solbot.chain.litesvm import LiteSvmChain
from solbot.chain.port import Chain
from solbot.clock import ManualClock
from solbot.domain import CandleSeries, ExitRules, RiskLimits, Signals, Timeframe, TokenInfo
from solbot.engine import Engine
from solbot.execution.executor import Executor
from solbot.execution.jupiter import HttpRequester, JupiterClient
from solbot.market.feeds.jupiter_price import JupiterPriceFeed
from solbot.market.store import CandleStore
from solbot.risk import RiskGate
from solbot.runtime import tune_collector
from solbot.sim.jupiter_http import InProcessJupiter
from solbot.sim.network import SimNetwork
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.states import Route
from solbot.store.users import Users
from solbot.strategy.base import Strategy, StrategyParams
from solbot.wallet.keys import SigningKey

START = 1_800_000_000.0
TF = Timeframe.M1
T = TypeVar("T")


class EnterEverything(Strategy):
    """Signals an entry on every closed candle: the worst case for one tick."""

    name: ClassVar[str] = "enter_everything"
    summary: ClassVar[str] = "benchmark only"
    Params = StrategyParams

    @property
    def warmup(self) -> int:
        return 0

    def compute(self, series: CandleSeries) -> Signals:
        n = len(series)
        return Signals(
            np.ones(n, dtype=bool), np.zeros(n, dtype=bool), np.full(n, 0.05), np.full(n, np.nan)
        )


class EnterOnEvenBars(EnterEverything):
    """Enters on bars whose minute is even and exits on the others: a bot that has already
    traded once (enter, exit) when the measured tick enters again, with its caches warm."""

    name: ClassVar[str] = "enter_on_even_bars"

    def compute(self, series: CandleSeries) -> Signals:
        even = (np.asarray(series.open_time) // 60) % 2 == 0
        n = len(series)
        return Signals(even, ~even, np.full(n, 0.05), np.full(n, np.nan))


def tokens(count: int, liquidity_usd: float = 5_000_000.0) -> list[TokenInfo]:
    """USDC (the quote), SOL (the maker pays fees in it) and `count` made-up tokens whose
    modelled pools hold `liquidity_usd` (the maker's depth and inventory follow it)."""
    depth = max(5e7, liquidity_usd)
    usdc = TokenInfo("USDC", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6, "", depth)
    sol = TokenInfo("SOL", "So11111111111111111111111111111111111111112", 9, "", depth)
    made = [
        TokenInfo(f"T{i:02d}", str(Keypair().pubkey()), 6, "", liquidity_usd) for i in range(count)
    ]
    return [usdc, sol, *made]


class Stopwatch:
    """Seconds spent inside the world the bot talks to: the venue (the sim maker behind its
    HTTP API, including LiteSVM executing v2 swaps) and the chain (balance reads, v1 sends)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    async def time(self, call: Awaitable[T]) -> T:
        began = time.perf_counter()
        try:
            return await call
        finally:
            self.seconds += time.perf_counter() - began


class TimedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, watch: Stopwatch) -> None:
        self.inner, self.watch = inner, watch

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.watch.time(self.inner.handle_async_request(request))


class TimedRequester:
    """The embedded sim's in-process Jupiter (`InProcessJupiter`) with every request timed."""

    def __init__(self, inner: InProcessJupiter, watch: Stopwatch) -> None:
        self.inner, self.watch = inner, watch

    async def request(self, method: str, url: httpx.URL, **kwargs: Any) -> httpx.Response:
        return await self.watch.time(self.inner.request(method, url, **kwargs))


def timed_venue(
    network: SimNetwork, clock: ManualClock, venue: str, watch: Stopwatch
) -> JupiterClient:
    """A Jupiter client on the sim whose time inside the venue `watch` adds up: `venue` is
    "in-process" (what `solbot run` embeds) or "http" (httpx's ASGI transport, as before)."""
    http: HttpRequester
    if venue == "http":
        transport = TimedTransport(httpx.ASGITransport(app=network.jupiter_app()), watch)
        http = httpx.AsyncClient(transport=transport, base_url="http://sim")
    else:
        http = TimedRequester(network.jupiter_in_process(), watch)
    return JupiterClient(http, clock, base_url="http://sim", requests_per_second=1e9)


VENUES = ("in-process", "http")


class TimedChain:
    """`LiteSvmChain` with every call timed."""

    def __init__(self, inner: LiteSvmChain, watch: Stopwatch) -> None:
        self.inner, self.watch = inner, watch

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.inner, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            return await self.watch.time(method(*args, **kwargs))

        return timed


@dataclass(frozen=True)
class TickFigures:
    seconds: float  # the whole tick
    outside: float  # of which inside the venue and the chain
    confirmed: int
    lamports: int  # what the wallet paid in SOL during the tick (network fees, new accounts)
    venue_fee_bps: float  # the fee the venue charged on each order, by its quotes


async def one_tick(
    count: int,
    route: Route,
    folder: Path,
    local_sqlite: bool = True,
    warm: bool = False,
    venue: str = "in-process",
) -> TickFigures:
    """The tick that fires `count` entries, from its start to the last fill: its time, the part
    spent outside the bot, and how many orders confirmed. Orders are taken one at a time
    within the group (concurrency 1), so that time inside the venue is never time the bot
    spent on another order meanwhile.

    Cold (default): the world's first trading tick, so it also pays what a process does once
    (SQLAlchemy compiling each statement, first requests, address derivations). `warm`: the
    bot first enters all `count` tokens and exits them again, one candle each; the tick
    measured is the third close, when a running bot's caches are what they always are."""
    every = tokens(count)  # USDC (the quote), SOL (the maker pays fees in it), the traded ones
    clock = ManualClock(START)
    network = SimNetwork.create(
        tokens=every,
        clock=clock,
        seed=1,
        history_seconds=3600,
        wallet_sol=10,
        wallet_usdc=1_000_000,
    )
    network.save(folder / f"sim-{route.value}.json")  # as `solbot run` does: journaled
    traded = every[2:]
    url = f"sqlite:///{folder / f'bench-{route.value}.db'}"
    await schema.prepare(url)
    db = Database(url, local_sqlite=local_sqlite)
    async with db.session() as s:
        await Users(s, clock).ensure_external("bench", "bench", str(network.wallet.pubkey()))
    watch = Stopwatch()
    jupiter = timed_venue(network, clock, venue, watch)
    chain = cast(Chain, TimedChain(LiteSvmChain(network.ledger, clock), watch))
    executor = Executor(
        db, jupiter, chain, clock, decimals={t.mint: t.decimals for t in every}, route=route
    )
    limits = RiskLimits(
        position_size_pct=1.0, max_position_pct=1.0, max_open_positions=count, cooldown_losses=0
    )
    account = Account(
        "bench", SigningKey(network.wallet), RiskGate(limits, 1_000_000.0, clock.now())
    )
    engine = Engine(
        tokens=traded,
        quote=every[0],
        strategy=EnterOnEvenBars() if warm else EnterEverything(),
        feed=JupiterPriceFeed(jupiter),
        executor=executor,
        chain=chain,
        db=db,
        clock=clock,
        exits=ExitRules(),
        timeframe=TF,
        accounts=[account],
        store=CandleStore(folder / "candles"),
    )
    engine.group.concurrency = 1
    await engine.start()
    tune_collector()  # as `solbot run` does once the engine has started
    await engine.tick()  # opens the first candle of every token (START's minute is even)
    if warm:
        for _ in range(2):  # an entry into every token, then an exit from every one
            clock.advance(TF.seconds)
            await engine.tick()
        if engine.stats.entries != count or engine.stats.exits != count:
            raise SystemExit(f"warm-up traded {engine.stats.entries} in, {engine.stats.exits} out")
    clock.advance(TF.seconds)
    entries_before = engine.stats.entries
    watch.seconds = 0.0
    sol_before = network.ledger.balance(network.wallet.pubkey())
    last_fill: list[float] = []
    engine.on_event = lambda e: last_fill.append(time.perf_counter()) if e.kind == "entry" else None
    began = time.perf_counter()
    await engine.tick()  # closes them: 20 signals, 20 entries (then stores the candles)
    elapsed = (last_fill[-1] if last_fill else time.perf_counter()) - began
    paid = sol_before - network.ledger.balance(network.wallet.pubkey())
    # /order quotes name the venue's fee (feeBps); /build and v1 charge none of Jupiter's (the
    # maker's spread is in the price on every route alike)
    fee_bps = network.maker.config.fee_bps if route is Route.V2 else 0.0
    await db.dispose()
    return TickFigures(elapsed, watch.seconds, engine.stats.entries - entries_before, paid, fee_bps)


def seconds_per_call(call: Callable[[], object], samples: int) -> float:
    """Mean seconds of `call` over `samples` calls in a row."""
    began = time.perf_counter()
    for _ in range(samples):
        call()
    return (time.perf_counter() - began) / samples


def signature_seconds(samples: int = 20_000) -> float:
    key, message = Keypair(), bytes(range(256)) * 4
    return seconds_per_call(lambda: key.sign_message(message), samples)


def report_signature() -> float:
    """One ed25519 signature (median of 3 runs), printed: the unit the targets are stated in."""
    sign = statistics.median(signature_seconds() for _ in range(3))
    print(f"ed25519 signature (solders Keypair.sign_message, 1 KiB): {sign * 1e6:.1f} µs")
    return sign


def ticks(
    count: int, repeats: int, route: Route, *, local: bool, warm: bool, venue: str
) -> list[TickFigures]:
    """`repeats` measured ticks of `count` entries, each on a fresh world."""
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            figures = asyncio.run(
                one_tick(count, route, Path(folder), local_sqlite=local, warm=warm, venue=venue)
            )
        if figures.confirmed != count:
            raise SystemExit(f"only {figures.confirmed} of {count} orders confirmed")
        runs.append(figures)
    return runs


def report_marginal(tokens: int, repeats: int, sign: float) -> None:
    """What one more order in a tick costs the bot: the slope of its own time (warm, v2)
    between ticks of `tokens / 2` and `2 * tokens` entries. The rest of a tick's own time
    does not grow with its orders (price poll, candle closes, one commit per journal step)."""
    small, large = max(1, tokens // 2), 2 * tokens
    own = {}
    for count in (small, large):
        runs = ticks(count, repeats, Route.V2, local=True, warm=True, venue="in-process")
        own[count] = statistics.median(r.seconds - r.outside for r in runs)
    slope = (own[large] - own[small]) / (large - small)
    fixed = own[small] - slope * small
    print(
        f"route v2 (warm), per order added to a tick (own time {own[small] * 1e3:.1f} ms with "
        f"{small} entries, {own[large] * 1e3:.1f} ms with {large}): {slope * 1e3:.2f} ms = "
        f"{slope / sign:.0f} signatures; the rest, {fixed * 1e3:.1f} ms a tick, does not grow "
        "with the orders"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sign = report_signature()
    variants = [  # (route, SQLite on the loop's thread, warm, venue)
        (Route.V2, True, False, "in-process"),
        (Route.BUILD, True, False, "in-process"),
        (Route.V1, True, False, "in-process"),
        (Route.V2, True, False, "http"),
        (Route.V1, True, False, "http"),
        (Route.V2, False, False, "in-process"),
        (Route.V2, True, True, "in-process"),
        (Route.BUILD, True, True, "in-process"),
        (Route.V1, True, True, "in-process"),
    ]
    for route, local, warm, venue in variants:
        runs = ticks(args.tokens, args.repeats, route, local=local, warm=warm, venue=venue)
        tick = statistics.median(r.seconds for r in runs)
        own = statistics.median((r.seconds - r.outside) / args.tokens for r in runs)
        per_order = tick / args.tokens
        how = ("warm" if warm else "cold") + ("" if local else ", SQLite through aiosqlite")
        how += ", venue over HTTP (ASGI)" if venue == "http" else ""
        print(
            f"route {route.value} ({how}): tick with {args.tokens} entries {tick * 1e3:.1f} ms "
            f"(median of {args.repeats}); per order {per_order * 1e3:.2f} ms, of which the "
            f"bot's own (outside the venue and the chain) {own * 1e3:.2f} ms = "
            f"{own / sign:.0f} signatures (target < 20); the wallet paid "
            f"{statistics.median(r.lamports for r in runs) / args.tokens:,.0f} lamports an order "
            f"in SOL, Jupiter's fee {runs[0].venue_fee_bps:g} bps"
        )
    report_marginal(args.tokens, args.repeats, sign)


if __name__ == "__main__":
    main()
