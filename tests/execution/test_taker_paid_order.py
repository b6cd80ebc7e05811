"""`/order` on Jupiter's aggregator route: the taker is the fee payer (`gasless: false`), so
the wallet pays the signature fee and the rent of the accounts the swap creates, though
Jupiter lands the transaction. Those costs are the trade's, as the chain shows them: booked
on the order (`fee_lamports`), and the wallet's SOL is the books' to the lamport. A sale for
SOL is its quote, not its quote less the fee. Both backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from solders.pubkey import Pubkey
from solders.signature import Signature

from solbot.execution.groups import GroupExecutor
from solbot.sim.maker import TOKEN_ACCOUNT_RENT
from solbot.sim.maker_types import MakerConfig
from solbot.store.states import OrderState, Route

from .sim_rig import DECIMALS, MINTS, USER, Rig, SimulatedCrash, crash, crash_at, make_rig

USDC_UNITS = 10 ** DECIMALS["USDC"]


@pytest.fixture
async def rig(tmp_path: Path, db_url: str) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path, db_url, maker=MakerConfig(v2_taker_pays=True)) as r:
        yield r


async def network_fee(rig: Rig, signature: str) -> int:
    costs = await rig.chain.costs(Signature.from_string(signature))
    assert costs is not None
    return costs.fee


async def test_the_wallet_pays_the_fee_and_rent_and_the_books_say_so(rig: Rig) -> None:
    sol = rig.balance("SOL")

    outcome = await rig.executor(Route.V2).submit(rig.buy("JUP", 20 * USDC_UNITS), rig.signer)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    [order] = await rig.orders()
    assert order.signature is not None
    paid = await network_fee(rig, order.signature) + TOKEN_ACCOUNT_RENT  # its new JUP account
    assert order.fee_lamports == paid
    assert rig.balance("SOL") == sol - paid
    await rig.check_books()


async def test_a_sale_for_sol_is_its_quote(rig: Rig) -> None:
    bought = await rig.executor(Route.V2).submit(rig.buy("JUP", 20 * USDC_UNITS), rig.signer)
    assert bought.state is OrderState.CONFIRMED, bought.error
    [position] = await rig.positions()
    sol = rig.balance("SOL")
    sale = rig.sell("JUP", position.quantity, position.id, into="SOL")

    outcome = await rig.executor(Route.V2).submit(sale, rig.signer)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    order = await rig.order(outcome.order_id)
    assert order.signature is not None
    fee = await network_fee(rig, order.signature)
    assert order.fee_lamports == fee
    assert order.filled_out == order.quoted_out
    assert rig.balance("SOL") == sol + order.quoted_out - fee


async def test_a_group_books_what_each_wallet_paid(rig: Rig) -> None:
    sol = rig.balance("SOL")
    outcomes = await GroupExecutor(rig.executor(Route.V2)).submit_many(
        [
            (rig.buy("JUP", 20 * USDC_UNITS), rig.signer),
            (rig.buy("BONK", 10 * USDC_UNITS), rig.signer),
        ]
    )
    assert [o.state for o in outcomes] == [OrderState.CONFIRMED] * 2, outcomes
    orders = await rig.orders()
    for order in orders:
        assert order.signature is not None
        paid = await network_fee(rig, order.signature) + TOKEN_ACCOUNT_RENT
        assert order.fee_lamports == paid, order.token
    assert rig.balance("SOL") == sol - sum(o.fee_lamports or 0 for o in orders)
    await rig.check_books()


async def test_an_execute_answer_lost_is_settled_by_its_own_signature(rig: Rig) -> None:
    """The wallet pays the fee, so its signature is the transaction's id, journaled before
    `/execute`: a process that died with the answer in flight finds the fill by that id at the
    next start, costs and all, without waiting for the blockhash to expire."""
    rig.transport.after["/swap/v2/execute"] = crash
    with pytest.raises(SimulatedCrash):
        await rig.executor(Route.V2).submit(rig.buy("JUP", 20 * USDC_UNITS), rig.signer)
    [order] = await rig.orders()
    assert order.state == OrderState.SIGNED.value
    assert order.signature == order.own_signature

    (outcome,) = await rig.executor(Route.V2).recover(rig.signer, USER)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    order = await rig.order(outcome.order_id)
    assert order.signature is not None
    assert order.fee_lamports == await network_fee(rig, order.signature) + TOKEN_ACCOUNT_RENT
    await rig.check_books()


async def test_an_order_that_never_reached_execute_expires_though_tokens_arrived(
    rig: Rig,
) -> None:
    """Its id (the wallet's signature) was journaled before `/execute`; the process died there,
    and JUP arrived from elsewhere. After expiry that id has no status: expired, no position."""
    dying = rig.executor(Route.V2, on_step=crash_at(OrderState.SIGNED))
    with pytest.raises(SimulatedCrash):
        await dying.submit(rig.buy("JUP", 20 * USDC_UNITS), rig.signer)
    jup = Pubkey.from_string(MINTS["JUP"])
    ledger = rig.net.ledger
    ledger.set_token_balance(rig.owner, jup, ledger.token_balance(rig.owner, jup) + 10**9)
    rig.pass_expiry()

    (outcome,) = await rig.executor(Route.V2).recover(rig.signer, USER)

    assert outcome.state is OrderState.EXPIRED, outcome
    assert await rig.positions() == []


def failed_answer(code: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A rewrite of `/execute`'s answer: "Failed" with `code` and no signature, whatever
    happened (Jupiter's "failed to land" and "timed out" are said of transactions that can
    still land)."""

    def rewrite(body: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Failed", "code": code, "error": "timed out", "slot": "0"}

    return rewrite


@pytest.mark.parametrize("code", [-1000, -1006])
async def test_a_failed_answer_is_not_the_last_word_when_the_wallet_pays(
    rig: Rig, code: int
) -> None:
    """The transaction landed though `/execute` said it failed: the wallet's own id is followed
    on the chain, and the fill and its costs are booked."""
    rig.transport.rewrite["/swap/v2/execute"] = failed_answer(code)

    outcome = await rig.executor(Route.V2).submit(rig.buy("JUP", 20 * USDC_UNITS), rig.signer)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    order = await rig.order(outcome.order_id)
    assert order.signature == order.own_signature
    assert order.filled_out == order.quoted_out
    assert order.fee_lamports == await network_fee(rig, order.signature) + TOKEN_ACCOUNT_RENT
    await rig.check_books()


async def test_an_answer_naming_another_transaction_is_not_believed(rig: Rig) -> None:
    """`/execute` names a transaction that is not this order's (a venue's bug, or a lie): the
    wallet's own id is followed instead."""
    first = await rig.executor(Route.V2).submit(rig.buy("BONK", 10 * USDC_UNITS), rig.signer)
    assert first.state is OrderState.CONFIRMED, first.error
    rig.transport.rewrite["/swap/v2/execute"] = lambda body: {**body, "signature": first.signature}

    outcome = await rig.executor(Route.V2).submit(rig.buy("JUP", 20 * USDC_UNITS), rig.signer)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    order = await rig.order(outcome.order_id)
    assert order.signature == order.own_signature != first.signature
    assert order.filled_out == order.quoted_out
    await rig.check_books()
