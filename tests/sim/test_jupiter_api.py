"""The sim's Jupiter API over real httpx: v2 order/execute and v1 quote/swap settle on the
LiteSVM ledger to the atom; errors come in Jupiter's shapes; Price v3 answers like Jupiter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sim_world import (
    BONK,
    JUP,
    SOL,
    USDC,
    USER_USDC,
    World,
    b64,
    from_b64,
    make_world,
    sign_own_slot,
)
from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature

from solbot.sim.jupiter_http import InProcessJupiter, create_jupiter_app, serve_jupiter
from solbot.sim.jupiter_params import quote_key
from solbot.sim.maker import TOKEN_ACCOUNT_RENT

# The quote fields Jupiter's API documents; a client that keeps only these (as Jupiter's own
# typed clients do) must still be able to post the quote back to /swap.
V1_QUOTE_FIELDS = (
    "inputMint",
    "inAmount",
    "outputMint",
    "outAmount",
    "otherAmountThreshold",
    "swapMode",
    "slippageBps",
    "platformFee",
    "priceImpactPct",
    "routePlan",
    "contextSlot",
    "timeTaken",
)


@pytest.fixture
def world() -> World:
    return make_world()


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    app = create_jupiter_app(world.maker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jupiter.sim") as http:
        yield http


async def _order(
    client: httpx.AsyncClient, world: World, in_mint: str, out_mint: str, amount: int
) -> dict[str, Any]:
    params = {
        "inputMint": in_mint,
        "outputMint": out_mint,
        "amount": str(amount),
        "taker": str(world.user.pubkey()),
    }
    response = await client.get("/swap/v2/order", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _execute(
    client: httpx.AsyncClient, request_id: str, signed_b64: str, height: str | None = None
) -> httpx.Response:
    body = {"signedTransaction": signed_b64, "requestId": request_id}
    if height is not None:
        body["lastValidBlockHeight"] = height
    return await client.post("/swap/v2/execute", json=body)


async def test_v2_order_sign_own_slot_execute_moves_balances_exactly(
    client: httpx.AsyncClient, world: World
) -> None:
    user, maker = world.user.pubkey(), world.maker.pubkey
    amount = 1_500 * 10**6
    order = await _order(client, world, USDC, BONK, amount)
    # The shape of a Jupiter RFQ order.
    assert order["router"] == "jupiterz"
    assert order["swapType"] == "rfq"
    assert order["gasless"] is True
    assert order["maker"] == str(maker)
    assert order["taker"] == str(user)
    assert order["inAmount"] == str(amount)
    assert order["otherAmountThreshold"] == order["outAmount"]
    assert isinstance(order["slippageBps"], int)
    assert isinstance(order["lastValidBlockHeight"], str)
    assert int(order["expireAt"]) == int(world.clock.now() + 30)
    assert order["priceImpact"] == pytest.approx(
        100 * (order["outUsdValue"] / order["inUsdValue"] - 1)
    )
    assert float(order["priceImpactPct"]) * 100 == pytest.approx(order["priceImpact"])
    assert order["priceImpact"] < 0  # fee, spread and impact: the taker gets less
    assert order["rentFeeLamports"] == TOKEN_ACCOUNT_RENT  # the user has no BONK account yet
    assert order["routePlan"][0]["swapInfo"]["ammKey"] == str(maker)
    out = int(order["outAmount"])
    assert out == world.maker.order(order["requestId"]).pricing.out_amount

    tx = from_b64(order["transaction"])
    assert tx.message.account_keys[0] == maker  # the maker pays the fees
    assert all(s == Signature.default() for s in tx.signatures)  # nobody has signed yet
    signed = sign_own_slot(tx, world.user)
    assert signed.signatures[0] == Signature.default()  # only the user's own slot

    before_user, before_maker = world.balances(user), world.balances(maker)
    response = await _execute(
        client, order["requestId"], b64(signed), order["lastValidBlockHeight"]
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "Success"
    assert result["code"] == 0
    assert result["inputAmountResult"] == str(amount)
    assert result["outputAmountResult"] == str(out)
    assert result["totalOutputAmount"] == str(out)
    assert result["swapEvents"] == [
        {
            "inputMint": USDC,
            "inputAmount": str(amount),
            "outputMint": BONK,
            "outputAmount": str(out),
        }
    ]
    assert int(result["slot"]) == world.ledger.slot
    signature = Signature.from_string(result["signature"])
    landed = world.ledger.status(signature)
    assert landed is not None
    assert landed.ok
    # The transaction id is the maker's signature, which only execute revealed.
    assert signature.verify(maker, to_bytes_versioned(tx.message))

    after_user, after_maker = world.balances(user), world.balances(maker)
    assert after_user["USDC"] - before_user["USDC"] == -amount
    assert after_user["BONK"] - before_user["BONK"] == out
    assert after_user["lamports"] == before_user["lamports"]  # fees and rent: the maker's
    assert after_maker["USDC"] - before_maker["USDC"] == amount
    assert after_maker["BONK"] - before_maker["BONK"] == -out
    assert after_maker["lamports"] - before_maker["lamports"] == -10_000 - TOKEN_ACCOUNT_RENT

    # Re-posting the same execute answers the same result and moves nothing.
    again = await _execute(client, order["requestId"], b64(signed))
    assert again.json() == result
    assert world.balances(user) == after_user


async def test_v2_sell_for_native_sol(client: httpx.AsyncClient, world: World) -> None:
    user = world.user.pubkey()
    order = await _order(client, world, JUP, SOL, 700 * 10**6)
    before = world.balances(user)
    signed = sign_own_slot(from_b64(order["transaction"]), world.user)
    result = (await _execute(client, order["requestId"], b64(signed))).json()
    assert result["status"] == "Success"
    after = world.balances(user)
    assert after["lamports"] - before["lamports"] == int(order["outAmount"])
    assert after["JUP"] - before["JUP"] == -700 * 10**6


async def test_v1_quote_swap_from_a_stripped_quote_user_sends(
    client: httpx.AsyncClient, world: World
) -> None:
    user = world.user.pubkey()
    params = {"inputMint": SOL, "outputMint": JUP, "amount": str(2 * 10**9), "slippageBps": "75"}
    quote = (await client.get("/swap/v1/quote", params=params)).json()
    assert quote["inAmount"] == str(2 * 10**9)
    assert quote["slippageBps"] == 75
    out = int(quote["outAmount"])
    assert int(quote["otherAmountThreshold"]) == out * (10_000 - 75) // 10_000
    assert isinstance(quote["contextSlot"], int)
    assert set(quote) <= set(V1_QUOTE_FIELDS)
    # As a typed client re-serialises it: unknown fields dropped, keys reordered, numbers as
    # strings where the client keeps strings.
    posted = {name: quote[name] for name in reversed(V1_QUOTE_FIELDS) if name in quote}
    posted["slippageBps"] = str(posted["slippageBps"])
    body = {
        "quoteResponse": posted,
        "userPublicKey": str(user),
        "wrapAndUnwrapSol": True,
        "dynamicComputeUnitLimit": True,
        "prioritizationFeeLamports": {
            "priorityLevelWithMaxLamports": {"maxLamports": 1_000_000, "priorityLevel": "veryHigh"}
        },
    }
    response = await client.post("/swap/v1/swap", json=body)
    assert response.status_code == 200, response.text
    swap = response.json()
    assert set(swap) == {"swapTransaction", "lastValidBlockHeight", "prioritizationFeeLamports"}
    assert isinstance(swap["lastValidBlockHeight"], int)
    tx = from_b64(swap["swapTransaction"])
    assert tx.message.account_keys[0] == user  # the user pays the fees and sends it
    assert tx.signatures[0] == Signature.default()
    # Posting the quote again gives the same transaction: a retried /swap cannot fill twice.
    assert (await client.post("/swap/v1/swap", json=body)).json() == swap

    before_user, before_maker = world.balances(user), world.balances(world.maker.pubkey)
    landed = world.ledger.send(sign_own_slot(tx, world.user))
    assert landed.ok, landed.err
    after_user, after_maker = world.balances(user), world.balances(world.maker.pubkey)
    assert after_user["lamports"] - before_user["lamports"] == -(2 * 10**9) - 10_000
    assert after_user["JUP"] - before_user["JUP"] == out
    assert after_maker["lamports"] - before_maker["lamports"] == 2 * 10**9
    assert after_maker["JUP"] - before_maker["JUP"] == -out


async def test_v1_swap_refuses_unknown_expired_and_tampered_quotes(
    client: httpx.AsyncClient, world: World
) -> None:
    params = {"inputMint": USDC, "outputMint": JUP, "amount": str(10**8)}
    quote = (await client.get("/swap/v1/quote", params=params)).json()
    assert quote["slippageBps"] == 50  # Jupiter's default
    body = {"quoteResponse": quote, "userPublicKey": str(world.user.pubkey())}
    tampered = {**body, "quoteResponse": {**quote, "outAmount": str(int(quote["outAmount"]) * 2)}}
    response = await client.post("/swap/v1/swap", json=tampered)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "QUOTE_EXPIRED"
    missing = {**body, "quoteResponse": {k: v for k, v in quote.items() if k != "inAmount"}}
    response = await client.post("/swap/v1/swap", json=missing)
    assert response.status_code == 400
    assert "inAmount" in response.json()["error"]
    bad_user = await client.post("/swap/v1/swap", json={**body, "userPublicKey": "nope"})
    assert bad_user.status_code == 400
    world.advance(31.0)
    expired = await client.post("/swap/v1/swap", json=body)
    assert expired.status_code == 400
    assert expired.json() == {
        "error": "Quote not found or expired; request a new quote",
        "errorCode": "QUOTE_EXPIRED",
    }


def test_quote_key_is_about_terms_not_formatting() -> None:
    terms = {
        "inputMint": USDC,
        "inAmount": "1000",
        "outputMint": JUP,
        "outAmount": "1234",
        "otherAmountThreshold": "1227",
        "swapMode": "ExactIn",
        "slippageBps": 50,
    }
    same = {**terms, "slippageBps": "50", "inAmount": 1000, "contextSlot": 5, "extra": [1]}
    assert quote_key(terms) == quote_key(same)
    assert quote_key(terms) != quote_key({**terms, "outAmount": "1235"})


async def test_v2_expired_quote(client: httpx.AsyncClient, world: World) -> None:
    order = await _order(client, world, USDC, JUP, 10**8)
    signed = sign_own_slot(from_b64(order["transaction"]), world.user)
    before = world.balances(world.user.pubkey())
    world.advance(30.5)
    response = await _execute(client, order["requestId"], b64(signed))
    assert response.status_code == 200
    assert response.json() == {
        "status": "Failed",
        "code": -2003,
        "slot": "0",
        "error": "Quote expired",
    }
    assert world.balances(world.user.pubkey()) == before


async def test_v2_not_fully_signed(client: httpx.AsyncClient, world: World) -> None:
    order = await _order(client, world, USDC, JUP, 10**8)
    unsigned = order["transaction"]
    response = await _execute(client, order["requestId"], unsigned)
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == "Failed"
    assert result["code"] == -1003
    assert "not fully signed" in result["error"]
    assert "signature" not in result
    assert world.balances(world.user.pubkey())["USDC"] == USER_USDC


async def test_v2_execute_request_errors(client: httpx.AsyncClient, world: World) -> None:
    order = await _order(client, world, USDC, JUP, 10**8)
    signed = b64(sign_own_slot(from_b64(order["transaction"]), world.user))
    cases = [
        ({"signedTransaction": signed, "requestId": "unknown"}, -1),
        ({"signedTransaction": "not base64!", "requestId": order["requestId"]}, -2),
        ({"signedTransaction": signed}, -4),
        ({"requestId": order["requestId"]}, -5),
    ]
    for body, code in cases:
        response = await client.post("/swap/v2/execute", json=body)
        assert response.status_code == 400, body
        assert response.json()["code"] == code
    unknown = (await client.post("/swap/v2/execute", json=cases[0][0])).json()
    assert unknown == {"code": -1, "error": "Order not found, it might have expired"}
    other = await _order(client, world, USDC, JUP, 2 * 10**8)
    changed = b64(sign_own_slot(from_b64(other["transaction"]), world.user))
    response = await _execute(client, order["requestId"], changed)
    assert response.status_code == 400
    assert response.json()["code"] == -3


async def test_v2_order_without_taker_or_funds(client: httpx.AsyncClient, world: World) -> None:
    params = {"inputMint": USDC, "outputMint": JUP, "amount": str(10**8)}
    quote_only = (await client.get("/swap/v2/order", params=params)).json()
    assert quote_only["transaction"] is None
    assert quote_only["taker"] is None
    assert int(quote_only["outAmount"]) > 0
    poor = {**params, "amount": str(USER_USDC + 1), "taker": str(world.user.pubkey())}
    refused = (await client.get("/swap/v2/order", params=poor)).json()
    assert refused["transaction"] == ""
    assert refused["errorCode"] == 1
    assert refused["errorMessage"] == "Insufficient funds"


async def test_no_route_and_bad_parameters(client: httpx.AsyncClient, world: World) -> None:
    no_route = {"inputMint": JUP, "outputMint": BONK, "amount": "1000000"}
    v2 = await client.get("/swap/v2/order", params=no_route)
    assert v2.status_code == 400
    assert v2.json()["error"] == "Failed to get quotes"
    v1 = await client.get("/swap/v1/quote", params=no_route)
    assert v1.status_code == 400
    assert v1.json()["errorCode"] == "COULD_NOT_FIND_ANY_ROUTE"
    assert v1.json()["error"] == "Could not find any route"
    unknown = {**no_route, "outputMint": str(Pubkey.new_unique())}
    assert (await client.get("/swap/v1/quote", params=unknown)).status_code == 400
    for bad in (
        {"inputMint": USDC, "outputMint": JUP},
        {"inputMint": USDC, "outputMint": JUP, "amount": "-5"},
        {"inputMint": USDC, "outputMint": JUP, "amount": "1.5"},
        {"inputMint": "xyz", "outputMint": JUP, "amount": "10"},
        {"inputMint": USDC, "outputMint": JUP, "amount": "10", "swapMode": "ExactOut"},
        {"inputMint": USDC, "outputMint": JUP, "amount": "10", "slippageBps": "10001"},
    ):
        for path in ("/swap/v2/order", "/swap/v1/quote"):
            response = await client.get(path, params=bad)
            assert response.status_code == 400, (path, bad)
            assert isinstance(response.json()["error"], str)
    missing = await client.get("/swap/v3/whatever")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found"}


async def test_price_v3_shape_and_missing_mint(client: httpx.AsyncClient, world: World) -> None:
    absent = str(Pubkey.new_unique())
    response = await client.get("/price/v3", params={"ids": f"{SOL},{JUP},{absent},{USDC}"})
    assert response.status_code == 200
    prices = response.json()
    assert set(prices) == {SOL, JUP, USDC}  # no wrapper; the unknown mint is simply absent
    now = world.clock.now()
    for mint, symbol, decimals in ((SOL, "SOL", 9), (JUP, "JUP", 6), (USDC, "USDC", 6)):
        entry = prices[mint]
        assert entry["usdPrice"] == world.prices.price(symbol, now)
        assert entry["decimals"] == decimals
        assert entry["blockId"] == world.ledger.slot
        assert "priceChange24h" in entry
    assert prices[USDC]["usdPrice"] == 1.0
    assert prices[SOL]["priceChange24h"] is None  # the sim is younger than a day
    world.advance(86_400.0 * 2)
    later = (await client.get("/price/v3", params={"ids": JUP})).json()
    now = world.clock.now()
    expected = 100 * (world.prices.price("JUP", now) / world.prices.price("JUP", now - 86_400) - 1)
    assert later[JUP]["priceChange24h"] == pytest.approx(expected)
    assert later[JUP]["blockId"] == world.ledger.slot
    too_many = ",".join(str(Pubkey.new_unique()) for _ in range(51))
    assert (await client.get("/price/v3", params={"ids": too_many})).status_code == 400
    assert (await client.get("/price/v3")).status_code == 400


async def test_over_a_real_socket_on_localhost(world: World) -> None:
    server = await serve_jupiter(create_jupiter_app(world.maker))
    try:
        assert server.host == "127.0.0.1"
        assert server.port > 0
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as http:
            order = await _order(http, world, USDC, JUP, 25 * 10**6)
            signed = sign_own_slot(from_b64(order["transaction"]), world.user)
            before = world.balances(world.user.pubkey())
            result = (await _execute(http, order["requestId"], b64(signed))).json()
            assert result["status"] == "Success"
            after = world.balances(world.user.pubkey())
            assert after["JUP"] - before["JUP"] == int(order["outAmount"])
            prices = (await http.get("/price/v3", params={"ids": JUP})).json()
            assert set(prices) == {JUP}
    finally:
        await server.stop()
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=server.url) as http:
            await http.get("/price/v3", params={"ids": JUP})


# ---------------------------------------------------------------------- in process
_VOLATILE = ("totalTime", "timeTaken")  # the server's own timing


def _comparable(response: httpx.Response) -> tuple[int, Any]:
    body = response.json()
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in _VOLATILE}
    return response.status_code, body


async def test_in_process_api_answers_what_the_http_api_answers() -> None:
    """Two identical worlds, one behind HTTP (httpx over ASGI, Starlette), one called in
    process: every answer, errors included, is the same status and the same JSON, and the
    swaps leave the same balances."""
    over_http, in_process = make_world(), make_world()
    assert over_http.maker.pubkey == in_process.maker.pubkey  # the comparison needs twins
    direct = InProcessJupiter(in_process.maker)
    transport = httpx.ASGITransport(app=create_jupiter_app(over_http.maker))
    async with httpx.AsyncClient(transport=transport, base_url="http://jupiter.sim") as http:

        async def both(
            method: str, path: str, params: dict[str, str] | None = None, body: Any = None
        ) -> dict[str, Any]:
            a = await http.request(method, path, params=params, json=body)
            b = await direct.request(
                method, httpx.URL(f"http://sim{path}"), params=params, json=body
            )
            assert _comparable(b) == _comparable(a), (method, path)
            assert b.headers["content-type"] == "application/json"
            result: dict[str, Any] = b.json()
            return result

        user = str(over_http.user.pubkey())
        await both("GET", "/price/v3", {"ids": f"{USDC},{BONK},not-a-mint"})
        await both("GET", "/price/v3", {})
        await both("GET", "/swap/v2/order", {"inputMint": USDC, "outputMint": BONK, "amount": "x"})
        await both("GET", "/swap/v2/order", {"inputMint": USDC, "outputMint": BONK, "amount": "7"})
        order = await both(
            "GET",
            "/swap/v2/order",
            {"inputMint": USDC, "outputMint": BONK, "amount": str(10**9), "taker": user},
        )
        signed = b64(sign_own_slot(from_b64(order["transaction"]), over_http.user))
        await both("POST", "/swap/v2/execute", body={"requestId": order["requestId"]})
        done = await both(
            "POST",
            "/swap/v2/execute",
            body={"signedTransaction": signed, "requestId": order["requestId"]},
        )
        assert done.get("status") == "Success", done
        quote = await both(
            "GET", "/swap/v1/quote", {"inputMint": USDC, "outputMint": JUP, "amount": str(10**8)}
        )
        quote.pop("timeTaken", None)
        await both("POST", "/swap/v1/swap", body={"quoteResponse": quote, "userPublicKey": user})
        await both("POST", "/swap/v1/swap", body={"quoteResponse": {}, "userPublicKey": user})
        await both("GET", "/swap/v3/order")  # no such route: 404
        await both("POST", "/price/v3")  # a route, but not for POST: 405
    owner = over_http.user.pubkey()
    assert in_process.balances(owner) == over_http.balances(owner)
    assert in_process.balances(owner)["BONK"] > 0  # the swaps did move something
