"""Closing empty token accounts gives their rent back and never touches tokens: after a round
trip the token's account is closed (the wallet gets its rent, less the fee); an account that
holds tokens is never a candidate; tokens that arrive between the look and the close stay (the
token program refuses the close). Every close is journaled (`account_closes`), so the books
count the SOL it moved, and one a crash left signed is finished at the next start."""

from __future__ import annotations

import time

import pytest
from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.chain.builders import SIGNATURE_FEE, associated_token_address
from solbot.chain.port import ChainUnavailableError
from solbot.execution.cleanup import AccountCloses, Cleanup
from solbot.reconcile import NATIVE_MINT_TEXT, Assets, Wallet, booked_cash, opening
from solbot.rent_reclaim import RentReclaim
from solbot.sim.maker import TOKEN_ACCOUNT_RENT
from solbot.store.db import Database
from solbot.store.orders import Orders
from solbot.store.states import OrderState, Route
from solbot.store.tables import AccountCloseRow, OrderRow

from .sim_rig import DECIMALS, MINTS, TOKENS, USER, Rig, SimulatedCrash

USDC_UNITS = 10 ** DECIMALS["USDC"]


async def round_trip(rig: Rig, symbol: str) -> None:
    ex = rig.executor(Route.V2)
    bought = await ex.submit(rig.buy(symbol, 100 * USDC_UNITS), rig.signer)
    assert bought.state is OrderState.CONFIRMED
    (position,) = [p for p in await rig.positions() if p.token == symbol]
    rig.clock.advance(60)
    sold = await ex.submit(rig.sell(symbol, position.quantity, position.id), rig.signer)
    assert sold.state is OrderState.CONFIRMED


def journal(rig: Rig, **kw: object) -> AccountCloses:
    db = Database(rig.db_url)
    rig._dbs.append(db)
    return AccountCloses(db, rig.clock, rig.chain, None, poll_seconds=1.0, **kw)  # type: ignore[arg-type]


async def close_empty(rig: Rig, *, dry_run: bool = False, **kw: object) -> Cleanup:
    return await journal(rig, **kw).close_empty(
        USER, rig.signer, TOKENS, requested_by="test", dry_run=dry_run
    )


async def rows(rig: Rig) -> list[AccountCloseRow]:
    db = Database(rig.db_url)
    async with db.session() as s:
        found = list(await s.scalars(select(AccountCloseRow)))
    await db.dispose()
    return found


def account(rig: Rig, symbol: str) -> object:
    return rig.net.ledger.account(
        associated_token_address(rig.owner, Pubkey.from_string(MINTS[symbol]))
    )


async def test_an_emptied_account_is_closed_and_its_rent_comes_back(rig: Rig) -> None:
    await round_trip(rig, "JUP")
    assert account(rig, "JUP") is not None
    sol = rig.balance("SOL")
    holdings = rig.holdings()
    done = await close_empty(rig)
    assert [a.token.symbol for a in done.found] == ["JUP"]  # USDC holds cash: never a candidate
    assert [a.token.symbol for a in done.closed] == ["JUP"]
    assert done.failed == []
    assert account(rig, "JUP") is None
    assert done.reclaimed == TOKEN_ACCOUNT_RENT - SIGNATURE_FEE
    assert rig.balance("SOL") == sol + done.reclaimed
    assert {k: v for k, v in rig.holdings().items() if k != "SOL"} == {
        k: v for k, v in holdings.items() if k != "SOL"
    }
    [row] = await rows(rig)  # journaled, with what the chain says it moved
    assert row.state == "confirmed"
    assert (row.reclaimed_lamports, row.fee_lamports) == (TOKEN_ACCOUNT_RENT, SIGNATURE_FEE)
    again = await close_empty(rig)
    assert again.found == []  # nothing left to close; running it twice is harmless


async def test_a_dry_run_finds_and_sends_nothing(rig: Rig) -> None:
    await round_trip(rig, "BONK")
    sends = rig.chain.sends
    done = await close_empty(rig, dry_run=True)
    assert [a.token.symbol for a in done.found] == ["BONK"]
    assert done.closed == []
    assert rig.chain.sends == sends
    assert account(rig, "BONK") is not None


async def test_tokens_arriving_before_the_close_stay_and_the_close_fails(rig: Rig) -> None:
    await round_trip(rig, "JTO")
    mint = Pubkey.from_string(MINTS["JTO"])

    def tokens_arrive(_tx: object) -> None:  # a swap landing between the look and the close
        rig.net.ledger.set_token_balance(rig.owner, mint, 777)

    rig.chain.before_send = tokens_arrive
    done = await close_empty(rig)
    assert [a.token.symbol for a, _why in done.failed] == ["JTO"]
    assert done.closed == []
    assert '{"Custom":11}' in done.failed[0][1]  # TokenError::NonNativeHasBalance
    assert rig.balance("JTO") == 777  # the tokens are still there

    [row] = await rows(rig)
    assert (row.state, row.reclaimed_lamports, row.fee_lamports) == ("failed", 0, SIGNATURE_FEE)


async def test_the_books_count_the_rent_back_and_the_fee(rig: Rig) -> None:
    """The reconciliation's SOL line: what the wallet held at the start, less the orders' costs,
    plus what closes gave back less their fees, is what it holds."""
    sol = [t for t in TOKENS if t.mint == NATIVE_MINT_TEXT]
    wallet = Wallet(USER, USER, rig.owner)
    start = await opening(rig.chain, wallet, Assets([], sol, True), rig.clock.now(), time.time())
    await round_trip(rig, "JUP")
    await close_empty(rig)
    db = Database(rig.db_url)
    async with db.session() as s:
        books = await booked_cash(s, USER, sol, start)
    await db.dispose()
    assert books[NATIVE_MINT_TEXT] == rig.balance("SOL")


async def test_a_close_a_crash_left_signed_is_finished_at_the_next_start(rig: Rig) -> None:
    await round_trip(rig, "WIF")

    def die_once_signed(row: AccountCloseRow) -> None:
        if row.state == "signed":
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        await close_empty(rig, on_step=die_once_signed)
    [row] = await rows(rig)
    assert row.state == "signed"
    assert account(rig, "WIF") is not None  # never sent
    sol = rig.balance("SOL")

    [done] = await journal(rig).recover()  # the next start: the same bytes, sent once

    assert done.state == "confirmed"
    assert account(rig, "WIF") is None
    assert rig.balance("SOL") == sol + TOKEN_ACCOUNT_RENT - SIGNATURE_FEE
    assert await journal(rig).recover() == []


async def order_in_flight(rig: Rig, closes: AccountCloses) -> OrderRow:
    """A JUP buy of the user's journaled and not finished (as a running bot would have it)."""
    async with closes.db.session() as s:
        return await Orders(s, rig.clock).create(
            idempotency_key="jup:again",
            user_id=USER,
            token="JUP",
            input_mint=MINTS["USDC"],
            output_mint=MINTS["JUP"],
            side="buy",
            purpose="entry",
            amount_in=USDC_UNITS,
        )


async def test_after_exits_a_user_with_an_order_in_flight_waits(rig: Rig) -> None:
    """The loop's reclaim (`solbot.rent_reclaim`): while any order of the user is unfinished
    (its transaction may have been built when the account existed; a close moves SOL that a
    SOL-output fill is measured by), nothing of theirs is closed; what was noted waits."""
    await round_trip(rig, "JUP")
    await round_trip(rig, "BONK")
    closes = journal(rig)
    db = closes.db
    pending = await order_in_flight(rig, closes)
    reclaim = RentReclaim(closes, rig.clock, every_seconds=0)
    for symbol in ("JUP", "BONK"):
        reclaim.note(USER, rig.signer, next(t for t in TOKENS if t.symbol == symbol))

    assert await reclaim.close() == 0
    assert account(rig, "BONK") is not None
    assert account(rig, "JUP") is not None
    async with db.session() as s:
        await Orders(s, rig.clock).advance(
            pending.id, OrderState.FAILED, expect=[OrderState.CREATED], error="test"
        )
    assert await reclaim.close() == 2 * TOKEN_ACCOUNT_RENT - SIGNATURE_FEE  # both, at once
    assert account(rig, "JUP") is None
    assert account(rig, "BONK") is None


async def test_cleanup_beside_a_running_bot_leaves_a_user_with_an_order_in_flight(
    rig: Rig,
) -> None:
    """`solbot cleanup` from another process while the bot trades: the same rule as the loop's
    reclaim, in `close_empty` itself. While an order of the user is unfinished, nothing of
    theirs is closed (its transaction may have been built when the account existed) and the
    answer says they wait; once it is finished, the accounts go."""
    await round_trip(rig, "JUP")
    closes = journal(rig)
    pending = await order_in_flight(rig, closes)

    waiting = await closes.close_empty(USER, rig.signer, TOKENS, requested_by="cli")

    assert waiting.waiting
    assert [a.token.symbol for a in waiting.found] == ["JUP"]
    assert waiting.closed == []
    assert waiting.signatures == []
    assert account(rig, "JUP") is not None
    assert await rows(rig) == []
    async with closes.db.session() as s:
        await Orders(s, rig.clock).advance(
            pending.id, OrderState.FAILED, expect=[OrderState.CREATED], error="test"
        )
    done = await closes.close_empty(USER, rig.signer, TOKENS, requested_by="cli")
    assert not done.waiting
    assert [a.token.symbol for a in done.closed] == ["JUP"]
    assert account(rig, "JUP") is None


async def test_a_close_that_cannot_reach_the_chain_never_stops_the_loop(rig: Rig) -> None:
    await round_trip(rig, "JTO")
    closes = journal(rig)
    reclaim = RentReclaim(closes, rig.clock, every_seconds=0)

    def unreachable(_tx: object) -> None:
        raise ChainUnavailableError("connection refused")

    rig.chain.before_send = unreachable
    reclaim.note(USER, rig.signer, next(t for t in TOKENS if t.symbol == "JTO"))
    assert await reclaim.close() == 0  # logged, not raised
    [row] = await rows(rig)
    assert row.state in ("signed", "sent")  # the bytes are journaled: settled before the next
    rig.chain.before_send = None
    assert await reclaim.close() == 0  # nothing new noted: the journal's row settled first
    [row] = await rows(rig)
    assert row.state == "confirmed"
    assert account(rig, "JTO") is None


async def test_a_user_s_accounts_are_closed_at_most_once_an_interval(rig: Rig) -> None:
    """A close is a signature (metered for a vault wallet): the accounts of later exits wait
    for the interval and go in one transaction."""
    closes = journal(rig)
    reclaim = RentReclaim(closes, rig.clock, every_seconds=3600)
    token = {t.symbol: t for t in TOKENS}
    await round_trip(rig, "JUP")
    reclaim.note(USER, rig.signer, token["JUP"])
    assert await reclaim.close() > 0  # the first at once
    await round_trip(rig, "BONK")
    reclaim.note(USER, rig.signer, token["BONK"])
    await round_trip(rig, "JTO")
    reclaim.note(USER, rig.signer, token["JTO"])
    assert await reclaim.close() == 0  # within the hour: kept
    assert account(rig, "BONK") is not None
    rig.clock.advance(3600)
    assert await reclaim.close() == 2 * TOKEN_ACCOUNT_RENT - SIGNATURE_FEE  # one transaction
    assert account(rig, "BONK") is None
    assert account(rig, "JTO") is None
    assert len(await rows(rig)) == 2
