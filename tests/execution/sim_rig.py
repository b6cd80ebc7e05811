"""The real execution stack, in-process, on one `ManualClock`: the sim network (LiteSVM ledger,
seeded prices, market maker), `LiteSvmChain`, `JupiterClient` over httpx's ASGI transport to the
sim's Jupiter app, and a migrated SQLite journal in a temporary directory.

Faults are injected at the ports and through the executor's own `on_step` hook (called after
each journaled step), never by patching the executor: the chain and the HTTP transport run
hooks before and after each send or request. A hook may raise `SimulatedCrash` (the process
dies at that point: nothing after it runs, the journal keeps what it had), break or garble an
answer, or change the world (take the user's USDC away after signing). `Rig.executor()` starts
a new "process": a new `Database` and `JupiterClient` on the same journal and the same world.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import httpx
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from sqlalchemy import Select, select

from solbot.chain.litesvm import LiteSvmChain
from solbot.chain.port import AccountInfo, SignatureStatus, Simulation, TxCosts
from solbot.chain.rpc import RpcChain
from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.domain import TokenInfo
from solbot.execution.executor import Executor, SwapIntent
from solbot.execution.jupiter import DEFAULT_MAX_PRICE_IMPACT_PCT, JupiterClient
from solbot.execution.landing import LandingPolicy
from solbot.http_retry import RetryPolicy
from solbot.sim.maker_types import MakerConfig
from solbot.sim.network import SimNetwork
from solbot.sim.rpc_faults import Congestion
from solbot.sim.rpc_server import serve_rpc
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.states import OrderState, PositionStatus, Purpose, Route, Side
from solbot.store.tables import OrderRow, PositionRow, TradeRow
from solbot.store.users import Users
from solbot.wallet.keys import SigningKey

T0 = 1_800_000_000.0
SEED = 7
USER = "alice"
WALLET_SOL = 5
WALLET_USDC = 100_000
TOKENS: tuple[TokenInfo, ...] = tuple(t.to_domain() for t in DEFAULT_TOKENS)
MINTS = {t.symbol: t.mint for t in TOKENS}
DECIMALS = {t.symbol: t.decimals for t in TOKENS}
USDC = MINTS["USDC"]
TRADED = ("JUP", "BONK", "JTO")
NOT_TRADED_MINT = str(Pubkey.from_string("Stake11111111111111111111111111111111111111"))


OPEN, BUY, SELL = PositionStatus.OPEN.value, Side.BUY.value, Side.SELL.value
_Row = TypeVar("_Row")


class SimulatedCrash(Exception):  # noqa: N818 (a crash, not an error the code handles)
    """The process died at this point: nothing after it ran."""


TxHook = Callable[[VersionedTransaction], None]
RequestHook = Callable[[httpx.Request], httpx.Response | None]


class FaultyChain:
    """`LiteSvmChain` with hooks around `send`, and a node that may lag: until the clock reaches
    `statuses_hidden_until` it knows no signature (the other calls pass straight through)."""

    def __init__(self, inner: LiteSvmChain | RpcChain, clock: ManualClock) -> None:
        self.inner = inner
        self.clock = clock
        self.before_send: TxHook | None = None
        self.after_send: TxHook | None = None
        self.statuses_hidden_until = -math.inf
        self.sends = 0  # transactions that reached the ledger (landed or refused by it)

    async def balance(self, owner: Pubkey) -> int:
        return await self.inner.balance(owner)

    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        return await self.inner.token_balance(owner, mint)

    async def account(self, address: Pubkey) -> AccountInfo | None:
        return await self.inner.account(address)

    async def latest_blockhash(self) -> tuple[Hash, int]:
        return await self.inner.latest_blockhash()

    async def block_height(self) -> int:
        return await self.inner.block_height()

    async def send(self, tx: VersionedTransaction) -> Signature:
        if self.before_send is not None:
            self.before_send(tx)
        self.sends += 1
        signature = await self.inner.send(tx)
        if self.after_send is not None:
            self.after_send(tx)
        return signature

    async def statuses(self, signatures: Sequence[Signature]) -> list[SignatureStatus | None]:
        if self.clock.now() < self.statuses_hidden_until:
            return [None] * len(signatures)
        return await self.inner.statuses(signatures)

    async def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = True) -> Simulation:
        return await self.inner.simulate(tx, sig_verify=sig_verify)

    async def recent_fees(self, accounts: Sequence[Pubkey] = ()) -> list[int]:
        return await self.inner.recent_fees(accounts)

    async def costs(self, signature: Signature) -> TxCosts | None:
        return await self.inner.costs(signature)

    async def received(self, signature: Signature, owner: Pubkey, mint: Pubkey) -> int | None:
        return await self.inner.received(signature, owner, mint)


class FaultyTransport(httpx.AsyncBaseTransport):
    """The ASGI transport to the sim's Jupiter app, with hooks per URL path: `before` runs
    before the request reaches the app, `after` once the app has answered. A hook may raise
    (the answer is not delivered) or return a response, which is delivered instead (`before`:
    without asking the app at all). `rewrite` hooks turn the app's JSON answer into another (a
    venue that lies)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.before: dict[str, RequestHook] = {}
        self.after: dict[str, RequestHook] = {}
        self.rewrite: dict[str, Callable[[Any], Any]] = {}
        self.calls: dict[str, int] = {}  # requests that reached the app, per path

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        hook = self.before.get(path)
        replaced = hook(request) if hook is not None else None
        if replaced is not None:
            return replaced
        response = await self.inner.handle_async_request(request)
        self.calls[path] = self.calls.get(path, 0) + 1
        hook = self.after.get(path)
        if hook is not None:
            await response.aread()
            replaced = hook(request)
            if replaced is not None:
                return replaced
        rewrite = self.rewrite.get(path)
        if rewrite is not None and response.status_code == 200:
            body = json.loads(await response.aread())
            return httpx.Response(200, json=rewrite(body), request=request)
        return response


def crash(*_: object) -> NoReturn:
    """A hook: the process dies here."""
    raise SimulatedCrash


def drop_connection(request: httpx.Request) -> NoReturn:
    """A hook: the connection breaks before the answer arrives (the client may retry)."""
    raise httpx.ReadError("connection reset by peer", request=request)


def garble(request: httpx.Request) -> httpx.Response:
    """A hook: a proxy answers in the service's place with a page the client cannot read."""
    return httpx.Response(200, text="<html>upstream hiccup</html>", request=request)


def crash_at(state: OrderState) -> Callable[[OrderRow], None]:
    """An executor `on_step` hook: the process dies just after the journal recorded `state`."""

    def step(row: OrderRow) -> None:
        if row.state == state.value:
            raise SimulatedCrash

    return step


@dataclass
class Rig:
    clock: ManualClock
    net: SimNetwork
    db_url: str
    chain: FaultyChain
    transport: FaultyTransport
    signer: SigningKey
    _http: list[httpx.AsyncClient] = field(default_factory=list)
    _dbs: list[Database] = field(default_factory=list)
    _signals: int = 0

    @property
    def owner(self) -> Pubkey:
        return self.signer.pubkey()

    # ------------------------------------------------------------------ the bot's side
    def executor(
        self,
        route: Route,
        *,
        max_price_impact_pct: Decimal = DEFAULT_MAX_PRICE_IMPACT_PCT,
        on_step: Callable[[OrderRow], None] | None = None,
        landing: LandingPolicy | None = None,
        auto_route: bool = False,
    ) -> Executor:
        """A new process: its own database handle and Jupiter client, the same world."""
        http = httpx.AsyncClient(transport=self.transport, base_url="http://sim")
        self._http.append(http)
        jupiter = JupiterClient(
            http,
            self.clock,
            base_url="http://sim",
            requests_per_second=1000,
            max_price_impact_pct=max_price_impact_pct,
            retry=RetryPolicy(max_attempts=3, backoff=0.5, max_backoff=1.0),
        )
        db = Database(self.db_url)
        self._dbs.append(db)
        return Executor(
            db,
            jupiter,
            self.chain,
            self.clock,
            decimals={t.mint: t.decimals for t in TOKENS},
            route=route,
            poll_seconds=1.0,
            resend_seconds=1.0,
            on_step=on_step,
            landing=landing,
            auto_route=auto_route,
        )

    def buy(
        self,
        symbol: str,
        usdc: int,
        *,
        stop_frac: Decimal | None = None,
        target_frac: Decimal | None = None,
        user: str = USER,
    ) -> SwapIntent:
        """An entry: `user` spends `usdc` atoms of USDC on `symbol` (a new signal each time)."""
        self._signals += 1
        return SwapIntent(
            user_id=user,
            token=symbol,
            side=Side.BUY,
            input_mint=USDC,
            output_mint=MINTS[symbol],
            amount_in=usdc,
            purpose=Purpose.ENTRY,
            signal_key=f"{symbol}:candle-{self._signals}:entry",
            stop_frac=stop_frac,
            target_frac=target_frac,
        )

    def sell(
        self, symbol: str, quantity: int, position_id: str, *, into: str = "USDC"
    ) -> SwapIntent:
        """An exit: sell `quantity` atoms of `symbol` for `into` (USDC, or SOL), closing
        `position_id`."""
        return SwapIntent(
            user_id=USER,
            token=symbol,
            side=Side.SELL,
            input_mint=MINTS[symbol],
            output_mint=MINTS[into],
            amount_in=quantity,
            purpose=Purpose.EXIT,
            signal_key=f"exit:{position_id}",
            exit_reason="take_profit",
            position_id=position_id,
        )

    # ------------------------------------------------------------------ the world's side
    def balance(self, symbol: str) -> int:
        """The user's on-chain holding: lamports for SOL, token atoms otherwise."""
        ledger = self.net.ledger
        ledger.advance_to(self.clock.now())
        if symbol == "SOL":
            return ledger.balance(self.owner)
        return ledger.token_balance(self.owner, Pubkey.from_string(MINTS[symbol]))

    def holdings(self) -> dict[str, int]:
        return {s: self.balance(s) for s in ("SOL", "USDC", *TRADED)}

    def set_usdc(self, atoms: int) -> None:
        self.net.ledger.set_token_balance(self.owner, Pubkey.from_string(USDC), atoms)

    def pass_expiry(self) -> None:
        """Move time past any blockhash handed out so far (150 blocks of 0.4 s, and some)."""
        self.clock.advance(150 * 0.4 + 5.0)

    # ------------------------------------------------------------------ the journal
    async def orders(self) -> list[OrderRow]:
        return await self._all(select(OrderRow).order_by(OrderRow.created_at, OrderRow.id))

    async def order(self, order_id: str) -> OrderRow:
        (row,) = [o for o in await self.orders() if o.id == order_id]
        return row

    async def trades(self) -> list[TradeRow]:
        return await self._all(select(TradeRow).order_by(TradeRow.timestamp, TradeRow.id))

    async def positions(self) -> list[PositionRow]:
        return await self._all(select(PositionRow).order_by(PositionRow.entry_time))

    async def _all(self, stmt: Select[tuple[_Row]]) -> list[_Row]:
        db = Database(self.db_url)
        try:
            async with db.session() as s:
                return list(await s.scalars(stmt))
        finally:
            await db.dispose()

    async def check_books(self) -> None:
        """What must hold after any scenario: the open positions are what the chain holds, to
        the atom; one trade per confirmed order and none for any other; no intent filled
        twice (each order's fill is the maker's quote, and the chain agrees)."""
        orders, trades, positions = await self.orders(), await self.trades(), await self.positions()
        confirmed = [o for o in orders if o.state == OrderState.CONFIRMED.value]
        assert sorted(t.order_id for t in trades) == sorted(o.id for o in confirmed)
        for o in confirmed:
            assert o.filled_in == o.amount_in
            assert o.filled_out == o.quoted_out  # the maker pays its quote, and only once
        for symbol in TRADED:
            held = self.balance(symbol)
            open_qty = sum(p.quantity for p in positions if p.token == symbol and p.status == OPEN)
            assert open_qty == held, f"{symbol}: open positions {open_qty}, chain {held}"
            bought = sum(
                o.filled_out or 0 for o in confirmed if o.token == symbol and o.side == BUY
            )
            sold = sum(o.filled_in or 0 for o in confirmed if o.token == symbol and o.side == SELL)
            assert bought - sold == held, f"{symbol}: fills {bought} - {sold}, chain {held}"

    async def close(self) -> None:
        for http in self._http:
            await http.aclose()
        for db in self._dbs:
            await db.dispose()


@asynccontextmanager
async def make_rig(
    tmp_path: Path,
    db_url: str | None = None,
    *,
    congestion: Congestion | None = None,
    maker: MakerConfig | None = None,
) -> AsyncIterator[Rig]:
    """A fresh world and journal (in `tmp_path`, or the database at `db_url`: the tests'
    `db_url` fixture, on both backends), closed afterwards. With `congestion`, the bot talks to
    the sim as to a cluster: JSON-RPC over 127.0.0.1 (`RpcChain` to the sim's server, busy as
    `congestion` says) and a Jupiter whose `/build` prices read the same fees. `maker`: how
    the sim's maker prices and who pays on `/order`."""
    clock = ManualClock(T0)
    net = SimNetwork.create(
        tokens=TOKENS,
        clock=clock,
        seed=SEED,
        history_seconds=600.0,
        wallet_sol=WALLET_SOL,
        wallet_usdc=WALLET_USDC,
        maker_config=maker,
    )
    url = db_url or f"sqlite:///{tmp_path / 'journal.db'}"
    await schema.prepare(url)
    db = Database(url)
    async with db.session() as s:  # the orders' user
        await Users(s, clock).ensure_external(USER, USER, str(net.wallet.pubkey()))
    await db.dispose()
    server = inner = None
    if congestion is not None:
        server = await serve_rpc(net.ledger, clock, congestion=congestion)
        inner = RpcChain(server.url)
    rig = Rig(
        clock=clock,
        net=net,
        db_url=url,
        chain=FaultyChain(inner or LiteSvmChain(net.ledger, clock), clock),
        transport=FaultyTransport(httpx.ASGITransport(app=net.jupiter_app(congestion))),
        signer=SigningKey(net.wallet),
    )
    try:
        yield rig
    finally:
        await rig.close()
        if inner is not None and server is not None:
            await inner.close()
            await server.stop()
