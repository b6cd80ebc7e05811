"""The order journal: idempotent creation, the lifecycle, compare-and-set moves."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlalchemy import func, select

from solbot.clock import ManualClock
from solbot.store.db import Database
from solbot.store.orders import Orders
from solbot.store.states import PENDING_STATES, TRANSITIONS, OrderState, check_transition
from solbot.store.tables import OrderRow
from solbot.store.types import U64_MAX, utc_from_timestamp

from .conftest import START
from .support import JUP, USDC, new_order, signed_fields

LEGAL = {
    ("created", "quoted"),
    ("created", "failed"),
    ("quoted", "signed"),
    ("quoted", "failed"),
    ("quoted", "confirmed"),  # paper orders only: see test_only_paper_orders_fill_at_the_quote
    ("signed", "sent"),
    ("sent", "confirmed"),
    ("sent", "failed"),
    ("sent", "expired"),
}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(OrderState, OrderState)))
def test_lifecycle_allows_exactly_the_documented_moves(source: str, target: str) -> None:
    if (source, target) in LEGAL:
        check_transition(source, target)
    else:
        with pytest.raises(ValueError, match="illegal order transition"):
            check_transition(source, target)


def test_pending_states_are_the_unfinished_ones() -> None:
    assert set(PENDING_STATES) == {"created", "quoted", "signed", "sent"}
    assert {s for s in OrderState if s.terminal} == {"confirmed", "failed", "expired"}
    assert all(TRANSITIONS[s] for s in PENDING_STATES)


async def test_create_journals_a_created_order(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        order = await new_order(Orders(s, clock), amount_in=U64_MAX)
    assert order.state == "created"
    assert order.attempts == 0
    assert order.amount_in == U64_MAX
    assert order.created_at == order.updated_at == utc_from_timestamp(START)
    async with db.session() as s:
        again = await Orders(s, clock).get(order.id)
    assert again is not None
    assert (again.idempotency_key, again.input_mint, again.output_mint) == (
        "u1:sig1:buy",
        USDC,
        JUP,
    )
    assert again.amount_in == U64_MAX


async def test_create_returns_the_existing_order_for_a_known_key(
    db: Database, clock: ManualClock
) -> None:
    async with db.session() as s:
        first = await new_order(Orders(s, clock))
    clock.advance(60)
    async with db.session() as s:
        second = await new_order(Orders(s, clock), amount_in=99)
    assert second.id == first.id
    assert second.amount_in == 25_000_000  # the journal wins over a re-computed amount
    assert second.created_at == first.created_at


async def test_concurrent_creates_make_one_row(db: Database, clock: ManualClock) -> None:
    async def create(amount: int) -> str:
        async with db.session() as s:
            return (await new_order(Orders(s, clock), amount_in=amount)).id

    ids = await asyncio.gather(*(create(1000 + i) for i in range(8)))
    assert len(set(ids)) == 1
    async with db.session() as s:
        count = await s.scalar(select(func.count()).select_from(OrderRow))
    assert count == 1


async def test_a_key_reused_for_another_order_is_a_bug(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        await new_order(Orders(s, clock))
    async with db.session() as s:
        with pytest.raises(ValueError, match="already names another order"):
            await new_order(Orders(s, clock), side="sell", purpose="exit")


async def test_create_validates_its_vocabulary(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        orders = Orders(s, clock)
        with pytest.raises(ValueError, match="'short' is not a valid Side"):
            await new_order(orders, side="short")
        with pytest.raises(ValueError, match="only exit orders"):
            await new_order(orders, exit_reason="stop_loss")
        with pytest.raises(TypeError):
            await new_order(orders, amount_in=1.5)
        with pytest.raises(ValueError, match="must not be empty"):
            await new_order(orders, key="")


async def test_an_order_walks_the_whole_lifecycle(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        order = await new_order(Orders(s, clock))
    steps = [
        ("quoted", {"created"}, {"quoted_out": 31_000_000, "min_out": 30_900_000, "route": "v2"}),
        ("signed", {"quoted"}, signed_fields()),
        ("sent", {"signed"}, {}),
        ("confirmed", {"sent"}, {"filled_in": 25_000_000, "filled_out": 30_950_000}),
    ]
    for target, expect, fields in steps:
        clock.advance(1)
        async with db.session() as s:
            assert await Orders(s, clock).advance(order.id, target, expect=expect, **fields)
    async with db.session() as s:
        done = await Orders(s, clock).get(order.id)
    assert done is not None
    assert done.state == "confirmed"
    assert done.quoted_out == 31_000_000
    assert done.signed_tx == signed_fields()["signed_tx"]
    assert done.signature == signed_fields()["signature"]
    assert done.last_valid_block_height == 2**40 + 1
    assert done.filled_out == 30_950_000
    assert done.attempts == 1
    assert done.updated_at == utc_from_timestamp(START + 4)
    assert done.created_at == utc_from_timestamp(START)


async def test_advance_is_compare_and_set(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        orders = Orders(s, clock)
        order = await new_order(orders)
        assert not await orders.advance(order.id, "signed", expect={"quoted"}, **signed_fields())
        assert await orders.advance(order.id, "failed", expect={"created", "quoted"}, error="x")
        assert not await orders.advance(order.id, "failed", expect={"created"}, error="again")
        assert not await orders.advance("no-such-order", "quoted", expect={"created"})
        row = await orders.get(order.id)
    assert row is not None
    assert (row.state, row.error) == ("failed", "x")


async def test_only_one_of_two_racing_workers_wins(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        orders = Orders(s, clock)
        order = await new_order(orders)
        await orders.advance(order.id, "quoted", expect={"created"})
        await orders.advance(order.id, "signed", expect={"quoted"}, **signed_fields())
        await orders.advance(order.id, "sent", expect={"signed"})

    async def resolve(target: str, **fields: object) -> bool:
        async with db.session() as s:
            return await Orders(s, clock).advance(order.id, target, expect={"sent"}, **fields)

    results = await asyncio.gather(
        resolve("confirmed", filled_in=1, filled_out=2),
        resolve("expired"),
        resolve("failed", error="e"),
    )
    assert sorted(results) == [False, False, True]
    async with db.session() as s:
        row = await Orders(s, clock).get(order.id)
    assert row is not None
    winner = ["confirmed", "expired", "failed"][results.index(True)]
    assert row.state == winner


async def test_advance_refuses_illegal_moves_and_bad_fields(
    db: Database, clock: ManualClock
) -> None:
    async with db.session() as s:
        orders = Orders(s, clock)
        order = await new_order(orders)
        with pytest.raises(ValueError, match="illegal order transition created → sent"):
            await orders.advance(order.id, "sent", expect={"created"})
        with pytest.raises(ValueError, match="illegal order transition signed → failed"):
            await orders.advance(order.id, "failed", expect={"quoted", "signed"}, error="x")
        with pytest.raises(ValueError, match="at least one state"):
            await orders.advance(order.id, "quoted", expect=set())
        with pytest.raises(ValueError, match="'done' is not a valid OrderState"):
            await orders.advance(order.id, "done", expect={"created"})
        with pytest.raises(TypeError, match="cannot set amount_in, state"):
            await orders.advance(order.id, "quoted", expect={"created"}, amount_in=1, state="x")
        with pytest.raises(TypeError):
            await orders.advance(order.id, "quoted", expect={"created"}, quoted_out=1.0)
        with pytest.raises(ValueError, match="needs own_signature, signed_tx"):
            await orders.advance(order.id, "signed", expect={"quoted"})
        with pytest.raises(ValueError, match="needs error"):
            await orders.advance(order.id, "failed", expect={"created"})
        with pytest.raises(ValueError, match="needs filled_in, filled_out"):
            await orders.advance(order.id, "confirmed", expect={"sent"}, filled_in=None)
        row = await orders.get(order.id)
    assert row is not None
    assert row.state == "created"


async def test_resends_are_counted_only_while_sent(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        orders = Orders(s, clock)
        order = await new_order(orders)
        assert not await orders.record_resend(order.id)
        await orders.advance(order.id, "quoted", expect={"created"})
        await orders.advance(order.id, "signed", expect={"quoted"}, **signed_fields())
        await orders.advance(order.id, "sent", expect={"signed"})
        assert await orders.record_resend(order.id)
        assert await orders.record_resend(order.id)
        row = await orders.get(order.id)
        assert row is not None
        assert row.attempts == 3
        found = await orders.by_signature(signed_fields()["signature"])
        assert found is not None
        assert found.id == order.id


async def test_pending_lists_unfinished_orders_oldest_first(
    db: Database, clock: ManualClock
) -> None:
    async with db.session() as s:
        orders = Orders(s, clock)
        ids = []
        for i, user in enumerate(["u1", "u2", "u1", "u1"]):
            clock.advance(10)
            ids.append((await new_order(orders, key=f"k{i}", user_id=user)).id)
        await orders.advance(ids[2], "failed", expect={"created"}, error="no route")
        await orders.advance(ids[3], "quoted", expect={"created"})
    clock.advance(10)
    async with db.session() as s:
        orders = Orders(s, clock)
        # Touching an older order must not reorder the list: it is by creation time.
        await orders.advance(ids[0], "quoted", expect={"created"})
        every = [o.id for o in await orders.pending()]
        mine = [o.id for o in await orders.pending(user_id="u1")]
    assert every == [ids[0], ids[1], ids[3]]
    assert mine == [ids[0], ids[3]]


async def test_by_key_and_get_miss_cleanly(db: Database, clock: ManualClock) -> None:
    async with db.session() as s:
        orders = Orders(s, clock)
        assert await orders.by_key("nope") is None
        assert await orders.get("nope") is None
        assert await orders.by_signature("nope") is None


async def test_only_paper_orders_fill_at_the_quote(db: Database, clock: ManualClock) -> None:
    """`quoted → confirmed` skips signing and sending: the journal allows it for paper orders
    only, and never lets a paper order be signed."""
    fill = {"filled_in": 25_000_000, "filled_out": 31_000_000}
    async with db.session() as s:
        orders = Orders(s, clock)
        real = await new_order(orders, "u1:real:buy", route="v2")
        paper = await new_order(orders, "u1:paper:buy", route="paper")
        for order in (real, paper):
            assert await orders.advance(order.id, "quoted", expect={"created"}, quoted_out=31)
        assert not await orders.advance(real.id, "confirmed", expect={"quoted"}, **fill)
        assert not await orders.advance(paper.id, "signed", expect={"quoted"}, **signed_fields())
        assert await orders.advance(paper.id, "confirmed", expect={"quoted"}, **fill)
        assert await orders.advance(real.id, "signed", expect={"quoted"}, **signed_fields())
    async with db.session() as s:
        states = {o.route: o.state for o in await s.scalars(select(OrderRow))}
    assert states == {"v2": "signed", "paper": "confirmed"}


async def test_advance_many_moves_a_group_in_one_call(db: Database, clock: ManualClock) -> None:
    """A group's moves in one transaction: each order gets its own fields, `sent` counts an
    attempt, and the same statements serve the next group (they are built once)."""
    for round_ in range(2):
        async with db.session() as s:
            orders = Orders(s, clock)
            rows = [await new_order(orders, f"u1:g{round_}-{i}:buy") for i in range(3)]
        clock.advance(1)
        quoted = [
            (r.id, OrderState.CREATED, OrderState.QUOTED, {"quoted_out": 100 + i, "min_out": 99})
            for i, r in enumerate(rows)
        ]
        signed = [
            (r.id, OrderState.QUOTED, OrderState.SIGNED, signed_fields(2 + 3 * round_ + i))
            for i, r in enumerate(rows)
        ]
        sent = [(r.id, OrderState.SIGNED, OrderState.SENT, {}) for r in rows]
        async with db.session() as s:
            await Orders(s, clock).advance_many([*quoted, *signed, *sent])
        async with db.session() as s:
            moved = [await Orders(s, clock).get(r.id) for r in rows]
        assert [(m.state, m.quoted_out, m.attempts) for m in moved if m is not None] == [
            ("sent", 100, 1),
            ("sent", 101, 1),
            ("sent", 102, 1),
        ]
        assert {m.updated_at for m in moved if m is not None} == {utc_from_timestamp(clock.now())}


async def test_advance_many_fails_whole_when_one_order_moved_elsewhere(
    db: Database, clock: ManualClock
) -> None:
    """In a group commit, an order not in its expected state means another worker touched it:
    the call raises and the caller's transaction rolls back every move of the group."""
    async with db.session() as s:
        orders = Orders(s, clock)
        first = await new_order(orders, "u1:h0:buy")
        second = await new_order(orders, "u1:h1:buy")
        assert await orders.advance(second.id, "failed", expect={"created"}, error="elsewhere")
    moves = [
        (o.id, OrderState.CREATED, OrderState.QUOTED, {"quoted_out": 5}) for o in (first, second)
    ]
    with pytest.raises(RuntimeError, match="1 of 2 orders were not created"):
        async with db.session() as s:
            await Orders(s, clock).advance_many(moves)
    async with db.session() as s:
        states = {o.idempotency_key: o.state for o in await s.scalars(select(OrderRow))}
    assert states == {"u1:h0:buy": "created", "u1:h1:buy": "failed"}


async def test_advance_many_writes_an_orders_successive_moves_at_once_with_every_rule(
    db: Database, clock: ManualClock
) -> None:
    """`created → quoted → signed` of one order in one call is one UPDATE, which still keeps a
    paper order from being signed and a real one from filling at its quote."""
    fill = {"filled_in": 25_000_000, "filled_out": 31_000_000}
    async with db.session() as s:
        orders = Orders(s, clock)
        real = await new_order(orders, "u1:real:buy", route="v2")
        paper = await new_order(orders, "u1:paper:buy", route="paper")
    through = [
        (real.id, OrderState.CREATED, OrderState.QUOTED, {"quoted_out": 31, "min_out": 30}),
        (real.id, OrderState.QUOTED, OrderState.SIGNED, signed_fields()),
        (real.id, OrderState.SIGNED, OrderState.SENT, {}),
    ]
    async with db.session() as s:
        await Orders(s, clock).advance_many(through)
    async with db.session() as s:
        moved = await Orders(s, clock).get(real.id)
    assert moved is not None
    assert (moved.state, moved.quoted_out, moved.min_out, moved.attempts) == ("sent", 31, 30, 1)
    assert moved.signed_tx == signed_fields()["signed_tx"]
    for order, target, fields in (
        (paper, OrderState.SIGNED, signed_fields()),
        (real, OrderState.CONFIRMED, fill),
    ):
        if order is real:  # a fresh real order for the second case
            async with db.session() as s:
                order = await new_order(Orders(s, clock), "u1:real2:buy", route="v2")
        moves = [
            (order.id, OrderState.CREATED, OrderState.QUOTED, {"quoted_out": 31}),
            (order.id, OrderState.QUOTED, target, fields),
        ]
        with pytest.raises(RuntimeError, match="1 of 1 orders were not created"):
            async with db.session() as s:
                await Orders(s, clock).advance_many(moves)
    with pytest.raises(RuntimeError, match="moved from created after a move to quoted"):
        async with db.session() as s:
            await Orders(s, clock).advance_many(
                [
                    (paper.id, OrderState.CREATED, OrderState.QUOTED, {"quoted_out": 31}),
                    (paper.id, OrderState.CREATED, OrderState.FAILED, {"error": "twice"}),
                ]
            )
