"""Group commit: many orders through the lifecycle at once, against the real in-process sim,
with the same guarantees as one by one (fills equal the chain, no fill twice, crashes
finished from the journal) in a few transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import event

from solbot.execution.executor import SwapIntent
from solbot.execution.groups import GroupExecutor, rounds
from solbot.sim.network import LAMPORTS_PER_SOL
from solbot.store.db import Database
from solbot.store.orders import Orders
from solbot.store.states import OrderState, Purpose, Route, Side
from solbot.store.tables import OrderRow
from solbot.store.users import Users
from solbot.wallet.keys import SigningKey

from .sim_rig import MINTS, NOT_TRADED_MINT, USDC, Rig, SimulatedCrash, crash_at, make_rig

ROUTES = [Route.V2, Route.BUILD, Route.V1]
USDC_UNITS = 10**6


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path) as r:
        yield r


async def friend(rig: Rig, name: str) -> SigningKey:
    """Another funded wallet with its user row."""
    key = Keypair()
    rig.net.ledger.airdrop(key.pubkey(), LAMPORTS_PER_SOL)
    rig.net.ledger.set_token_balance(key.pubkey(), Pubkey.from_string(USDC), 10_000 * USDC_UNITS)
    db = Database(rig.db_url)
    async with db.session() as s:
        await Users(s, rig.clock).ensure_external(name, name, str(key.pubkey()))
    await db.dispose()
    return SigningKey(key)


async def check_books(rig: Rig, wallets: dict[str, Pubkey]) -> None:
    """Each user's open positions are what their wallet holds, to the atom; one trade per
    confirmed order; each fill is the maker's quote."""
    orders, trades, positions = await rig.orders(), await rig.trades(), await rig.positions()
    confirmed = [o for o in orders if o.state == "confirmed"]
    assert sorted(t.order_id for t in trades) == sorted(o.id for o in confirmed)
    assert all(o.filled_out == o.quoted_out for o in confirmed)
    for user, owner in wallets.items():
        for symbol in ("JUP", "BONK", "JTO", "WIF"):
            mine = [p for p in positions if p.user_id == user and p.token == symbol]
            still = sum(p.quantity for p in mine if p.status == "open")
            assert still == held(rig, owner, symbol), f"{user} {symbol}"


def held(rig: Rig, owner: Pubkey, symbol: str) -> int:
    rig.net.ledger.advance_to(rig.clock.now())
    return rig.net.ledger.token_balance(owner, Pubkey.from_string(MINTS[symbol]))


def test_rounds_keep_colliding_mints_of_one_wallet_apart() -> None:
    a, b = SigningKey(Keypair()), SigningKey(Keypair())
    entry = SwapIntent("a", "JUP", Side.BUY, USDC, MINTS["JUP"], 1, Purpose.ENTRY, "j:entry")
    entry2 = replace(entry, token="BONK", output_mint=MINTS["BONK"], signal_key="b:entry")
    exit_ = SwapIntent("a", "WIF", Side.SELL, MINTS["WIF"], USDC, 1, Purpose.EXIT, "p:exit:0")
    exit2 = replace(exit_, token="JTO", input_mint=MINTS["JTO"], signal_key="q:exit:0")
    requests = [(entry, a), (entry2, a), (exit_, a), (exit2, a), (exit_, b), (entry, b)]
    # a's entries share only their input (fine); a's exits collide with a's entries (USDC) and
    # with each other; b's exit and entry collide too. Order within rounds is kept.
    assert rounds(requests) == [[0, 1, 4], [2, 5], [3]]


@pytest.mark.parametrize("route", ROUTES)
async def test_a_group_of_wallets_and_tokens_fills_like_one_by_one(rig: Rig, route: Route) -> None:
    bob = await friend(rig, "bob")
    carol = await friend(rig, "carol")
    group = GroupExecutor(rig.executor(route))
    requests = [
        (rig.buy("JUP", 300 * USDC_UNITS, user="alice"), rig.signer),
        (rig.buy("BONK", 200 * USDC_UNITS, user="alice"), rig.signer),
        (rig.buy("JUP", 250 * USDC_UNITS, user="bob"), bob),
        (rig.buy("JTO", 150 * USDC_UNITS, user="carol"), carol),
        (
            replace(
                rig.buy("JUP", 50 * USDC_UNITS, user="carol"),
                token="NOPE",
                output_mint=NOT_TRADED_MINT,
            ),
            carol,
        ),
    ]
    outcomes = await group.submit_many(requests)

    assert [o.state for o in outcomes[:4]] == [OrderState.CONFIRMED] * 4
    assert outcomes[4].state is OrderState.FAILED  # no route: only that order
    assert "no route" in (outcomes[4].error or "")
    assert outcomes[2].filled_out == held(rig, bob.pubkey(), "JUP")
    assert outcomes[3].filled_out == held(rig, carol.pubkey(), "JTO")
    await check_books(rig, {"alice": rig.owner, "bob": bob.pubkey(), "carol": carol.pubkey()})
    orders = await rig.orders()
    assert len(orders) == 5
    assert {o.state for o in orders} == {"confirmed", "failed"}

    again = await GroupExecutor(rig.executor(route)).submit_many(requests)
    assert again == outcomes  # the same intents find their orders: nothing fills twice
    assert len(await rig.orders()) == 5


async def test_exits_and_entries_of_one_wallet_go_in_rounds(rig: Rig) -> None:
    group = GroupExecutor(rig.executor(Route.V2))
    first = await group.submit_many(
        [(rig.buy(s, 200 * USDC_UNITS), rig.signer) for s in ("JUP", "BONK")]
    )
    assert all(o.confirmed for o in first)
    positions = {p.token: p for p in await rig.positions()}
    rig.clock.advance(600)
    sells = [rig.sell(s, positions[s].quantity, positions[s].id) for s in ("JUP", "BONK")]
    sells[1] = replace(sells[1], signal_key="exit:other")
    requests = [(sells[0], rig.signer), (sells[1], rig.signer)]
    requests.append((rig.buy("JTO", 100 * USDC_UNITS, user="alice"), rig.signer))
    outcomes = await group.submit_many(requests)
    assert all(o.confirmed for o in outcomes), [o.error for o in outcomes]
    await rig.check_books()
    closed = [p for p in await rig.positions() if p.status == "closed"]
    assert {p.token for p in closed} == {"JUP", "BONK"}
    assert sum(p.proceeds or 0 for p in closed) == sum(o.filled_out or 0 for o in outcomes[:2])


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("stopped", [OrderState.CREATED, OrderState.SIGNED, OrderState.SENT])
async def test_a_crash_in_any_phase_is_finished_from_the_journal(
    rig: Rig, route: Route, stopped: OrderState
) -> None:
    bob = await friend(rig, "bob")
    requests = [
        (rig.buy("JUP", 300 * USDC_UNITS, user="alice"), rig.signer),
        (rig.buy("BONK", 200 * USDC_UNITS, user="bob"), bob),
    ]
    dying = GroupExecutor(rig.executor(route, on_step=crash_at(stopped)))
    with pytest.raises(SimulatedCrash):
        await dying.submit_many(requests)

    ex = rig.executor(route)
    for user, signer in (("alice", rig.signer), ("bob", bob)):
        await ex.recover(signer, user)
    orders = await rig.orders()
    assert all(OrderState(o.state).terminal for o in orders)
    await check_books(rig, {"alice": rig.owner, "bob": bob.pubkey()})
    bob_orders = [o for o in orders if o.user_id == "bob"]
    for order in bob_orders:
        got = held(rig, bob.pubkey(), "BONK")
        assert got == (order.filled_out if order.state == "confirmed" else 0)
    # Acting on the same intents again never fills twice.
    again = await GroupExecutor(rig.executor(route)).submit_many(requests)
    assert [o.order_id for o in again] == [o.id for o in sorted(orders, key=_key(requests))]
    assert len(await rig.orders()) == 2


def _key(requests: list[tuple[SwapIntent, SigningKey]]):
    keys = [intent.idempotency_key for intent, _ in requests]
    return lambda row: keys.index(row.idempotency_key)


async def test_the_group_writes_a_few_transactions_not_a_few_per_order(rig: Rig) -> None:
    """Count the journal's commits: a group of 6 orders takes about as many as one order
    takes alone."""
    wallets = [await friend(rig, f"user{n}") for n in range(6)]
    ex = rig.executor(Route.V2)
    local = ex.db._local
    assert local is not None
    commits = 0

    @event.listens_for(local.kw["bind"], "commit")
    def count(_conn: object) -> None:
        nonlocal commits
        commits += 1

    group = GroupExecutor(ex)
    outcomes = await group.submit_many(
        [(rig.buy("JUP", 100 * USDC_UNITS, user=f"user{n}"), w) for n, w in enumerate(wallets)]
    )
    assert all(o.confirmed for o in outcomes)
    assert commits <= 5  # created; signed; sent; confirmed (one each for all six)


async def test_only_the_signed_bytes_wait_for_the_disk(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each phase is one transaction; the one storing the signed bytes commits durably
    (synchronous=FULL), the others lazily: losing one of them in a power cut leaves what a
    crash before it leaves, which the recovery finishes."""
    wallets = [await friend(rig, f"user{n}") for n in range(3)]
    ex = rig.executor(Route.V2)
    local = ex.db._local
    assert local is not None
    written: list[str] = []
    modes: list[str] = []
    create_many, advance_many = Orders.create_many, Orders.advance_many

    async def creating(self: Orders, specs: Any) -> Any:
        written.append("created")
        return await create_many(self, specs)

    async def advancing(self: Orders, moves: Any) -> None:
        written.append("+".join(sorted({target.value for _, _, target, _ in moves})))
        await advance_many(self, moves)

    monkeypatch.setattr(Orders, "create_many", creating)
    monkeypatch.setattr(Orders, "advance_many", advancing)

    @event.listens_for(local.kw["bind"], "commit")
    def note(conn: Any) -> None:
        modes.append(conn.info["solbot_synchronous"])

    outcomes = await GroupExecutor(ex).submit_many(
        [(rig.buy("JUP", 100 * USDC_UNITS, user=f"user{n}"), w) for n, w in enumerate(wallets)]
    )
    assert all(o.confirmed for o in outcomes)
    assert list(zip(written, modes, strict=True)) == [
        ("created", "NORMAL"),
        ("quoted+signed", "FULL"),
        ("sent", "NORMAL"),
        ("confirmed", "NORMAL"),
    ]


async def test_stored_orders_match_the_single_path(rig: Rig) -> None:
    """A grouped order carries the same journal fields as one submitted alone."""
    group = GroupExecutor(rig.executor(Route.V2))
    (grouped,) = await group.submit_many(
        [(rig.buy("JUP", 100 * USDC_UNITS, user="alice"), rig.signer)]
    )
    single = await rig.executor(Route.V2).submit(
        rig.buy("BONK", 100 * USDC_UNITS, user="alice"), rig.signer
    )
    rows = {o.id: o for o in await rig.orders()}
    a, b = rows[grouped.order_id], rows[single.order_id]
    fields = [c.name for c in OrderRow.__table__.columns]
    for name in fields:
        if name in (
            "id",
            "idempotency_key",
            "token",
            "output_mint",
            "position_id",
            "signature",
            "own_signature",
            "signed_tx",
            "request_id",
            "quoted_out",
            "min_out",
            "filled_out",
            "balance_before",
            "created_at",
            "updated_at",
        ):
            continue
        assert getattr(a, name) == getattr(b, name), name
    for name in ("signature", "own_signature", "signed_tx", "request_id", "balance_before"):
        assert (getattr(a, name) is None) == (getattr(b, name) is None), name
