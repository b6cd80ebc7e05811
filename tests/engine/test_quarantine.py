"""Orders that keep failing, end to end on the embedded sim (both databases): they back off on
the bot's clock and are quarantined after N attempts, with one alert; a re-arm lets them go
again; a restart forgets nothing. And positions whose tokens left the wallet are closed as
"moved out" from what the chain holds, without an order for tokens that are not there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select, update

from solbot.clock import ManualClock
from solbot.domain import RiskLimits
from solbot.events import Event
from solbot.execution.signing import Signer
from solbot.quarantine import ANY, BackoffPolicy, OrderGuard
from solbot.sim.network import SimNetwork
from solbot.store.holds import OrderHolds
from solbot.store.orders import Orders
from solbot.store.states import OrderState, Side
from solbot.store.tables import OrderRow, PositionRow
from solbot.wallet.decrypt_guard import DecryptGuard
from solbot.wallet.master import MasterKey
from solbot.wallet.vault import Vault

from .small_world import TF, SmallWorld, small_world

POLICY = BackoffPolicy(first_delay=10.0, max_delay=80.0, max_attempts=5)
POLL = 10.0  # seconds of bot time between ticks, as `solbot run` polls by default


class Refusing(httpx.AsyncBaseTransport):
    """The sim's Jupiter app, refusing to quote swaps out of `mint` for one wallet (as a venue
    refuses an order it cannot route): that position's exits fail, nothing else does."""

    def __init__(self, network: SimNetwork) -> None:
        self.inner = httpx.ASGITransport(app=network.jupiter_app())
        self.refused: tuple[str, str] | None = None  # (taker, input mint)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if (
            request.url.path == "/swap/v2/order"
            and (params.get("taker"), params.get("inputMint")) == self.refused
        ):
            return httpx.Response(400, json={"error": "no route for this order"})
        return await self.inner.handle_async_request(request)


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
async def world(tmp_path: Path, db_url: str, events: list[Event]) -> AsyncIterator[SmallWorld]:
    """Two users, JUP and BONK, a strategy that enters on every bar; both users hold JUP."""
    built = await small_world(
        tmp_path,
        users=2,
        limits=RiskLimits(position_size_pct=1.0, max_position_pct=1.0, max_open_positions=50),
        symbols=("JUP",),
        venue=lambda network, _clock: network.jupiter_in_process(),
        on_event=events.append,
        url=db_url,
        backoff=POLICY,
    )
    await built.engine.tick()  # opens the first candle
    built.clock.advance(TF.seconds)
    await built.engine.tick()  # it closes: both users buy JUP
    assert {p.user_id for p in await open_positions(built)} == {"u0", "u1"}
    yield built
    await built.db.dispose()


async def open_positions(world: SmallWorld, user: str | None = None) -> list[PositionRow]:
    async with world.db.session() as s:
        stmt = select(PositionRow).where(PositionRow.status == "open")
        if user is not None:
            stmt = stmt.where(PositionRow.user_id == user)
        return list(await s.scalars(stmt))


async def orders_of(world: SmallWorld, user: str, token: str = "JUP") -> list[OrderRow]:
    async with world.db.session() as s:
        stmt = select(OrderRow).where(OrderRow.user_id == user, OrderRow.token == token)
        return list(await s.scalars(stmt.order_by(OrderRow.created_at)))


async def stop_out(world: SmallWorld, user: str) -> None:
    """Move the user's stops above the price: every tick from now on wants to sell."""
    async with world.db.session() as s:
        await s.execute(
            update(PositionRow)
            .where(PositionRow.user_id == user, PositionRow.status == "open")
            .values(stop_loss=Decimal(10**6))
        )


async def ticks(world: SmallWorld, n: int, every: float = POLL) -> None:
    for _ in range(n):
        world.clock.advance(every)
        await world.engine.tick()


def unopenable(signer: Signer, clock: ManualClock) -> Signer:
    """The user's wallet behind a sealed key that does not open (sealed for another wallet):
    every signature fails, as for a user whose stored key was damaged."""
    vault = Vault(MasterKey.generate(), DecryptGuard())  # limits on the wall clock
    sealed, _ = vault.adopt("u1", Keypair())
    return vault.signer("u1", str(signer.pubkey()), sealed.sealed)


def new_orders(before: list[OrderRow], after: list[OrderRow]) -> list[OrderRow]:
    seen = {o.id for o in before}
    return [o for o in after if o.id not in seen]


# ---------------------------------------------------------------------------------- back-off
async def test_a_user_whose_key_cannot_sign_backs_off_is_quarantined_once_and_rearmed(
    world: SmallWorld, events: list[Event]
) -> None:
    engine = world.engine
    u1 = engine.accounts[1]
    good = u1.signer
    u1.signer = unopenable(good, world.clock)
    await stop_out(world, "u1")
    await stop_out(world, "u0")
    before = await orders_of(world, "u1")

    await ticks(world, 360)  # an hour of bot time, a tick every 10 s

    tried = new_orders(before, await orders_of(world, "u1"))
    # Today's loop sent one exit per tick (360); now the attempts wait 10, 20, 40, 80 s.
    assert len(tried) == POLICY.max_attempts
    assert all(o.state == "failed" and "not signed" in (o.error or "") for o in tried)
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in pairwise(tried)]
    for n, gap in enumerate(gaps, start=1):  # the first tick after each wait is over
        assert POLICY.delay(n) <= gap < POLICY.delay(n) + POLL + 5, gaps
    alerts = [e for e in events if e.kind == "quarantined"]
    assert len(alerts) == 1
    assert alerts[0].user_id == "u1"
    assert "user_1: all trading quarantined" in alerts[0].text
    assert "not signed" in alerts[0].text
    hold = engine.guard.hold("u1", ANY, ANY)
    assert hold is not None
    assert hold.quarantined
    # The other user was never held up: their stop sold, and they bought again on a signal.
    u0 = await orders_of(world, "u0")
    assert [o.side for o in u0 if o.state == "confirmed"][:3] == ["buy", "sell", "buy"]
    assert not [o for o in u0 if o.state != "confirmed"]
    assert engine.guard.hold("u0", "JUP", Side.SELL) is None

    # A restart (a new guard on the same database) keeps the quarantine and does not re-alert.
    engine.guard = OrderGuard(world.db, world.clock, POLICY)
    await engine.guard.load()
    await ticks(world, 60)
    assert len(new_orders(before, await orders_of(world, "u1"))) == POLICY.max_attempts
    assert len([e for e in events if e.kind == "quarantined"]) == 1

    # The operator repairs the key and re-arms (`solbot rearm -u user_1`): the stop sells.
    u1.signer = good
    async with world.db.session() as s:
        await OrderHolds(s, world.clock).clear("u1")
    await ticks(world, 1)
    assert not await open_positions(world, "u1")
    (last,) = new_orders(before, await orders_of(world, "u1"))[POLICY.max_attempts :]
    assert last.state == "confirmed"
    assert engine.guard.hold("u1", ANY, ANY) is None


async def test_a_position_whose_exits_keep_failing_is_quarantined_alone(
    tmp_path: Path, db_url: str, events: list[Event]
) -> None:
    transports: list[Refusing] = []

    def venue(network: SimNetwork, _clock: object) -> httpx.AsyncClient:
        transports.append(Refusing(network))
        return httpx.AsyncClient(transport=transports[0], base_url="http://sim")

    world = await small_world(
        tmp_path,
        users=2,
        limits=RiskLimits(position_size_pct=1.0, max_position_pct=1.0, max_open_positions=50),
        symbols=("JUP", "BONK"),
        venue=venue,
        on_event=events.append,
        url=db_url,
        backoff=POLICY,
    )
    try:
        await world.engine.tick()
        world.clock.advance(TF.seconds)
        await world.engine.tick()  # both users buy JUP and BONK
        transports[0].refused = (world.wallets[1], world.network.token("JUP").mint)
        await stop_out(world, "u1")
        before = await orders_of(world, "u1")
        await ticks(world, 360)
        jup = new_orders(before, await orders_of(world, "u1"))
        assert len(jup) == POLICY.max_attempts
        assert all(o.state == "failed" for o in jup)
        (alert,) = [e for e in events if e.kind == "quarantined"]
        assert alert.user_id == "u1"
        assert "user_1: JUP exits quarantined" in alert.text
        assert "no route for this order" in alert.text
        # Only that position: u1's BONK stop sold at once, and u1 bought BONK again later.
        bonk = await orders_of(world, "u1", "BONK")
        assert [o.side for o in bonk][:3] == ["buy", "sell", "buy"]
        assert {o.state for o in bonk} == {"confirmed"}
        (jup_position,) = [p for p in await open_positions(world, "u1") if p.token == "JUP"]
        assert {o.position_id for o in jup} == {jup_position.id}  # still open, still held
        assert world.engine.guard.allows("u1", "JUP", Side.BUY)
        assert world.engine.guard.allows("u1", "BONK", Side.SELL)
        assert [h.token for h in world.engine.guard.quarantined] == ["JUP"]

        # Then the user withdraws the tokens themselves: the quarantined position is still
        # held against the wallet, closes as moved out, and its hold goes with it.
        await move_tokens(world, 1, keep=0)
        await ticks(world, 2, every=world.engine.moved_out.every)
        async with world.db.session() as s:
            row = await s.get(PositionRow, jup_position.id, populate_existing=True)
            left = await OrderHolds(s, world.clock).all("u1")
        assert row is not None
        assert (row.status, row.exit_reason) == ("closed", "moved_out")
        assert world.engine.guard.quarantined == []
        assert left == []
        sells = [o for o in new_orders(before, await orders_of(world, "u1")) if o.side == "sell"]
        assert len(sells) == POLICY.max_attempts  # nothing sent for the tokens that left
    finally:
        await world.db.dispose()


# ---------------------------------------------------------------------------------- moved out
async def move_tokens(world: SmallWorld, user: int, keep: int) -> int:
    """Leave `keep` atoms of JUP in the user's wallet, directly on the sim ledger (what a
    withdrawal with the exported key does); how many atoms the books say it holds."""
    owner = Pubkey.from_string(world.wallets[user])
    mint = Pubkey.from_string(world.network.token("JUP").mint)
    (position,) = [p for p in await open_positions(world, f"u{user}") if p.token == "JUP"]
    assert world.network.ledger.token_balance(owner, mint) == position.quantity
    world.network.ledger.set_token_balance(owner, mint, keep)
    return position.quantity


async def test_a_position_whose_tokens_left_the_wallet_is_closed_as_moved_out(
    world: SmallWorld, events: list[Event]
) -> None:
    quantity = await move_tokens(world, 1, keep=0)
    await stop_out(world, "u1")
    before = await orders_of(world, "u1")
    await ticks(world, 360)
    tried = new_orders(before, await orders_of(world, "u1"))
    assert [o for o in tried if o.side == "sell"] == []  # nothing sent for tokens not there
    async with world.db.session() as s:
        (row,) = await s.scalars(
            select(PositionRow).where(PositionRow.user_id == "u1", PositionRow.status == "closed")
        )
    assert (row.status, row.exit_reason, row.quantity) == ("closed", "moved_out", quantity)
    assert (row.proceeds, row.pnl, row.exit_price) == (None, None, None)  # not a trade
    told = [e for e in events if e.kind == "moved_out"]
    assert len(told) == 1
    assert told[0].user_id == "u1"
    assert "JUP" in told[0].text
    assert world.engine.stats.moved_out == 1
    assert world.engine.stats.realised_pnl == 0  # u0 still holds: nothing was sold at all


async def test_a_partial_move_shrinks_the_position_and_the_rest_is_sold(
    world: SmallWorld, events: list[Event]
) -> None:
    quantity = await move_tokens(world, 1, keep=0)
    keep = quantity // 3
    owner = Pubkey.from_string(world.wallets[1])
    mint = Pubkey.from_string(world.network.token("JUP").mint)
    world.network.ledger.set_token_balance(owner, mint, keep)
    (before,) = await open_positions(world, "u1")
    await stop_out(world, "u1")
    await ticks(world, 3)
    async with world.db.session() as s:
        rows = list(await s.scalars(select(PositionRow).where(PositionRow.user_id == "u1")))
        sells = list(
            await s.scalars(
                select(OrderRow).where(OrderRow.user_id == "u1", OrderRow.side == "sell")
            )
        )
    moved = [p for p in rows if p.exit_reason == "moved_out"]
    sold = [p for p in rows if p.exit_reason == "stop_loss"]
    assert [p.quantity for p in moved] == [quantity - keep]
    assert [p.quantity for p in sold] == [keep]
    assert sold[0].id == before.id  # the position itself shrank to what the wallet holds
    assert sum(p.cost for p in rows) == before.cost  # its cost is split, not lost
    assert [(o.amount_in, o.state) for o in sells] == [(keep, "confirmed")]
    assert world.network.ledger.token_balance(owner, mint) == 0
    assert len([e for e in events if e.kind == "moved_out"]) == 1


async def test_moved_out_is_found_on_a_closed_candle_without_an_exit(world: SmallWorld) -> None:
    (position,) = await open_positions(world, "u1")
    await move_tokens(world, 1, keep=0)
    await ticks(world, 1, every=TF.seconds)  # a candle closes: seen short once
    every = world.engine.moved_out.every  # then looked at again only this much later
    await ticks(world, int(every // TF.seconds) - 1, every=TF.seconds)
    assert [p.id for p in await open_positions(world, "u1")] == [position.id]
    await ticks(world, 1, every=TF.seconds)  # and again: moved out
    async with world.db.session() as s:
        row = await s.get(PositionRow, position.id, populate_existing=True)
    assert row is not None
    assert (row.status, row.exit_reason) == ("closed", "moved_out")
    assert [p.user_id for p in await open_positions(world, "u0")] == ["u0"]


async def test_no_position_is_moved_out_while_an_order_of_its_token_is_in_flight(
    world: SmallWorld,
) -> None:
    """Between a swap's landing and its settlement the books and the chain disagree: while the
    journal has an order of that user and token in flight, a shortfall proves nothing."""
    await move_tokens(world, 1, keep=0)
    jup = world.network.token("JUP").mint
    usdc = world.network.token("USDC").mint
    async with world.db.session() as s:
        pending = await Orders(s, world.clock).create(
            idempotency_key="u1:elsewhere:sell",
            user_id="u1",
            token="JUP",
            input_mint=jup,
            output_mint=usdc,
            side="sell",
            purpose="exit",
            amount_in=1,
        )
    (position,) = await open_positions(world, "u1")
    await stop_out(world, "u1")
    await ticks(world, 30)
    assert [p.id for p in await open_positions(world, "u1")] == [position.id]
    async with world.db.session() as s:  # the order is finished: the books may be judged
        await Orders(s, world.clock).advance(
            pending.id, OrderState.FAILED, expect={OrderState.CREATED}, error="test"
        )
    await ticks(world, 2)
    assert position.id not in [p.id for p in await open_positions(world, "u1")]
