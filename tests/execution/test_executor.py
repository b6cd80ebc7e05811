"""The executor against the real in-process sim: LiteSVM, the sim market maker behind Jupiter's
HTTP API, the JupiterClient, and a migrated SQLite journal, all on one ManualClock.

Every route where it applies: `Route.V2` (the maker pays the fee and signs at `/execute`),
`Route.BUILD` and `Route.V1` (the user pays and sends through the chain). Crashes are simulated
at the ports (see `sim_rig`): the process dies at a chosen point, and a new executor on the same
journal and the same world must finish the order without ever filling it twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Context, Decimal
from pathlib import Path

import pytest
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain.port import SendError
from solbot.execution.executor import Outcome, SwapIntent
from solbot.sim.maker import TOKEN_ACCOUNT_RENT
from solbot.store.states import OrderState, Route
from solbot.store.tables import OrderRow
from solbot.store.types import canonical_price

from .sim_rig import (
    DECIMALS,
    MINTS,
    NOT_TRADED_MINT,
    USER,
    Rig,
    SimulatedCrash,
    crash,
    crash_at,
    drop_connection,
    garble,
    make_rig,
)

ROUTES = [Route.V2, Route.BUILD, Route.V1]
OURS = (Route.BUILD, Route.V1)  # the routes whose transaction we pay for and send ourselves
QUOTE_PATH = {
    Route.V2: "/swap/v2/order",
    Route.BUILD: "/swap/v2/build",
    Route.V1: "/swap/v1/quote",
}
EXECUTE = "/swap/v2/execute"
USDC_UNITS = 10 ** DECIMALS["USDC"]
EXACT = Context(prec=80)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path) as r:
        yield r


def units(symbol: str, atoms: int) -> Decimal:
    return Decimal(atoms).scaleb(-DECIMALS[symbol])


def price(quote_atoms: int, symbol: str, token_atoms: int) -> Decimal:
    """USDC per whole token, as stored (exact quotient, then the store's canonical rounding)."""
    return canonical_price(EXACT.divide(units("USDC", quote_atoms), units(symbol, token_atoms)))


async def only_order(rig: Rig) -> OrderRow:
    (order,) = await rig.orders()
    return order


async def on_chain(rig: Rig, signature: str) -> bool:
    (status,) = await rig.chain.statuses([Signature.from_string(signature)])
    return status is not None


async def assert_filled_once(rig: Rig, intent: SwapIntent, outcome: Outcome) -> None:
    """Acting on the intent again, in yet another process, finds the order and fills nothing
    (the executor's route does not matter: it only shapes new orders)."""
    before = rig.holdings()
    again = await rig.executor(Route.V2).submit(intent, rig.signer)
    assert again == outcome
    assert rig.holdings() == before
    await rig.check_books()


# ---------------------------------------------------------------------- 1. the normal path
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("symbol", ["JUP", "BONK"])
async def test_buy_then_sell_books_what_the_chain_moved(rig: Rig, route: Route, symbol: str):
    ex = rig.executor(route)
    start = rig.holdings()
    amount = 250 * USDC_UNITS

    stop, target = Decimal("0.05"), Decimal("0.12")
    bought = await ex.submit(
        rig.buy(symbol, amount, stop_frac=stop, target_frac=target), rig.signer
    )

    assert bought.state is OrderState.CONFIRMED, bought.error
    after_buy = rig.holdings()
    received = after_buy[symbol] - start[symbol]
    assert received > 0
    assert after_buy["USDC"] - start["USDC"] == -amount
    assert (bought.filled_in, bought.filled_out) == (amount, received)
    assert bought.signature is not None
    assert await on_chain(rig, bought.signature)
    if route is Route.V2:
        assert after_buy["SOL"] == start["SOL"]  # gasless: the maker paid fee and rent
    else:  # the user paid the fee and the rent of its new token account
        landed = rig.net.ledger.status(Signature.from_string(bought.signature))
        assert landed is not None
        assert start["SOL"] - after_buy["SOL"] == landed.fee + TOKEN_ACCOUNT_RENT
    (position,) = await rig.positions()
    assert position.status == "open"
    assert position.mint == MINTS[symbol]
    assert position.quantity == received
    assert position.cost == amount
    assert position.entry_price == price(amount, symbol, received)
    # Exit levels are set from the price before the venue's fee (v2 quotes name it; v1 not).
    order = await rig.order(bought.order_id)
    assert order.fee_bps == (rig.net.maker.config.fee_bps if route is Route.V2 else None)
    fee = Decimal(order.fee_bps or 0).scaleb(-4)
    base = EXACT.divide(EXACT.divide(units("USDC", amount), units(symbol, received)), 1 + fee)
    assert position.stop_loss == canonical_price(base * (1 - stop))
    assert position.take_profit == canonical_price(base * (1 + target))
    (buy,) = await rig.trades()
    assert (buy.order_id, buy.position_id, buy.side) == (bought.order_id, position.id, "buy")
    assert (buy.quantity, buy.quote_amount) == (received, amount)
    assert buy.price == position.entry_price
    assert buy.signature == bought.signature
    assert order.state == "confirmed"
    assert order.position_id == position.id

    rig.clock.advance(600.0)
    sold = await ex.submit(rig.sell(symbol, received, position.id), rig.signer)

    assert sold.state is OrderState.CONFIRMED, sold.error
    after_sell = rig.holdings()
    proceeds = after_sell["USDC"] - after_buy["USDC"]
    assert proceeds > 0
    assert (sold.filled_in, sold.filled_out) == (received, proceeds)
    assert after_sell[symbol] == start[symbol]
    assert after_sell["USDC"] == start["USDC"] - amount + proceeds
    (closed,) = await rig.positions()
    assert closed.status == "closed"
    assert closed.proceeds == proceeds
    assert closed.pnl == units("USDC", proceeds - amount)
    assert closed.exit_price == price(proceeds, symbol, received)
    assert closed.exit_reason == "take_profit"
    trades = await rig.trades()
    assert len(trades) == 2
    sell = next(t for t in trades if t.side == "sell")
    assert (sell.order_id, sell.position_id) == (sold.order_id, position.id)
    assert (sell.quantity, sell.quote_amount, sell.pnl) == (received, proceeds, closed.pnl)
    await rig.check_books()


# ---------------------------------------------------------------------- 2. idempotency
@pytest.mark.parametrize("route", ROUTES)
async def test_the_same_intent_twice_fills_once(rig: Rig, route: Route):
    ex = rig.executor(route)
    start = rig.holdings()
    amount = 100 * USDC_UNITS
    intent = rig.buy("JUP", amount)

    first = await ex.submit(intent, rig.signer)
    second = await ex.submit(intent, rig.signer)
    third = await rig.executor(route).submit(intent, rig.signer)  # after a restart

    assert first.state is OrderState.CONFIRMED, first.error
    assert second == first
    assert third == first
    assert rig.transport.calls[QUOTE_PATH[route]] == 1
    assert len(await rig.orders()) == 1
    assert len(await rig.trades()) == 1
    assert len(await rig.positions()) == 1
    assert rig.balance("USDC") == start["USDC"] - amount
    assert rig.balance("JUP") == first.filled_out
    await rig.check_books()


# ---------------------------------------------------------------------- 3. venue errors
@pytest.mark.parametrize("route", ROUTES)
async def test_no_route_fails_before_signing(rig: Rig, route: Route):
    start = rig.holdings()
    intent = replace(rig.buy("JUP", 50 * USDC_UNITS), token="NOPE", output_mint=NOT_TRADED_MINT)

    outcome = await rig.executor(route).submit(intent, rig.signer)

    assert outcome.state is OrderState.FAILED
    assert outcome.error is not None
    assert "no route" in outcome.error
    await _assert_nothing_happened(rig, start)


@pytest.mark.parametrize("route", ROUTES)
async def test_price_impact_above_the_cap_fails_before_signing(rig: Rig, route: Route):
    start = rig.holdings()
    ex = rig.executor(route, max_price_impact_pct=Decimal("0.5"))

    outcome = await ex.submit(rig.buy("JTO", 90_000 * USDC_UNITS), rig.signer)

    assert outcome.state is OrderState.FAILED
    assert outcome.error is not None
    assert "price impact" in outcome.error
    await _assert_nothing_happened(rig, start)
    small = await ex.submit(rig.buy("JTO", 100 * USDC_UNITS), rig.signer)
    assert small.state is OrderState.CONFIRMED, small.error  # the cap is about size


async def _assert_nothing_happened(rig: Rig, start: dict[str, int]) -> None:
    assert rig.holdings() == start
    order = await only_order(rig)
    assert order.state == "failed"
    assert order.error
    assert order.signed_tx is None
    assert order.signature is None
    assert rig.chain.sends == 0
    assert EXECUTE not in rig.transport.calls
    assert await rig.positions() == []
    assert await rig.trades() == []
    await rig.check_books()


# ---------------------------------------------------------------------- 4. recovery
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("stopped", [OrderState.CREATED, OrderState.QUOTED])
async def test_crash_before_signing_fails_on_recovery(rig: Rig, route: Route, stopped: OrderState):
    start = rig.holdings()
    with pytest.raises(SimulatedCrash):
        await rig.executor(route, on_step=crash_at(stopped)).submit(
            rig.buy("JUP", 100 * USDC_UNITS), rig.signer
        )
    assert (await only_order(rig)).state == stopped

    (outcome,) = await rig.executor(route).recover(rig.signer, USER)

    assert outcome.state is OrderState.FAILED
    assert outcome.error is not None
    assert "before signing" in outcome.error
    await _assert_nothing_happened(rig, start)
    assert await rig.executor(route).recover(rig.signer, USER) == []


async def _crash_v1_signed(
    rig: Rig, intent: SwapIntent, *, journal: OrderState, landed: bool
) -> OrderRow:
    """Run a v1 order until the process dies around sending: the journal says `journal`
    (`signed`: died before recording the send; `sent`: after it), the bytes `landed` or not."""
    if journal is OrderState.SIGNED:
        ex = rig.executor(Route.V1, on_step=crash_at(OrderState.SIGNED))
    else:
        ex = rig.executor(Route.V1)
        if landed:
            rig.chain.after_send = crash
        else:
            rig.chain.before_send = crash
    with pytest.raises(SimulatedCrash):
        await ex.submit(intent, rig.signer)
    rig.chain.before_send = rig.chain.after_send = None
    order = await only_order(rig)
    assert order.state == journal
    assert order.signed_tx is not None
    assert order.signature == order.own_signature
    if journal is OrderState.SIGNED and landed:  # the bytes left just before the process died
        await rig.chain.send(VersionedTransaction.from_bytes(order.signed_tx))
    assert rig.chain.sends == int(landed)
    return order


JOURNALED = [OrderState.SIGNED, OrderState.SENT]


@pytest.mark.parametrize("journal", JOURNALED)
async def test_v1_signed_never_sent_is_resent_verbatim(rig: Rig, journal: OrderState):
    start = rig.holdings()
    amount = 100 * USDC_UNITS
    intent = rig.buy("JUP", amount)
    order = await _crash_v1_signed(rig, intent, journal=journal, landed=False)
    assert order.signature is not None
    assert not await on_chain(rig, order.signature)
    sent: list[bytes] = []
    rig.chain.before_send = lambda tx: sent.append(bytes(tx))
    rig.clock.advance(20.0)  # a restart takes a while; the blockhash is still valid

    (outcome,) = await rig.executor(Route.V1).recover(rig.signer, USER)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    assert sent == [order.signed_tx]  # the same bytes, never re-signed
    assert outcome.signature == order.signature
    assert await on_chain(rig, order.signature)
    assert rig.balance("USDC") == start["USDC"] - amount
    assert rig.balance("JUP") == outcome.filled_out == order.quoted_out
    (position,) = await rig.positions()
    assert position.quantity == outcome.filled_out
    await rig.check_books()
    await assert_filled_once(rig, intent, outcome)


@pytest.mark.parametrize("journal", JOURNALED)
async def test_v1_landed_before_the_crash_is_confirmed_without_resending(
    rig: Rig, journal: OrderState
):
    start = rig.holdings()
    amount = 100 * USDC_UNITS
    intent = rig.buy("JUP", amount)
    order = await _crash_v1_signed(rig, intent, journal=journal, landed=True)
    assert order.signature is not None
    assert await on_chain(rig, order.signature)
    rig.clock.advance(20.0)

    (outcome,) = await rig.executor(Route.V1).recover(rig.signer, USER)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    assert rig.chain.sends == 1  # nothing sent again
    assert outcome.signature == order.signature
    assert rig.balance("USDC") == start["USDC"] - amount
    assert rig.balance("JUP") == outcome.filled_out == order.quoted_out
    (position,) = await rig.positions()
    assert position.quantity == outcome.filled_out
    await rig.check_books()
    await assert_filled_once(rig, intent, outcome)


@pytest.mark.parametrize("journal", JOURNALED)
async def test_v1_signed_never_sent_expires_after_its_blockhash(rig: Rig, journal: OrderState):
    start = rig.holdings()
    intent = rig.buy("JUP", 100 * USDC_UNITS)
    order = await _crash_v1_signed(rig, intent, journal=journal, landed=False)
    rig.pass_expiry()
    assert order.last_valid_block_height is not None
    assert await rig.chain.block_height() > order.last_valid_block_height

    (outcome,) = await rig.executor(Route.V1).recover(rig.signer, USER)

    assert outcome.state is OrderState.EXPIRED
    assert order.signature is not None
    assert not await on_chain(rig, order.signature)
    assert rig.holdings() == start
    assert await rig.positions() == []
    assert await rig.trades() == []
    await rig.check_books()
    await assert_filled_once(rig, intent, outcome)


@pytest.mark.parametrize("lands_after", [3, None])
async def test_v1_resends_the_same_bytes_until_they_land_or_expire(
    rig: Rig, lands_after: int | None
):
    """The node drops the transaction (it answers BlockhashNotFound, as a lagging node does):
    the same bytes go out again until they land, or until their blockhash has expired."""
    start = rig.holdings()
    amount = 100 * USDC_UNITS
    sent: list[bytes] = []

    def lagging_node(tx: VersionedTransaction) -> None:
        sent.append(bytes(tx))
        if lands_after is None or len(sent) <= lands_after:
            raise SendError("BlockhashNotFound")

    rig.chain.before_send = lagging_node
    intent = rig.buy("JUP", amount)

    outcome = await rig.executor(Route.V1).submit(intent, rig.signer)

    order = await only_order(rig)
    assert set(sent) == {order.signed_tx}
    assert order.attempts == len(sent)
    if lands_after is not None:
        assert outcome.state is OrderState.CONFIRMED, outcome.error
        assert len(sent) == lands_after + 1
        assert rig.balance("USDC") == start["USDC"] - amount
    else:
        assert outcome.state is OrderState.EXPIRED
        assert order.last_valid_block_height is not None
        assert await rig.chain.block_height() > order.last_valid_block_height
        assert len(sent) > 50  # about once a second through the whole window
        assert rig.holdings() == start
    rig.chain.before_send = None
    await rig.check_books()
    await assert_filled_once(rig, intent, outcome)


async def _crash_v2_at_execute(rig: Rig, intent: SwapIntent, *, landed: bool) -> OrderRow:
    """Run a v2 order until the process dies at `/execute`: before the request reached Jupiter,
    or after the swap landed but before the answer arrived. The journal says `signed`."""
    if landed:
        rig.transport.after[EXECUTE] = crash
    else:
        rig.transport.before[EXECUTE] = crash
    with pytest.raises(SimulatedCrash):
        await rig.executor(Route.V2).submit(intent, rig.signer)
    rig.transport.before.clear()
    rig.transport.after.clear()
    order = await only_order(rig)
    assert order.state == "signed"
    assert order.signature is None  # the transaction id is the maker's, never learnt
    assert order.own_signature is not None
    assert order.request_id is not None
    assert rig.transport.calls.get(EXECUTE, 0) == int(landed)
    return order


async def test_v2_executed_but_answer_lost_is_settled_from_balances(rig: Rig):
    start = rig.holdings()
    amount = 100 * USDC_UNITS
    intent = rig.buy("JUP", amount)
    order = await _crash_v2_at_execute(rig, intent, landed=True)
    received = rig.balance("JUP") - start["JUP"]
    assert received == order.quoted_out

    (outcome,) = await rig.executor(Route.V2).recover(rig.signer, USER)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    assert order.last_valid_block_height is not None
    assert await rig.chain.block_height() > order.last_valid_block_height  # it waited
    assert (outcome.filled_in, outcome.filled_out) == (amount, received)
    assert rig.transport.calls[EXECUTE] == 1  # never executed again
    assert rig.balance("USDC") == start["USDC"] - amount
    (position,) = await rig.positions()
    assert (position.status, position.quantity, position.cost) == ("open", received, amount)
    assert position.entry_price == price(amount, "JUP", received)
    (trade,) = await rig.trades()
    assert trade.order_id == outcome.order_id
    await rig.check_books()
    await assert_filled_once(rig, intent, outcome)


async def test_v2_signed_never_executed_expires(rig: Rig):
    start = rig.holdings()
    intent = rig.buy("JUP", 100 * USDC_UNITS)
    await _crash_v2_at_execute(rig, intent, landed=False)

    (outcome,) = await rig.executor(Route.V2).recover(rig.signer, USER)

    assert outcome.state is OrderState.EXPIRED
    assert EXECUTE not in rig.transport.calls
    assert rig.holdings() == start
    assert await rig.positions() == []
    assert await rig.trades() == []
    await rig.check_books()
    await assert_filled_once(rig, intent, outcome)


@pytest.mark.parametrize("landed", [True, False])
async def test_v2_execute_outcome_unknown_is_decided_after_expiry(rig: Rig, landed: bool):
    """No crash: every answer of `/execute` is lost (the client's retries run out), so the
    running executor itself must wait for the blockhash to expire and read the balances."""
    start = rig.holdings()
    amount = 100 * USDC_UNITS
    if landed:
        rig.transport.after[EXECUTE] = drop_connection
    else:
        rig.transport.before[EXECUTE] = drop_connection
    intent = rig.buy("JUP", amount)

    outcome = await rig.executor(Route.V2).submit(intent, rig.signer)

    order = await only_order(rig)
    assert order.last_valid_block_height is not None
    assert await rig.chain.block_height() > order.last_valid_block_height
    if landed:
        assert outcome.state is OrderState.CONFIRMED, outcome.error
        assert outcome.filled_out == rig.balance("JUP") - start["JUP"] == order.quoted_out
        assert rig.balance("USDC") == start["USDC"] - amount
        assert len(await rig.positions()) == 1
    else:
        assert outcome.state is OrderState.EXPIRED
        assert rig.holdings() == start
        assert await rig.positions() == []
    rig.transport.before.clear()
    rig.transport.after.clear()
    await rig.check_books()
    await assert_filled_once(rig, intent, outcome)


@pytest.mark.parametrize("landed", [True, False])
async def test_v2_unreadable_execute_answer_is_not_taken_for_a_failure(rig: Rig, landed: bool):
    """An answer that cannot be read says nothing about the swap: it may have landed. The
    order must be decided on chain, not marked failed while the tokens arrive."""
    start = rig.holdings()
    amount = 100 * USDC_UNITS
    if landed:
        rig.transport.after[EXECUTE] = garble
    else:
        rig.transport.before[EXECUTE] = garble
    intent = rig.buy("JUP", amount)

    outcome = await rig.executor(Route.V2).submit(intent, rig.signer)

    if landed:
        assert outcome.state is OrderState.CONFIRMED, outcome.error
        assert outcome.filled_out == rig.balance("JUP") - start["JUP"]
        (position,) = await rig.positions()
        assert position.quantity == outcome.filled_out
    else:
        assert outcome.state is OrderState.EXPIRED
        assert rig.holdings() == start
    rig.transport.before.clear()
    rig.transport.after.clear()
    await rig.check_books()
    await assert_filled_once(rig, intent, outcome)


S = OrderState
CRASH_SWEEP = [
    # (route, the last step journaled before the process died, how recovery ends it)
    (Route.V2, S.CREATED, S.FAILED),
    (Route.V2, S.QUOTED, S.FAILED),
    (Route.V2, S.SIGNED, S.EXPIRED),  # never executed: waits out the blockhash
    (Route.V2, S.SENT, S.CONFIRMED),  # executed and answered, died before settling
    (Route.V2, S.CONFIRMED, S.CONFIRMED),
    *[
        (route, crashed, ends)
        for route in OURS
        for crashed, ends in [
            (S.CREATED, S.FAILED),
            (S.QUOTED, S.FAILED),
            (S.SIGNED, S.CONFIRMED),  # the journaled bytes are sent
            (S.SENT, S.CONFIRMED),  # recorded as sent, died before sending
            (S.CONFIRMED, S.CONFIRMED),
        ]
    ],
]


@pytest.mark.parametrize(("route", "crashed", "ends"), CRASH_SWEEP)
async def test_a_crash_after_any_journaled_step_is_finished_by_recovery(
    rig: Rig, route: Route, crashed: OrderState, ends: OrderState
):
    start = rig.holdings()
    amount = 100 * USDC_UNITS
    intent = rig.buy("JUP", amount)
    with pytest.raises(SimulatedCrash):
        await rig.executor(route, on_step=crash_at(crashed)).submit(intent, rig.signer)
    assert (await only_order(rig)).state == crashed

    outcomes = await rig.executor(route).recover(rig.signer, USER)

    order = await only_order(rig)
    assert order.state == ends
    assert [o.state for o in outcomes] == ([] if crashed is S.CONFIRMED else [ends])
    filled = ends is S.CONFIRMED
    assert rig.balance("USDC") == start["USDC"] - (amount if filled else 0)
    assert rig.balance("JUP") == (order.filled_out if filled else 0)
    assert len(await rig.positions()) == int(filled)
    await rig.check_books()
    await assert_filled_once(rig, intent, _outcome_of(order))


def _outcome_of(order: OrderRow) -> Outcome:
    return Outcome(
        order.id,
        OrderState(order.state),
        order.filled_in,
        order.filled_out,
        order.signature,
        order.error,
    )


@pytest.mark.parametrize("route", ROUTES)
async def test_recovery_waits_for_a_lagging_node_to_see_a_landed_swap(rig: Rig, route: Route):
    """The swap landed and the journal has its signature, but the node recovery asks has not
    seen it yet: unknown is not expired while the blockhash is still valid."""
    start = rig.holdings()
    amount = 100 * USDC_UNITS
    intent = rig.buy("JUP", amount)
    if route is Route.V2:  # /execute answered with the signature; died before settling
        ex = rig.executor(route, on_step=crash_at(S.SENT))
    else:  # sent, landed, died before looking
        ex = rig.executor(route)
        rig.chain.after_send = crash
    with pytest.raises(SimulatedCrash):
        await ex.submit(intent, rig.signer)
    rig.chain.after_send = None
    order = await only_order(rig)
    assert order.state == "sent"
    assert order.signature is not None
    assert await on_chain(rig, order.signature)
    rig.chain.statuses_hidden_until = rig.clock.now() + 10.0

    (outcome,) = await rig.executor(route).recover(rig.signer, USER)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    assert outcome.signature == order.signature
    assert rig.clock.now() >= rig.chain.statuses_hidden_until
    assert rig.balance("USDC") == start["USDC"] - amount
    assert rig.balance("JUP") == outcome.filled_out
    await rig.check_books()
    await assert_filled_once(rig, intent, outcome)


@pytest.mark.parametrize("route", ROUTES)
async def test_a_sell_lost_in_a_crash_closes_the_position_on_recovery(rig: Rig, route: Route):
    """The exit landed, the process died before hearing so (v2: the answer of `/execute`;
    v1: right after sending): recovery closes the position with what the chain paid."""
    cost = 200 * USDC_UNITS
    bought = await rig.executor(route).submit(rig.buy("JUP", cost), rig.signer)
    assert bought.filled_out is not None
    (position,) = await rig.positions()
    usdc_before = rig.balance("USDC")
    if route is Route.V2:
        rig.transport.after[EXECUTE] = crash
    else:
        rig.chain.after_send = crash
    sell = rig.sell("JUP", bought.filled_out, position.id)
    with pytest.raises(SimulatedCrash):
        await rig.executor(route).submit(sell, rig.signer)
    rig.transport.after.clear()
    rig.chain.after_send = None
    assert rig.balance("JUP") == 0
    proceeds = rig.balance("USDC") - usdc_before

    (outcome,) = await rig.executor(route).recover(rig.signer, USER)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    assert (outcome.filled_in, outcome.filled_out) == (bought.filled_out, proceeds)
    (closed,) = await rig.positions()
    assert (closed.status, closed.proceeds) == ("closed", proceeds)
    assert closed.pnl == units("USDC", proceeds - cost)
    assert len(await rig.trades()) == 2
    await rig.check_books()
    await assert_filled_once(rig, sell, outcome)


# ---------------------------------------------------------------------- 5. failed on chain
@pytest.mark.parametrize("route", ROUTES)
async def test_swap_failing_on_chain_is_failed_with_the_chains_error(rig: Rig, route: Route):
    amount = 100 * USDC_UNITS
    short = amount - 1

    def spend_the_input(*_: object) -> None:  # after quoting and signing, before landing
        rig.set_usdc(short)

    if route in OURS:
        rig.chain.before_send = spend_the_input
    else:
        rig.transport.before[EXECUTE] = spend_the_input
    start_sol = rig.balance("SOL")

    outcome = await rig.executor(route).submit(rig.buy("JUP", amount), rig.signer)

    assert outcome.state is OrderState.FAILED
    assert outcome.error is not None
    assert "Custom" in outcome.error
    assert outcome.signature is not None
    assert await on_chain(rig, outcome.signature)
    landed = rig.net.ledger.status(Signature.from_string(outcome.signature))
    assert landed is not None
    assert landed.err is not None
    assert landed.fee > 0
    if route in OURS:
        assert outcome.error.startswith("failed on chain")
        assert rig.balance("SOL") == start_sol - landed.fee  # the user paid for the attempt
    else:
        assert rig.balance("SOL") == start_sol  # the maker did
    assert rig.balance("USDC") == short
    assert rig.balance("JUP") == 0
    order = await only_order(rig)
    assert (order.state, order.error) == ("failed", outcome.error)
    assert await rig.positions() == []
    assert await rig.trades() == []
    await rig.check_books()
