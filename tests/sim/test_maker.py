"""The market maker: its prices are the backtester's cost model to the atom, its transactions
are atomic swaps in Jupiter's two layouts, and settlement moves balances exactly."""

from __future__ import annotations

import asyncio
import math

import pytest
from sim_world import (
    BONK,
    DECIMALS,
    JUP,
    LIQUIDITY,
    SOL,
    T0,
    TOKENS,
    USDC,
    USER_JUP,
    USER_USDC,
    World,
    make_world,
    sign_own_slot,
)
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.execution.costs import buy_price, buy_quantity, sale_proceeds, sell_price
from solbot.sim.ledger import new_keypair_from_seed
from solbot.sim.maker import TOKEN_ACCOUNT_RENT, SimMaker
from solbot.sim.maker_types import (
    InvalidRequestError,
    MakerConfig,
    MessageMismatchError,
    NoRouteError,
    OrderNotFoundError,
)

FEE_BPS, SPREAD_BPS = 30.0, 16.0


@pytest.fixture
def world() -> World:
    return make_world(config=MakerConfig(fee_bps=FEE_BPS, spread_bps=SPREAD_BPS))


def _usd(world: World, symbol: str) -> float:
    return world.prices.price(symbol, world.clock.now())


def _expected_out(world: World, token: str, quote: str, side: str, amount: int) -> int:
    """The backtester's arithmetic, written out from `execution.costs` independently."""
    market = _usd(world, token) / _usd(world, quote)
    liquidity = LIQUIDITY[token] / _usd(world, quote)
    fee, half_spread = FEE_BPS / 10_000, SPREAD_BPS / 20_000
    if side == "buy":
        budget = amount / 10 ** DECIMALS[quote]
        fill = buy_price(market, budget / (1 + fee), liquidity, half_spread)
        return math.floor(buy_quantity(budget, fill, fee) * 10 ** DECIMALS[token])
    qty = amount / 10 ** DECIMALS[token]
    fill = sell_price(market, qty * market, liquidity, half_spread)
    return math.floor(sale_proceeds(qty, fill, fee) * 10 ** DECIMALS[quote])


@pytest.mark.parametrize(
    ("in_mint", "out_mint", "token", "quote", "side", "amount"),
    [
        (USDC, JUP, "JUP", "USDC", "buy", 250 * 10**6),
        (JUP, USDC, "JUP", "USDC", "sell", 1_234_567_891),
        (SOL, JUP, "JUP", "SOL", "buy", 3 * 10**9 + 17),
        (JUP, SOL, "JUP", "SOL", "sell", 999 * 10**6),
        (USDC, SOL, "SOL", "USDC", "buy", 5_000 * 10**6),
        (SOL, USDC, "SOL", "USDC", "sell", 7 * 10**9),
        (SOL, BONK, "BONK", "SOL", "buy", 2 * 10**9),
    ],
)
def test_quote_is_the_cost_model_to_the_atom(
    world: World, in_mint: str, out_mint: str, token: str, quote: str, side: str, amount: int
) -> None:
    pricing = world.maker.price_swap(in_mint, out_mint, amount)
    assert pricing.out_amount == _expected_out(world, token, quote, side, amount)
    assert (pricing.side, pricing.token, pricing.quote) == (side, token, quote)
    assert pricing.in_amount == amount
    assert pricing.market_price == _usd(world, token) / _usd(world, quote)
    # Spread and impact both go against the taker; impact is the pool's alone.
    value = amount / 10 ** DECIMALS[quote if side == "buy" else token]
    if side == "buy":
        assert pricing.fill_price > pricing.market_price
        swap_value = value / (1 + FEE_BPS / 10_000)
        assert pricing.price_impact_pct == pytest.approx(
            100 * swap_value / (LIQUIDITY[token] / _usd(world, quote))
        )
    else:
        assert pricing.fill_price < pricing.market_price
        assert pricing.price_impact_pct > 0
    assert pricing.fee_mint == Pubkey.from_string(world.maker.tokens[pricing.fee_mint].mint)
    assert world.maker.tokens[pricing.fee_mint].symbol == quote
    assert pricing.expires_at == world.clock.now() + 30.0


def test_bigger_orders_fill_worse_and_fee_and_spread_cost_exactly_what_they_say(
    world: World,
) -> None:
    small = world.maker.price_swap(USDC, JUP, 10 * 10**6)
    big = world.maker.price_swap(USDC, JUP, 4_000 * 10**6)
    assert big.fill_price > small.fill_price
    assert big.price_impact_pct > small.price_impact_pct
    free = make_world(config=MakerConfig(fee_bps=0.0, spread_bps=0.0))
    costless = free.maker.price_swap(USDC, JUP, 10 * 10**6)
    # Without fee and spread only the (tiny) impact is left of the price difference.
    jup = free.prices.price("JUP", free.clock.now())
    assert costless.out_amount == math.floor(10.0 / buy_price(jup, 10.0, 3e6, 0.0) * 10**6)


def test_pairs_amounts_and_inventory_limits(world: World) -> None:
    with pytest.raises(NoRouteError, match="no route between JUP and BONK"):
        world.maker.price_swap(JUP, BONK, 10**6)
    with pytest.raises(NoRouteError, match="not tradable"):
        world.maker.price_swap(str(Keypair().pubkey()), USDC, 10**6)
    with pytest.raises(InvalidRequestError, match="differ"):
        world.maker.price_swap(USDC, USDC, 10**6)
    with pytest.raises(InvalidRequestError, match="positive"):
        world.maker.price_swap(USDC, JUP, 0)
    with pytest.raises(NoRouteError, match="too small"):
        world.maker.price_swap(BONK, SOL, 1)
    # The maker's inventory is the chain's: drain its JUP and it cannot sell any.
    world.ledger.set_token_balance(world.maker.pubkey, Pubkey.from_string(JUP), 1_000)
    with pytest.raises(NoRouteError, match="liquidity"):
        world.maker.price_swap(USDC, JUP, 10**6)


def test_fund_places_mints_at_their_real_addresses(world: World) -> None:
    for token in TOKENS:
        if token.symbol == "SOL":
            continue
        mint = Pubkey.from_string(token.mint)
        assert world.ledger.mint_decimals(mint) == token.decimals
        held = world.ledger.token_balance(world.maker.pubkey, mint)
        assert held / 10**token.decimals * world.prices.price(token.symbol, T0) > 4e7
    assert world.ledger.balance(world.maker.pubkey) > 300_000 * 10**9


def _accounts(message: MessageV0) -> list[Pubkey]:
    return list(message.account_keys)


def test_v2_layout_maker_pays_and_nobody_has_signed(world: World) -> None:
    quote = world.maker.quote(USDC, JUP, 100 * 10**6, world.user.pubkey(), "v2")
    message = quote.transaction.message
    assert isinstance(message, MessageV0)
    assert message.header.num_required_signatures == 2
    assert _accounts(message)[0] == world.maker.pubkey  # fee payer
    assert quote.taker_index == 1
    assert quote.fee_payer == world.maker.pubkey
    assert all(s == Signature.default() for s in quote.transaction.signatures)
    assert quote.last_valid_block_height == world.ledger.latest_blockhash()[1]
    assert quote.rent_lamports == 0  # the user already holds JUP


def test_v1_layout_user_pays_and_maker_has_signed(world: World) -> None:
    quote = world.maker.quote(SOL, BONK, 10**9, world.user.pubkey(), "v1")
    message = quote.transaction.message
    assert _accounts(message)[0] == world.user.pubkey()
    maker_slot = _accounts(message).index(world.maker.pubkey)
    signature = quote.transaction.signatures[maker_slot]
    assert signature.verify(world.maker.pubkey, to_bytes_versioned(message))
    assert quote.transaction.signatures[0] == Signature.default()
    assert quote.rent_lamports == TOKEN_ACCOUNT_RENT  # the user has no BONK account yet
    with pytest.raises(OrderNotFoundError):  # v1 quotes are not executed by the maker
        world.maker.order(quote.request_id)


def test_v1_swap_signed_by_the_user_lands_and_moves_balances_exactly(world: World) -> None:
    user = world.user.pubkey()
    quote = world.maker.quote(SOL, BONK, 10**9, user, "v1")
    before_user, before_maker = world.balances(user), world.balances(world.maker.pubkey)
    landed = world.ledger.send(sign_own_slot(quote.transaction, world.user))
    assert landed.ok, landed.err
    after_user, after_maker = world.balances(user), world.balances(world.maker.pubkey)
    out = quote.pricing.out_amount
    # The user pays the input, both signatures' fee and the rent of its new BONK account.
    assert (
        after_user["lamports"] - before_user["lamports"] == -(10**9) - 10_000 - TOKEN_ACCOUNT_RENT
    )
    assert after_user["BONK"] - before_user["BONK"] == out
    assert after_maker["lamports"] - before_maker["lamports"] == 10**9
    assert after_maker["BONK"] - before_maker["BONK"] == -out
    assert landed.fee == 10_000


async def test_v2_execute_settles_exactly_and_only_once(world: World) -> None:
    user = world.user.pubkey()
    quote = world.maker.quote(JUP, SOL, 500 * 10**6, user, "v2")
    before_user, before_maker = world.balances(user), world.balances(world.maker.pubkey)
    signed = sign_own_slot(quote.transaction, world.user)
    outcome = await world.maker.execute(quote.request_id, signed)
    assert outcome.ok
    assert outcome.code == 0
    assert outcome.signature is not None
    assert world.ledger.status(outcome.signature) is not None
    after_user, after_maker = world.balances(user), world.balances(world.maker.pubkey)
    out = quote.pricing.out_amount
    assert after_user["lamports"] - before_user["lamports"] == out  # no fee for the user
    assert after_user["JUP"] - before_user["JUP"] == -500 * 10**6
    assert after_maker["lamports"] - before_maker["lamports"] == -out - 10_000
    assert after_maker["JUP"] - before_maker["JUP"] == 500 * 10**6
    # Executing again answers the same outcome and moves nothing.
    assert (await world.maker.execute(quote.request_id, signed)) == outcome
    assert world.balances(user) == after_user


async def test_v2_executes_posted_twice_at_once_land_once(world: World) -> None:
    """The second post arrives while the first is on the SBF thread: it waits for, and
    answers, the first one's outcome."""
    user = world.user.pubkey()
    quote = world.maker.quote(JUP, SOL, 500 * 10**6, user, "v2")
    before = world.balances(user)
    signed = sign_own_slot(quote.transaction, world.user)
    first, second = await asyncio.gather(
        world.maker.execute(quote.request_id, signed),
        world.maker.execute(quote.request_id, signed),
    )
    assert first.ok
    assert second == first
    assert world.balances(user)["JUP"] - before["JUP"] == -500 * 10**6


async def test_v2_refuses_expired_unsigned_forged_and_modified(world: World) -> None:
    user = world.user.pubkey()
    quote = world.maker.quote(USDC, JUP, 50 * 10**6, user, "v2")
    before = world.balances(user)
    unsigned = await world.maker.execute(quote.request_id, quote.transaction)
    assert (unsigned.status, unsigned.code) == ("Failed", -1003)
    forged = sign_own_slot_as(quote.transaction, new_keypair_from_seed(b"mallory"), 1)
    assert (await world.maker.execute(quote.request_id, forged)).code == -1003
    other = world.maker.quote(USDC, JUP, 51 * 10**6, user, "v2")
    with pytest.raises(MessageMismatchError):
        await world.maker.execute(quote.request_id, sign_own_slot(other.transaction, world.user))
    with pytest.raises(OrderNotFoundError):
        await world.maker.execute("no-such-request", sign_own_slot(quote.transaction, world.user))
    world.advance(30.5)
    expired = await world.maker.execute(
        quote.request_id, sign_own_slot(quote.transaction, world.user)
    )
    assert (expired.status, expired.code, expired.signature) == ("Failed", -2003, None)
    assert world.balances(user) == before
    # After the quote's memory runs out the request id is gone.
    world.advance(200.0)
    with pytest.raises(OrderNotFoundError):
        await world.maker.execute(quote.request_id, sign_own_slot(quote.transaction, world.user))


async def test_v2_within_ttl_after_a_bad_signature_still_executes(world: World) -> None:
    quote = world.maker.quote(USDC, JUP, 50 * 10**6, world.user.pubkey(), "v2")
    assert (await world.maker.execute(quote.request_id, quote.transaction)).code == -1003
    world.advance(29.0)
    outcome = await world.maker.execute(
        quote.request_id, sign_own_slot(quote.transaction, world.user)
    )
    assert outcome.ok


async def test_a_swap_the_user_cannot_pay_lands_and_fails_with_the_program_error(
    world: World,
) -> None:
    quote = world.maker.quote(JUP, USDC, USER_JUP + 1, world.user.pubkey(), "v2")
    maker_before = world.ledger.balance(world.maker.pubkey)
    outcome = await world.maker.execute(
        quote.request_id, sign_own_slot(quote.transaction, world.user)
    )
    assert outcome.status == "Failed"
    assert outcome.signature is not None
    assert outcome.slot == world.ledger.slot
    # SPL Token's InsufficientFunds is custom error 1; Jupiter reports program errors as
    # positive codes.
    assert outcome.code == 1
    assert outcome.error is not None
    assert outcome.error.startswith("custom program error: #1")
    assert world.ledger.balance(world.maker.pubkey) == maker_before - 10_000  # the fee only
    assert world.ledger.token_balance(world.user.pubkey(), Pubkey.from_string(USDC)) == USER_USDC
    assert world.ledger.token_balance(world.user.pubkey(), Pubkey.from_string(JUP)) == USER_JUP


async def test_a_swap_from_an_account_that_does_not_exist_is_rejected() -> None:
    world = make_world(user_jup=False)
    quote = world.maker.quote(JUP, USDC, 10**6, world.user.pubkey(), "v2")
    outcome = await world.maker.execute(
        quote.request_id, sign_own_slot(quote.transaction, world.user)
    )
    assert outcome.status == "Failed"
    assert outcome.code == -2004
    assert outcome.signature is not None


def test_a_missing_maker_token_account_is_created_and_paid_by_the_maker() -> None:
    world = make_world()
    maker = SimMaker(
        world.ledger, world.prices, TOKENS, world.clock, keypair=new_keypair_from_seed(b"mm2")
    )
    world.ledger.airdrop(maker.pubkey, 100 * 10**9)  # SOL and USDC only: no JUP account
    world.ledger.set_token_balance(maker.pubkey, Pubkey.from_string(USDC), 10**12)
    jup = Pubkey.from_string(JUP)
    quote = maker.quote(JUP, USDC, 10**6, world.user.pubkey(), "v1")
    user_before = world.ledger.balance(world.user.pubkey())
    maker_before = world.ledger.balance(maker.pubkey)
    landed = world.ledger.send(sign_own_slot(quote.transaction, world.user))
    assert landed.ok, landed.err
    assert world.ledger.token_balance(maker.pubkey, jup) == 10**6
    assert world.ledger.balance(maker.pubkey) == maker_before - TOKEN_ACCOUNT_RENT
    assert world.ledger.balance(world.user.pubkey()) == user_before - 10_000
    assert quote.rent_lamports == 0  # rent the taker's fee payer owes: none


def sign_own_slot_as(tx: VersionedTransaction, signer: Keypair, slot: int) -> VersionedTransaction:
    """Put `signer`'s signature of the message into `slot`, whoever that slot belongs to."""
    signatures = list(tx.signatures)
    signatures[slot] = signer.sign_message(to_bytes_versioned(tx.message))
    return VersionedTransaction.populate(tx.message, signatures)
