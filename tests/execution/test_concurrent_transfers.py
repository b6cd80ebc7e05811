"""A fill is what the swap moved, whatever else reaches the wallet while the order is in flight.

A friend deposits SOL or tokens whenever they like, `solbot cleanup` may close an account, a
withdrawal may leave: none of that is part of the swap. Measured by the wallet's balance before
and after, a deposit that lands between the two would be booked as output of the swap (and then
once more as a deposit), and one that leaves as a fill short of its quote. The fill must be read
from the swap's own transaction. Every route, a token output and a SOL output, through the
embedded chain and over JSON-RPC, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from solders.pubkey import Pubkey

from solbot.execution.groups import GroupExecutor
from solbot.reconcile import NATIVE_MINT_TEXT
from solbot.sim.rpc_faults import Congestion
from solbot.store.states import OrderState, Route
from solbot.store.tables import OrderRow

from .sim_rig import DECIMALS, MINTS, USER, Rig, SimulatedCrash, crash_at, make_rig

USDC_UNITS = 10 ** DECIMALS["USDC"]
GIFT_JUP = 7 * 10 ** DECIMALS["JUP"]
GIFT_LAMPORTS = 250_000_000


@pytest.fixture(params=["embedded", "rpc"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> AsyncIterator[Rig]:
    """The sim in process (`LiteSvmChain`), and over JSON-RPC (`RpcChain`, which reads the
    transaction's token balances from `getTransaction` as from any node)."""
    served = Congestion() if request.param == "rpc" else None
    async with make_rig(tmp_path, db_url, congestion=served) as r:
        yield r


def deposit_when_sent(rig: Rig, symbol: str) -> Callable[[OrderRow], None]:
    """An `on_step` hook: once the order is journaled as sent (its transaction on its way, or
    for `/order` already executed), someone else's transfer reaches the wallet."""

    def step(row: OrderRow) -> None:
        if row.state != OrderState.SENT.value:
            return
        ledger = rig.net.ledger
        if symbol == "SOL":
            ledger.airdrop(rig.owner, GIFT_LAMPORTS)
        else:
            mint = Pubkey.from_string(MINTS[symbol])
            ledger.set_token_balance(
                rig.owner, mint, ledger.token_balance(rig.owner, mint) + GIFT_JUP
            )

    return step


@pytest.mark.parametrize("route", [Route.V2, Route.BUILD, Route.V1])
async def test_tokens_arriving_during_a_buy_are_not_its_fill(rig: Rig, route: Route) -> None:
    ex = rig.executor(route, on_step=deposit_when_sent(rig, "JUP"))

    outcome = await ex.submit(rig.buy("JUP", 20 * USDC_UNITS), rig.signer)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    [order] = await rig.orders()
    assert order.filled_out == order.quoted_out  # the maker's quote, not quote + the gift


@pytest.mark.parametrize("route", [Route.V2, Route.BUILD, Route.V1])
async def test_sol_arriving_during_a_sale_for_sol_is_not_its_fill(rig: Rig, route: Route) -> None:
    bought = await rig.executor(route).submit(rig.buy("JUP", 20 * USDC_UNITS), rig.signer)
    assert bought.state is OrderState.CONFIRMED, bought.error
    [position] = await rig.positions()
    sale = rig.sell("JUP", position.quantity, position.id, into="SOL")
    ex = rig.executor(route, on_step=deposit_when_sent(rig, "SOL"))

    outcome = await ex.submit(sale, rig.signer)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    order = await rig.order(outcome.order_id)
    assert order.output_mint == NATIVE_MINT_TEXT
    assert order.filled_out == order.quoted_out  # not the quote plus 0.25 SOL


@pytest.mark.parametrize("route", [Route.V2, Route.BUILD, Route.V1])
async def test_a_group_books_each_swap_not_what_arrived_beside_it(rig: Rig, route: Route) -> None:
    """The group path (`GroupExecutor`): JUP arrives while a group with a JUP buy is in flight."""
    gifted: list[str] = []
    gift = deposit_when_sent(rig, "JUP")

    def once(row: OrderRow) -> None:
        if row.state == OrderState.SENT.value and not gifted:
            gifted.append(row.id)
            gift(row)

    ex = rig.executor(route, on_step=once)
    outcomes = await GroupExecutor(ex).submit_many(
        [
            (rig.buy("JUP", 20 * USDC_UNITS), rig.signer),
            (rig.buy("BONK", 10 * USDC_UNITS), rig.signer),
        ]
    )

    assert gifted
    assert [o.state for o in outcomes] == [OrderState.CONFIRMED] * 2, outcomes
    for order in await rig.orders():
        assert order.filled_out == order.quoted_out, order.token


@pytest.mark.parametrize("route", [Route.BUILD, Route.V1])
async def test_an_order_that_never_left_expires_though_tokens_arrived(
    rig: Rig, route: Route
) -> None:
    """Journaled with its own transaction id, then the process died before sending; meanwhile
    JUP reached the wallet from elsewhere. After expiry the known id has no status on the
    chain: the order expired, and what arrived is not its fill."""
    dying = rig.executor(route, on_step=crash_at(OrderState.SIGNED))
    with pytest.raises(SimulatedCrash):
        await dying.submit(rig.buy("JUP", 20 * USDC_UNITS), rig.signer)
    deposit_when_sent(rig, "JUP")(_sent_row())
    rig.pass_expiry()

    (outcome,) = await rig.executor(route).recover(rig.signer, USER)

    assert outcome.state is OrderState.EXPIRED, outcome
    assert await rig.positions() == []


def _sent_row() -> OrderRow:
    """A row in state `sent`, to fire `deposit_when_sent` by hand."""
    return OrderRow(state=OrderState.SENT.value)
