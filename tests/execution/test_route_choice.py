"""`SOLBOT_JUPITER_ROUTE=auto`: each order on the route that costs the wallet less for its size.

The arithmetic rule by rule (`route_choice.compare`), then orders through the executor on the
sim, single and in a group: made on `/order`, moved to `/build` (journaled as `build`, landed
by the bot) when that is cheaper, kept on `/order` when it is not or when no SOL price is known.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair

from solbot.execution.groups import GroupExecutor
from solbot.execution.jupiter_types import OrderQuote
from solbot.execution.landing import LandingPolicy
from solbot.execution.route_choice import build_cost_lamports, compare
from solbot.store.states import OrderState, Route

from .sim_rig import DECIMALS, USER, Rig, SimulatedCrash, crash_at, garble

TAKER = "4Yxwy5WDGrXRd2eSMFrEsPnwDg4JCJHeaw1WbrxQ36Qc"
MAKER = "6oCZbvmJW5Zm6SS3FkBjpN2LsVNAX2WWAqTfZkTUBGXn"
POLICY = LandingPolicy(max_priority_lamports=1_000_000)
USDC_UNITS = 10 ** DECIMALS["USDC"]
ROGUE_PROGRAM = Keypair.from_seed(bytes([7]) * 32).pubkey()  # a program nobody trusts


def answer(usd: str, fee_bps: int = 10, *, taker_pays: int = 0) -> OrderQuote:
    """An `/order` answer for a swap worth `usd`, Jupiter's fee `fee_bps`; `taker_pays`
    lamports of signature and priority fees on the taker (an aggregator route)."""
    fields = {f.name: None for f in dataclasses.fields(OrderQuote)}
    fields.update(
        request_id="r",
        input_mint="EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        output_mint="JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN",
        in_amount=1,
        out_amount=1,
        other_amount_threshold=1,
        swap_mode="ExactIn",
        price_impact_pct=Decimal(0),
        transaction=None,
        gasless=not taker_pays,
        route_labels=(),
        fee_bps=fee_bps,
        in_usd_value=Decimal(usd),
        signature_fee_lamports=5_000 if taker_pays else 0,
        signature_fee_payer=TAKER if taker_pays else MAKER,
        prioritization_fee_lamports=max(0, taker_pays - 5_000),
        prioritization_fee_payer=TAKER if taker_pays else MAKER,
    )
    return OrderQuote(**fields)


def costs(quote: OrderQuote, *, sol: str = "150", unit_price: int = 0, units: int = 300_000):
    return compare(quote, TAKER, Decimal(sol), unit_price=unit_price, units=units, policy=POLICY)


def test_jupiters_fee_wins_on_small_orders_our_landing_on_large_ones() -> None:
    # /build when calm: 5,000 lamports = $0.00075 at $150; /order's 10 bps is that at $0.75.
    small, large = costs(answer("0.50")), costs(answer("10"))
    assert small is not None
    assert large is not None
    assert small.order_usd == Decimal("0.0005")
    assert small.build_usd == Decimal("0.00075")
    assert not small.build_is_cheaper
    assert large.build_is_cheaper


def test_a_busy_network_moves_the_line_up_to_the_cap() -> None:
    busy = costs(answer("100"), unit_price=5_000_000)  # 1.5M lamports asked: capped at 1M
    assert build_cost_lamports(5_000_000, 300_000, POLICY) == 5_000 + 1_000_000
    assert busy is not None
    assert busy.build_usd == Decimal("0.15075")
    assert not busy.build_is_cheaper  # $0.10 of fee on $100 < $0.15 of SOL
    assert costs(answer("1000"), unit_price=5_000_000).build_is_cheaper  # type: ignore[union-attr]


def test_what_the_taker_pays_on_an_aggregator_order_counts() -> None:
    gasless, paying = costs(answer("0.50")), costs(answer("0.50", taker_pays=700_000))
    assert gasless is not None
    assert paying is not None
    assert paying.order_usd - gasless.order_usd == Decimal("0.105")  # 700,000 lamports at $150
    assert paying.build_is_cheaper
    assert not gasless.build_is_cheaper


def test_without_the_swaps_value_nothing_is_compared() -> None:
    assert costs(dataclasses.replace(answer("1"), in_usd_value=None)) is None


# -- through the executor, on the sim ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sol_usd", "route"),
    [("150", Route.BUILD), ("100000000", Route.V2), (None, Route.V2)],
    ids=["build-cheaper", "order-cheaper", "no-sol-price"],
)
async def test_each_order_takes_the_cheaper_route(
    rig: Rig, sol_usd: str | None, route: Route
) -> None:
    """The sim's maker charges 25 bps on `/order`: on $50 that is $0.125, against /build's
    5,000 lamports ($0.00075 at $150, $500 at an absurd $100M a SOL)."""
    ex = rig.executor(Route.V2, auto_route=True)
    ex.quoter.sol_usd = None if sol_usd is None else Decimal(sol_usd)

    outcome = await ex.submit(rig.buy("JUP", 50 * USDC_UNITS), rig.signer)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    [order] = await rig.orders()
    assert order.route == route.value
    assert bool(order.fee_lamports) == (route is Route.BUILD)  # the wallet paid its own
    assert ("/swap/v2/build" in rig.transport.calls) == (route is Route.BUILD)
    assert ("/swap/v2/execute" in rig.transport.calls) == (route is Route.V2)
    await rig.check_books()


async def test_a_group_moves_each_order_on_its_own(rig: Rig) -> None:
    ex = rig.executor(Route.V2, auto_route=True)
    ex.quoter.sol_usd = Decimal("150")  # /build: $0.00075; /order: 25 bps
    outcomes = await GroupExecutor(ex).submit_many(
        [
            (rig.buy("JUP", 100 * USDC_UNITS), rig.signer),
            (rig.buy("BONK", USDC_UNITS // 10), rig.signer),  # $0.10: 25 bps is $0.00025
        ]
    )
    assert [o.state for o in outcomes] == [OrderState.CONFIRMED] * 2
    routes = {o.token: o.route for o in await rig.orders()}
    assert routes == {"JUP": "build", "BONK": "v2"}
    await rig.check_books()


@pytest.mark.parametrize("stopped", [OrderState.SIGNED, OrderState.SENT])
async def test_an_order_auto_moved_to_build_is_recovered_on_build(
    rig: Rig, stopped: OrderState
) -> None:
    """The route an `auto` order took is journaled with its quote: after a crash, recovery by a
    process on the default route re-sends the journaled `/build` bytes, and it fills once."""
    dying = rig.executor(Route.V2, auto_route=True, on_step=crash_at(stopped))
    dying.quoter.sol_usd = Decimal("150")
    with pytest.raises(SimulatedCrash):
        await dying.submit(rig.buy("JUP", 50 * USDC_UNITS), rig.signer)

    (outcome,) = await rig.executor(Route.V2).recover(rig.signer, USER)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    [order] = await rig.orders()
    assert order.route == Route.BUILD.value
    assert "/swap/v2/execute" not in rig.transport.calls
    assert await rig.executor(Route.V2).recover(rig.signer, USER) == []
    await rig.check_books()


def no_route(request: httpx.Request) -> httpx.Response:
    return httpx.Response(400, json={"error": "Failed to get quotes"}, request=request)


def server_down(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"error": "unavailable"}, request=request)


def rogue_program(body: dict[str, Any]) -> dict[str, Any]:
    """A `/build` answer whose swap instruction belongs to a program nobody trusts."""
    body["swapInstruction"]["programId"] = str(ROGUE_PROGRAM)
    return body


@pytest.mark.parametrize("fault", ["no-route", "server-down", "garbled", "unsafe"])
async def test_when_build_fails_the_order_fills_on_the_order_answer(rig: Rig, fault: str) -> None:
    """`auto` asked `/order` first: when `/build` then fails (no route there, the server down,
    an answer it cannot read, a transaction it will not sign), the order is not lost but fills
    on `/order`'s answer, once."""
    if fault == "unsafe":
        rig.transport.rewrite["/swap/v2/build"] = rogue_program
    else:
        hook = {"no-route": no_route, "server-down": server_down, "garbled": garble}[fault]
        rig.transport.before["/swap/v2/build"] = hook
    ex = rig.executor(Route.V2, auto_route=True)
    ex.quoter.sol_usd = Decimal("150")  # /build would be cheaper

    outcome = await ex.submit(rig.buy("JUP", 50 * USDC_UNITS), rig.signer)

    assert outcome.state is OrderState.CONFIRMED, outcome.error
    [order] = await rig.orders()
    assert order.route == Route.V2.value
    assert rig.transport.calls.get("/swap/v2/execute") == 1
    await rig.check_books()
