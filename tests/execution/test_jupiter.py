"""The Jupiter client against a local fake Jupiter, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterator
from decimal import Decimal

import httpx
import pytest
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.clock import ManualClock
from solbot.errors import UserError
from solbot.execution.jupiter import (
    BadResponseError,
    JupiterClient,
    NoRouteError,
    NotFullySignedError,
    PriceImpactTooHighError,
    QuoteExpiredError,
    RateLimitedError,
    RequestRejectedError,
    VenueError,
    VenueServerError,
)
from solbot.execution.signing import sign_own_slot
from solbot.http_retry import RateLimiter

from .fake_jupiter import (
    LAST_VALID_BLOCK_HEIGHT,
    SOL_MINT,
    USDC_MINT,
    FakeJupiter,
    Scripted,
    serve,
)

T0 = 1_750_000_000.0
API_KEY = "jup-test-key-0123456789"
ONE_SOL = 1_000_000_000
USER = Keypair.from_seed(bytes([2]) * 32)

MakeClient = Callable[..., JupiterClient]


@pytest.fixture
def fake() -> Iterator[FakeJupiter]:
    with serve() as server:
        yield server


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def make_client(fake: FakeJupiter, http: httpx.AsyncClient, clock: ManualClock) -> MakeClient:
    def make(**kwargs: object) -> JupiterClient:
        kwargs.setdefault("base_url", fake.base_url)
        return JupiterClient(http, clock, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def client(make_client: MakeClient) -> JupiterClient:
    return make_client(api_key=API_KEY)


async def order(client: JupiterClient, amount: int = ONE_SOL) -> object:
    return await client.order(SOL_MINT, USDC_MINT, amount, taker=USER.pubkey(), slippage_bps=50)


# Swap v2: order -------------------------------------------------------------------------------


async def test_order_sends_the_documented_query_and_parses_the_answer(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await client.order(SOL_MINT, USDC_MINT, ONE_SOL, taker=USER.pubkey(), slippage_bps=50)
    (seen,) = fake.requests
    assert (seen.method, seen.path) == ("GET", "/swap/v2/order")
    assert seen.params == {
        "inputMint": SOL_MINT,
        "outputMint": USDC_MINT,
        "amount": "1000000000",
        "taker": str(USER.pubkey()),
        "slippageBps": "50",
    }
    assert quote.in_amount == ONE_SOL
    assert isinstance(quote.in_amount, int)
    assert quote.out_amount == 1_500_000_000
    assert quote.other_amount_threshold == 1_492_500_000
    # priceImpactPct "-0.0001311599520149334" is a ratio: exactly -0.01311599520149334 %.
    assert quote.price_impact_pct == Decimal("-0.01311599520149334")
    assert (quote.router, quote.swap_type, quote.mode) == ("metis", "aggregator", "ultra")
    assert quote.last_valid_block_height == LAST_VALID_BLOCK_HEIGHT
    assert (quote.fee_bps, quote.fee_mint) == (2, SOL_MINT)
    assert (quote.platform_fee_amount, quote.platform_fee_bps) == (92_050, 2)
    assert quote.signature_fee_lamports == 5000
    assert quote.prioritization_fee_lamports == 696_237
    assert quote.signature_fee_payer == str(USER.pubkey())
    assert quote.in_usd_value == Decimal("99.96761068334662")
    assert quote.route_labels == ("MeteoraDLMM",)
    assert quote.request_id in fake.issued
    tx = quote.unsigned_transaction()
    assert tx.message.account_keys[0] == USER.pubkey()  # aggregator: the taker pays the fee
    assert "transaction=" not in repr(quote)


async def test_order_without_taker_is_a_quote_without_transaction(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await client.order(SOL_MINT, USDC_MINT, 5_000)
    assert "taker" not in fake.requests[0].params
    assert quote.transaction is None
    with pytest.raises(ValueError, match="without a taker"):
        quote.unsigned_transaction()


async def test_api_key_header_is_sent_when_configured(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    await order(client)
    assert fake.requests[0].headers["x-api-key"] == API_KEY


async def test_no_api_key_header_without_a_key(make_client: MakeClient, fake: FakeJupiter) -> None:
    await order(make_client())
    await order(make_client(api_key=""))
    assert all("x-api-key" not in seen.headers for seen in fake.requests)


async def test_no_route_is_not_retried(client: JupiterClient, fake: FakeJupiter) -> None:
    fake.no_route = True
    with pytest.raises(NoRouteError, match=r"no route for order .*Failed to get quotes") as caught:
        await order(client)
    assert caught.value.status == 400
    assert len(fake.requests) == 1


async def test_unreadable_amount_in_the_answer_is_a_bad_response(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    fake.script(
        "/swap/v2/order",
        Scripted(200, {}, {"requestId": "r", "inAmount": "1.5", "outAmount": "2"}),
    )
    with pytest.raises(BadResponseError, match="inAmount is not an integer"):
        await order(client)


async def test_order_for_other_mints_is_a_bad_response(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    real = fake.answer

    def swapped(seen):  # the server answers for another pair
        answer = real(seen)
        answer.body["outputMint"] = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"
        return answer

    fake.answer = swapped  # type: ignore[method-assign]
    with pytest.raises(BadResponseError, match=r"outputMint JUP\w+ is not the one asked for"):
        await order(client)


async def test_order_that_could_not_be_built_is_refused(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    real = fake.answer

    def unbuildable(seen):
        answer = real(seen)
        answer.body.update(transaction="", errorCode=1, errorMessage="Insufficient funds")
        return answer

    fake.answer = unbuildable  # type: ignore[method-assign]
    with pytest.raises(RequestRejectedError, match=r"errorCode 1\): Insufficient funds") as caught:
        await order(client)
    assert caught.value.code == 1


async def test_bad_arguments_never_reach_the_network(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    with pytest.raises(TypeError, match="integer atoms"):
        await client.order(SOL_MINT, USDC_MINT, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a Solana address"):
        await client.order(SOL_MINT + ",evil", USDC_MINT, 1)
    with pytest.raises(ValueError, match="out of range"):
        await client.order(SOL_MINT, USDC_MINT, 0)
    with pytest.raises(ValueError, match="basis points"):
        await client.order(SOL_MINT, USDC_MINT, 1, slippage_bps=10_001)
    assert fake.requests == []


# Price impact cap ---------------------------------------------------------------------------


async def test_price_impact_above_the_cap_is_refused_before_any_execute(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    client = make_client(max_price_impact_pct=Decimal("1"))
    fake.price_impact_pct = "-0.0325"  # 3.25 %
    with pytest.raises(PriceImpactTooHighError, match=r"3\.25 %, above the 1 % cap") as caught:
        await order(client)
    assert caught.value.impact_pct == Decimal("-3.25")
    assert [seen.path for seen in fake.requests] == ["/swap/v2/order"]
    assert fake.calls("/swap/v2/execute") == []


async def test_price_impact_within_the_cap_passes(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    fake.price_impact_pct = "0.01"  # exactly 1 %
    quote = await order(make_client(max_price_impact_pct=Decimal("1")))
    assert quote.price_impact_pct == Decimal("1")


async def test_price_impact_falls_back_to_the_percent_field(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    real = fake.answer

    def percent_only(seen):
        answer = real(seen)
        del answer.body["priceImpactPct"]
        answer.body["priceImpact"] = Decimal("-2.5")
        return answer

    fake.answer = percent_only  # type: ignore[method-assign]
    with pytest.raises(PriceImpactTooHighError, match=r"2\.5 %"):
        await order(client)


async def test_a_quote_without_price_impact_is_refused(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    real = fake.answer

    def no_impact(seen):
        answer = real(seen)
        del answer.body["priceImpactPct"], answer.body["priceImpact"]
        return answer

    fake.answer = no_impact  # type: ignore[method-assign]
    with pytest.raises(BadResponseError, match="no price impact"):
        await order(client)


async def test_legacy_quote_above_the_cap_is_refused_and_never_swapped(
    make_client: MakeClient, fake: FakeJupiter
) -> None:
    fake.price_impact_pct = "0.2"  # 20 %
    with pytest.raises(PriceImpactTooHighError):
        await make_client().quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert fake.calls("/swap/v1/swap") == []


# Swap v2: sign and execute ------------------------------------------------------------------


async def test_aggregator_order_signed_and_executed(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await order(client)
    signed = sign_own_slot(quote.unsigned_transaction(), USER)
    result = await client.execute(quote.request_id, signed)
    assert result.ok
    assert result.code == 0
    assert result.signature == str(signed.signatures[0])
    assert result.slot == 323_598_314
    assert (result.input_amount_result, result.output_amount_result) == (ONE_SOL, 1_500_000_000)
    (seen,) = fake.calls("/swap/v2/execute")
    assert seen.body == {
        "signedTransaction": base64.b64encode(bytes(signed)).decode(),
        "requestId": quote.request_id,
    }
    assert seen.headers["content-type"] == "application/json"


async def test_rfq_order_is_co_signed_by_the_maker_at_execute(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    fake.router = "jupiterz"
    quote = await order(client)
    assert quote.router == "jupiterz"
    assert quote.gasless
    assert quote.maker == str(fake.maker.pubkey())
    assert quote.expire_at == 1_750_000_030
    assert not quote.is_expired(T0)
    assert quote.is_expired(T0 + 30)
    unsigned = quote.unsigned_transaction()
    assert unsigned.message.account_keys[0] == fake.maker.pubkey()  # the maker pays the fee
    with pytest.raises(Exception, match="not enough signers"):
        VersionedTransaction(unsigned.message, [USER])
    signed = sign_own_slot(unsigned, USER)
    assert signed.verify_with_results() == [False, True]
    result = await client.execute(quote.request_id, signed, last_valid_block_height=123)
    assert result.ok
    assert fake.calls("/swap/v2/execute")[0].body["lastValidBlockHeight"] == "123"


async def test_quote_expired_on_execute(client: JupiterClient, fake: FakeJupiter) -> None:
    fake.router = "jupiterz"
    quote = await order(client)
    fake.quotes_expire = True
    with pytest.raises(QuoteExpiredError, match=r"quote expired \(code -2003\)") as caught:
        await client.execute(quote.request_id, sign_own_slot(quote.unsigned_transaction(), USER))
    assert caught.value.code == -2003
    assert len(fake.calls("/swap/v2/execute")) == 1


async def test_unknown_request_id_is_an_expired_quote(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await order(client)
    signed = sign_own_slot(quote.unsigned_transaction(), USER)
    with pytest.raises(QuoteExpiredError, match="Order not found, it might have expired") as caught:
        await client.execute("no-such-request", signed)
    assert (caught.value.status, caught.value.code) == (400, -1)


async def test_not_fully_signed_answer_from_the_server(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await order(client)
    signed = sign_own_slot(quote.unsigned_transaction(), USER)
    fake.script(
        "/swap/v2/execute",
        Scripted(
            200,
            {},
            {"status": "Failed", "code": -1003, "error": "Transaction not fully signed"},
        ),
    )
    with pytest.raises(NotFullySignedError, match=r"code -1003") as caught:
        await client.execute(quote.request_id, signed)
    assert caught.value.signature == str(signed.signatures[0])


async def test_unsigned_or_wrongly_signed_transactions_are_stopped_locally(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await order(client)
    unsigned = quote.unsigned_transaction()
    with pytest.raises(NotFullySignedError, match="no signature"):
        await client.execute(quote.request_id, unsigned)
    wrong = USER.sign_message(bytes(unsigned.message))  # without the version prefix
    assert wrong != USER.sign_message(to_bytes_versioned(unsigned.message))
    bad = VersionedTransaction.populate(unsigned.message, [wrong])
    with pytest.raises(NotFullySignedError, match="slot 0 does not verify"):
        await client.execute(quote.request_id, bad)
    assert fake.calls("/swap/v2/execute") == []


async def test_failed_swap_on_chain_is_a_result_not_an_error(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await order(client)
    signed = sign_own_slot(quote.unsigned_transaction(), USER)
    fake.script(
        "/swap/v2/execute",
        Scripted(
            200,
            {},
            {
                "status": "Failed",
                "signature": str(signed.signatures[0]),
                "slot": "368661931",
                "code": 6001,
                "error": "Slippage tolerance exceeded",
                "inputAmountResult": "1000000",
                "outputAmountResult": "4648441",
            },
        ),
    )
    result = await client.execute(quote.request_id, signed)
    assert not result.ok
    assert (result.code, result.error, result.slot) == (
        6001,
        "Slippage tolerance exceeded",
        368661931,
    )
    assert result.input_amount_result == 1_000_000


# Retries and rate limiting ------------------------------------------------------------------


async def test_429_is_retried_after_retry_after_then_succeeds(
    client: JupiterClient, fake: FakeJupiter, sent: list[float]
) -> None:
    fake.script("/swap/v2/order", Scripted(429, {"Retry-After": "7"}, b"Too Many Requests"))
    quote = await order(client)
    assert quote.in_amount == ONE_SOL
    assert len(fake.requests) == 2
    assert sent[1] - sent[0] == 7.0


async def test_429_forever_gives_up_with_a_clear_error(
    client: JupiterClient, fake: FakeJupiter, sent: list[float]
) -> None:
    fake.script("/swap/v2/order", *[Scripted(429)] * 4)
    with pytest.raises(RateLimitedError, match=r"rate-limited order .* 4 times \(HTTP 429\)"):
        await order(client)
    assert len(fake.requests) == 4
    assert [b - a for a, b in itertools.pairwise(sent)] == [1.0, 2.0, 4.0]


async def test_5xx_and_dropped_connections_are_retried_with_back_off(
    client: JupiterClient, fake: FakeJupiter, sent: list[float]
) -> None:
    fake.script("/swap/v2/order", Scripted(500, {}, {"error": "boom"}), Scripted(0), Scripted(503))
    quote = await order(client)
    assert quote.request_id
    assert [b - a for a, b in itertools.pairwise(sent)] == [1.0, 2.0, 4.0]
    assert client.requests == 4


async def test_500_forever_gives_up_with_a_clear_error(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    fake.script("/swap/v2/order", *[Scripted(500, {}, {"error": "Internal"})] * 4)
    with pytest.raises(
        VenueServerError, match=r"failed order .* 4 times; last: HTTP 500"
    ) as caught:
        await order(client)
    assert len(fake.requests) == 4
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, VenueError)
    assert isinstance(caught.value, UserError)
    assert not caught.value.outcome_unknown


async def test_execute_that_keeps_failing_says_the_outcome_is_unknown(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await order(client)
    signed = sign_own_slot(quote.unsigned_transaction(), USER)
    signature = str(signed.signatures[0])
    fake.script(
        "/swap/v2/execute", *[Scripted(500, {}, {"signature": signature, "error": "x"})] * 4
    )
    with pytest.raises(VenueServerError, match="may have executed: check the chain") as caught:
        await client.execute(quote.request_id, signed)
    assert caught.value.outcome_unknown
    assert caught.value.signature == signature
    assert len(fake.calls("/swap/v2/execute")) == 4


async def test_malformed_json_is_a_bad_response_and_not_retried(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    fake.script("/swap/v2/order", Scripted(200, {}, b'{"requestId": "abc", "inAmount": '))
    with pytest.raises(BadResponseError, match="non-JSON answer to order"):
        await order(client)
    assert len(fake.requests) == 1


async def test_a_json_array_is_a_bad_response(client: JupiterClient, fake: FakeJupiter) -> None:
    fake.script("/swap/v2/order", Scripted(200, {}, [1, 2, 3]))
    with pytest.raises(BadResponseError, match="not a JSON object"):
        await order(client)


@pytest.mark.parametrize(("rate", "gap"), [(1.0, 1.0), (0.5, 2.0), (10.0, 0.1)])
async def test_requests_are_spaced_by_the_tier_budget(
    make_client: MakeClient, sent: list[float], rate: float, gap: float
) -> None:
    client = make_client(requests_per_second=rate)
    for _ in range(3):
        await client.order(SOL_MINT, USDC_MINT, 10)
    assert [b - a for a, b in itertools.pairwise(sent)] == pytest.approx([gap, gap])


async def test_clients_of_one_account_can_share_a_limiter(
    make_client: MakeClient, clock: ManualClock, sent: list[float]
) -> None:
    shared = RateLimiter.per_second(clock, 1.0)
    first, second = make_client(limiter=shared), make_client(limiter=shared)
    await first.order(SOL_MINT, USDC_MINT, 10)
    await second.order(SOL_MINT, USDC_MINT, 10)
    assert sent == [T0, T0 + 1.0]


# Errors are one line without secrets --------------------------------------------------------


async def test_errors_never_carry_the_signed_transaction_or_the_api_key(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await order(client)
    signed = sign_own_slot(quote.unsigned_transaction(), USER)
    encoded = base64.b64encode(bytes(signed)).decode()

    def echo(seen):
        text = f"bad\ntransaction {seen.body['signedTransaction']} key {API_KEY}"
        return Scripted(400, {}, {"code": -2, "error": text})

    fake.answer = echo  # type: ignore[method-assign]
    with pytest.raises(NotFullySignedError) as caught:
        await client.execute(quote.request_id, signed)
    message = str(caught.value)
    assert encoded not in message
    assert encoded[:100] not in message
    assert API_KEY not in message
    assert "\n" not in message
    assert str(USER) not in message  # str(keypair) is the secret key


async def test_rejected_key_says_so(client: JupiterClient, fake: FakeJupiter) -> None:
    fake.script("/swap/v2/order", Scripted(401, {}, {"error": "Invalid API key"}))
    with pytest.raises(RequestRejectedError, match="HTTP 401: Invalid API key; check the API key"):
        await order(client)
    assert len(fake.requests) == 1


# Legacy Swap v1 ---------------------------------------------------------------------------


async def test_legacy_quote_and_swap_post_the_quote_back_as_received(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await client.quote(SOL_MINT, USDC_MINT, ONE_SOL, slippage_bps=100)
    (seen,) = fake.requests
    assert seen.params == {
        "inputMint": SOL_MINT,
        "outputMint": USDC_MINT,
        "amount": "1000000000",
        "slippageBps": "100",
        "swapMode": "ExactIn",
        "restrictIntermediateTokens": "true",
        "onlyDirectRoutes": "false",
    }
    assert (quote.in_amount, quote.out_amount, quote.other_amount_threshold) == (
        ONE_SOL,
        1_500_000_000,
        1_485_000_000,
    )
    assert quote.slippage_bps == 100
    assert quote.price_impact_pct == Decimal("-0.01311599520149334")
    assert quote.context_slot == 324_307_186
    assert quote.route_labels == ("Meteora DLMM",)

    swap = await client.swap_transaction(quote, USER.pubkey(), max_priority_fee_lamports=5_000_000)
    posted = fake.calls("/swap/v1/swap")[0].body
    assert posted == {
        "quoteResponse": {
            **fake.quote_body(seen.params),
            "timeTaken": 0.012,
        },
        "userPublicKey": str(USER.pubkey()),
        "wrapAndUnwrapSol": True,
        "dynamicComputeUnitLimit": True,
        "prioritizationFeeLamports": {
            "priorityLevelWithMaxLamports": {"maxLamports": 5_000_000, "priorityLevel": "veryHigh"}
        },
    }
    assert swap.last_valid_block_height == LAST_VALID_BLOCK_HEIGHT
    assert swap.prioritization_fee_lamports == 52_000
    assert swap.compute_unit_limit == 200_000
    tx = swap.unsigned_transaction()
    assert tx.signatures == [Signature.default()]
    assert sign_own_slot(tx, USER).verify_with_results() == [True]


async def test_legacy_no_route(client: JupiterClient, fake: FakeJupiter) -> None:
    fake.no_route = True
    with pytest.raises(NoRouteError, match="Could not find any route") as caught:
        await client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    assert caught.value.code == "COULD_NOT_FIND_ANY_ROUTE"
    assert len(fake.requests) == 1


async def test_legacy_swap_simulation_failure(client: JupiterClient, fake: FakeJupiter) -> None:
    quote = await client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    fake.script(
        "/swap/v1/swap",
        Scripted(
            200,
            {},
            {"swapTransaction": None, "simulationError": "custom program error: 0x1"},
        ),
    )
    with pytest.raises(RequestRejectedError, match="simulation failed: custom program error"):
        await client.swap_transaction(quote, USER.pubkey())


async def test_legacy_swap_with_a_broken_transaction_is_a_bad_response(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    quote = await client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    fake.script(
        "/swap/v1/swap",
        Scripted(
            200, {}, {"swapTransaction": "bm90IGEgdHJhbnNhY3Rpb24=", "lastValidBlockHeight": 1}
        ),
    )
    with pytest.raises(BadResponseError, match="swapTransaction is not a base64 transaction"):
        await client.swap_transaction(quote, USER.pubkey())


async def test_the_stored_quote_cannot_be_altered_by_callers(client: JupiterClient) -> None:
    quote = await client.quote(SOL_MINT, USDC_MINT, ONE_SOL)
    quote.raw["outAmount"] = "999999999999"
    assert quote.raw["outAmount"] == "1500000000"


async def test_a_non_json_refusal_is_reported_in_one_line(
    client: JupiterClient, fake: FakeJupiter
) -> None:
    fake.script("/swap/v2/order", Scripted(403, {}, b"<html>\n<b>Forbidden</b>\n</html>"))
    with pytest.raises(RequestRejectedError, match="HTTP 403: <html> <b>Forbidden</b> </html>"):
        await order(client)
