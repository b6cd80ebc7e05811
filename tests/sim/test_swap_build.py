"""The sim's Swap v2 `/build`: Jupiter's shapes; a transaction the taker alone assembles and
signs settles to the atom on the ledger; the escrow pays only its taker, only once, and goes
back to the maker when the blockhash expires (or when a restarted sim finds it)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sim_world import BONK, JUP, SOL, USDC, World, make_world
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import transfer_checked
from spl.token.models import TransferCheckedParams

from solbot.chain.builders import associated_token_address, build_transaction
from solbot.execution.build import SwapBuild, parse_build
from solbot.sim import swap_build
from solbot.sim.jupiter_http import create_jupiter_app
from solbot.sim.ledger import VALIDITY_BLOCKS
from solbot.sim.ledger_outcomes import RejectedError
from solbot.sim.maker import TOKEN_ACCOUNT_RENT
from solbot.sim.rpc_faults import Congestion
from solbot.sim.swap_build import SwapBuilder

LIMIT = 200_000  # compute units: far above what a transfer pair uses


@pytest.fixture
def world() -> World:
    return make_world()


async def client_for(world: World, congestion: Congestion | None = None) -> httpx.AsyncClient:
    app = create_jupiter_app(world.maker, congestion)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://jup.sim")


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(world) as http:
        yield http


async def build(
    client: httpx.AsyncClient, world: World, in_mint: str, out_mint: str, amount: int, **extra: str
) -> tuple[dict[str, Any], SwapBuild]:
    params = {
        "inputMint": in_mint,
        "outputMint": out_mint,
        "amount": str(amount),
        "taker": str(world.user.pubkey()),
        **extra,
    }
    response = await client.get("/swap/v2/build", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return body, parse_build(body, "build", in_mint, out_mint)


def signed(built: SwapBuild, signer: Keypair, price: int = 0) -> VersionedTransaction:
    message = built.message(signer.pubkey(), unit_limit=LIMIT, unit_price=price)
    return VersionedTransaction(message, [signer])


async def test_a_buy_is_assembled_signed_by_the_taker_alone_and_settles_to_the_atom(
    client: httpx.AsyncClient, world: World
) -> None:
    user, maker = world.user.pubkey(), world.maker.pubkey
    amount = 1_500 * 10**6
    before, maker_before = world.balances(user), world.balances(maker)
    body, built = await build(client, world, USDC, BONK, amount)
    # Jupiter's shape
    assert body["swapMode"] == "ExactIn"
    assert body["slippageBps"] == 50
    assert int(body["otherAmountThreshold"]) == built.out_amount * 9_950 // 10_000
    assert body["routePlan"][0]["swapInfo"]["label"] == "SimMaker"
    assert [ix["programId"] for ix in body["computeBudgetInstructions"]] == [
        "ComputeBudget111111111111111111111111111111"
    ]
    assert body["cleanupInstruction"] is None
    assert body["tipInstruction"] is None
    assert body["otherInstructions"] == []
    assert body["addressesByLookupTableAddress"] is None
    meta = body["blockhashWithMetadata"]
    assert bytes(meta["blockhash"]) == bytes(world.ledger.latest_blockhash()[0])
    assert meta["lastValidBlockHeight"] == world.ledger.block_height + 150
    assert set(meta["fetchedAt"]) == {"secs_since_epoch", "nanos_since_epoch"}
    # the taker is the only signer
    tx = signed(built, world.user)
    assert tx.message.header.num_required_signatures == 1
    landed = world.ledger.send(tx)
    assert landed.ok, landed.logs
    after = world.balances(user)
    assert after["USDC"] == before["USDC"] - amount
    assert after["BONK"] == before["BONK"] + built.out_amount
    assert after["lamports"] == before["lamports"] - landed.fee - TOKEN_ACCOUNT_RENT  # BONK ATA
    assert world.balances(maker)["USDC"] == maker_before["USDC"] + amount


async def test_a_sale_for_sol_arrives_as_lamports_and_leaves_no_wrapped_account(
    client: httpx.AsyncClient, world: World
) -> None:
    user = world.user.pubkey()
    amount = 250 * 10**6
    before = world.balances(user)
    body, built = await build(client, world, JUP, SOL, amount)
    assert body["cleanupInstruction"] is not None  # the unwrap
    landed = world.ledger.send(signed(built, world.user))
    assert landed.ok, landed.logs
    after = world.balances(user)
    assert after["JUP"] == before["JUP"] - amount
    assert after["lamports"] == before["lamports"] + built.out_amount - landed.fee
    wrapped = associated_token_address(user, Pubkey.from_string(SOL))
    assert world.ledger.account(wrapped) is None


async def test_a_buy_with_sol_pays_lamports(client: httpx.AsyncClient, world: World) -> None:
    user = world.user.pubkey()
    amount = 2 * 10**9
    before = world.balances(user)
    _body, built = await build(client, world, SOL, JUP, amount)
    landed = world.ledger.send(signed(built, world.user))
    assert landed.ok, landed.logs
    after = world.balances(user)
    assert after["JUP"] == before["JUP"] + built.out_amount
    assert after["lamports"] == before["lamports"] - amount - landed.fee


async def test_the_escrow_pays_its_taker_once_and_nobody_else(
    client: httpx.AsyncClient, world: World
) -> None:
    _body, built = await build(client, world, USDC, BONK, 100 * 10**6)
    assert world.ledger.send(signed(built, world.user)).ok
    # the same instructions again (a new signature: another unit price) find no allowance left
    again = world.ledger.send(signed(built, world.user, price=1))
    assert not again.ok
    # a stranger holding the escrow's address cannot take from it
    stranger = Keypair()
    world.ledger.airdrop(stranger.pubkey(), 10**9)
    _body, built = await build(client, world, USDC, BONK, 100 * 10**6)
    escrow = built.swap.accounts[0].pubkey
    mint = Pubkey.from_string(BONK)
    theft = transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=escrow,
            mint=mint,
            dest=associated_token_address(world.maker.pubkey, mint),
            owner=stranger.pubkey(),
            amount=1,
            decimals=5,
        )
    )

    blockhash, _ = world.ledger.latest_blockhash()
    refused = world.ledger.send(
        build_transaction(stranger.pubkey(), [theft], blockhash, [stranger])
    )
    assert not refused.ok


async def test_an_unused_escrow_returns_to_the_maker_when_the_blockhash_expires(
    client: httpx.AsyncClient, world: World
) -> None:
    maker, bonk = world.maker.pubkey, Pubkey.from_string(BONK)
    held = world.ledger.token_balance(maker, bonk)
    _body, built = await build(client, world, USDC, BONK, 300 * 10**6)
    escrow = built.swap.accounts[0].pubkey
    assert world.ledger.token_balance(maker, bonk) == held - built.out_amount
    world.advance((VALIDITY_BLOCKS + 2) * 0.4)
    with pytest.raises(RejectedError, match="BlockhashNotFound"):  # the taker can no longer land
        world.ledger.send(signed(built, world.user))
    await client.get("/swap/v2/build", params={})  # any request sweeps (this one is a 400)
    _body, _next = await build(client, world, USDC, JUP, 10 * 10**6)
    assert world.ledger.account(escrow) is None
    assert world.ledger.token_balance(maker, bonk) == held


async def test_a_restarted_sim_reclaims_the_escrows_it_finds(
    client: httpx.AsyncClient, world: World
) -> None:
    maker, sol = world.maker.pubkey, Pubkey.from_string(SOL)
    _body, built = await build(client, world, JUP, SOL, 100 * 10**6)
    escrow = built.swap.accounts[0].pubkey
    assert world.ledger.account(escrow) is not None
    lamports = world.ledger.balance(maker)
    fresh = SwapBuilder(world.maker)  # what the next process's first builder does
    assert fresh.reclaim_all() == 1
    assert world.ledger.account(escrow) is None
    assert world.ledger.balance(maker) == lamports + built.out_amount + TOKEN_ACCOUNT_RENT - 5_000
    assert world.ledger.token_accounts(maker, sol) == []


async def test_the_unit_price_is_the_asked_percentile_of_recent_fees(world: World) -> None:
    busy = Congestion(going_rate=40_000, busy_share=1.0)
    async with await client_for(world, busy) as http:
        for level, expected in (("medium", 40_000), ("7500", 40_000)):
            body, _ = await build(http, world, USDC, BONK, 10**6, computeUnitPricePercentile=level)
            raw = base64.b64decode(body["computeBudgetInstructions"][0]["data"])
            assert raw[0] == 3  # SetComputeUnitPrice
            assert int.from_bytes(raw[1:9], "little") == expected
    async with await client_for(world) as http:
        body, _ = await build(http, world, USDC, BONK, 10**6)
        raw = base64.b64decode(body["computeBudgetInstructions"][0]["data"])
        assert int.from_bytes(raw[1:9], "little") == 0  # calm: nothing to outbid


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"taker": ""}, "taker is required"),
        ({"dexes": "A", "excludeDexes": "B"}, "mutually exclusive"),
        ({"wrapAndUnwrapSol": "false"}, "wrapAndUnwrapSol"),
        ({"platformFeeBps": "20"}, "platformFeeBps"),
        ({"blockhashSlotsToExpiry": "301"}, "blockhashSlotsToExpiry"),
        ({"computeUnitPricePercentile": "extreme"}, "computeUnitPricePercentile"),
        ({"slippageBps": "-1"}, "slippageBps"),
    ],
)
async def test_bad_requests_are_400_with_one_error(
    client: httpx.AsyncClient, world: World, extra: dict[str, str], error: str
) -> None:
    params = {"inputMint": USDC, "outputMint": BONK, "amount": "1000000"}
    params["taker"] = str(world.user.pubkey())
    params.update(extra)
    response = await client.get("/swap/v2/build", params=params)
    assert response.status_code == 400
    assert error in response.json()["error"]


async def test_no_route_is_jupiters_no_routes_found(
    client: httpx.AsyncClient, world: World
) -> None:
    params = {
        "inputMint": JUP,
        "outputMint": BONK,
        "amount": "1000",
        "taker": str(Keypair().pubkey()),
    }
    response = await client.get("/swap/v2/build", params=params)
    assert response.status_code == 400
    assert response.json() == {"error": "No routes found"}


async def test_a_tip_and_a_shorter_expiry_are_honoured(
    client: httpx.AsyncClient, world: World
) -> None:
    body, built = await build(
        client, world, USDC, BONK, 10**6, tipAmount="10000", blockhashSlotsToExpiry="20"
    )
    assert built.tip is not None
    assert body["blockhashWithMetadata"]["lastValidBlockHeight"] == world.ledger.block_height + 20
    before = world.ledger.balance(swap_build.TIP_ACCOUNT)
    assert world.ledger.send(signed(built, world.user)).ok
    assert world.ledger.balance(swap_build.TIP_ACCOUNT) == before + 10_000
