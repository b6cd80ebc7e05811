"""`/order` on Jupiter's aggregator route: the taker is the fee payer (`gasless: false`), so
the wallet pays the signature fee and the rent of the accounts the swap creates, though
Jupiter lands the transaction. Those costs are the trade's, as the chain shows them: booked
on the order (`fee_lamports`), and the wallet's SOL is the books' to the lamport. A sale for
SOL is its quote, not its quote less the fee. Both backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from solders.signature import Signature

from solbot.execution.executor import SwapIntent
from solbot.execution.groups import GroupExecutor
from solbot.reconcile import NATIVE_MINT_TEXT
from solbot.sim.maker import TOKEN_ACCOUNT_RENT
from solbot.sim.maker_types import MakerConfig
from solbot.store.states import OrderState, Purpose, Route, Side

from .sim_rig import DECIMALS, MINTS, USER, Rig, SimulatedCrash, crash, make_rig

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
    sale = SwapIntent(
        user_id=USER,
        token="JUP",
        side=Side.SELL,
        input_mint=MINTS["JUP"],
        output_mint=NATIVE_MINT_TEXT,
        amount_in=position.quantity,
        purpose=Purpose.EXIT,
        signal_key=f"exit:{position.id}",
        exit_reason="take_profit",
        position_id=position.id,
    )

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
