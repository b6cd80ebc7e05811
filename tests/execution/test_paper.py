"""Paper fills against the real in-process sim maker: quoted without a taker, filled at the
quote in the database, with nothing signed or sent and the chain untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from solders.pubkey import Pubkey

from solbot.chain.paper import PaperChain, PaperModeError
from solbot.execution.executor import Executor
from solbot.execution.jupiter import JupiterClient
from solbot.store.db import Database
from solbot.store.states import OrderState, Route
from solbot.wallet.keys import WatchOnly, paper_address

from .sim_rig import MINTS, TOKENS, USDC, Rig, SimulatedCrash, crash_at, make_rig

START_USDC = 5_000 * 10**6


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path) as r:
        yield r


@pytest.fixture
async def paper_db(rig: Rig) -> AsyncIterator[Database]:
    db = Database(rig.db_url)
    yield db
    await db.dispose()


@pytest.fixture
def account() -> WatchOnly:
    return WatchOnly(paper_address("alice"))


async def paper_executor(rig: Rig, db: Database, **kwargs: object) -> Executor:
    http = httpx.AsyncClient(transport=rig.transport, base_url="http://sim")
    rig._http.append(http)
    jupiter = JupiterClient(http, rig.clock, base_url="http://sim", requests_per_second=1000)
    return Executor(
        db,
        jupiter,
        PaperChain(db, rig.clock),
        rig.clock,
        decimals={t.mint: t.decimals for t in TOKENS},
        route=Route.PAPER,
        **kwargs,  # type: ignore[arg-type]
    )


async def funded(db: Database, rig: Rig, account: WatchOnly) -> PaperChain:
    chain = PaperChain(db, rig.clock)
    assert await chain.fund_once(account.pubkey(), Pubkey.from_string(USDC), START_USDC)
    return chain


async def paper_balance_of(chain: PaperChain, account: WatchOnly, symbol: str) -> int:
    return await chain.token_balance(account.pubkey(), Pubkey.from_string(MINTS[symbol]))


async def test_a_paper_round_trip_fills_at_the_quote_and_touches_no_chain(
    rig: Rig, paper_db: Database, account: WatchOnly
) -> None:
    chain = await funded(paper_db, rig, account)
    on_chain_before = rig.holdings()
    executor = await paper_executor(rig, paper_db)

    bought = await executor.submit(rig.buy("JUP", 1_000 * 10**6), account)
    assert bought.state is OrderState.CONFIRMED
    (order,) = await rig.orders()
    assert order.route == "paper"
    assert order.filled_out == order.quoted_out > 0
    assert order.signed_tx is None
    assert order.signature is None
    assert order.own_signature is None
    assert await paper_balance_of(chain, account, "USDC") == START_USDC - 1_000 * 10**6
    assert await paper_balance_of(chain, account, "JUP") == order.quoted_out

    (position,) = await rig.positions()
    sold = await executor.submit(rig.sell("JUP", position.quantity, position.id), account)
    assert sold.state is OrderState.CONFIRMED
    (position,) = await rig.positions()
    assert position.status == "closed"
    assert position.proceeds == sold.filled_out
    assert await paper_balance_of(chain, account, "JUP") == 0
    assert await paper_balance_of(chain, account, "USDC") == (
        START_USDC - 1_000 * 10**6 + sold.filled_out
    )
    # A round trip pays the maker's spread and fee: less comes back than went in.
    assert sold.filled_out is not None
    assert sold.filled_out < 1_000 * 10**6

    # Nothing reached the chain or the venue's execute endpoint; the real wallet is untouched.
    assert rig.chain.sends == 0
    assert "/swap/v2/execute" not in rig.transport.calls
    assert rig.transport.calls["/swap/v2/order"] == 2
    assert rig.holdings() == on_chain_before
    trades = await rig.trades()
    assert [t.side for t in trades] == ["buy", "sell"]
    assert all(t.signature is None for t in trades)


async def test_acting_on_the_same_signal_twice_fills_once(
    rig: Rig, paper_db: Database, account: WatchOnly
) -> None:
    chain = await funded(paper_db, rig, account)
    executor = await paper_executor(rig, paper_db)
    intent = rig.buy("BONK", 200 * 10**6)
    first = await executor.submit(intent, account)
    again = await (await paper_executor(rig, paper_db)).submit(intent, account)
    assert again == first
    assert len(await rig.orders()) == 1
    assert await paper_balance_of(chain, account, "USDC") == START_USDC - 200 * 10**6


async def test_more_than_the_paper_account_holds_fails_and_books_nothing(
    rig: Rig, paper_db: Database, account: WatchOnly
) -> None:
    chain = await funded(paper_db, rig, account)
    outcome = await (await paper_executor(rig, paper_db)).submit(
        rig.buy("JUP", START_USDC + 1), account
    )
    assert outcome.state is OrderState.FAILED
    assert outcome.error is not None
    assert "paper account holds" in outcome.error
    assert await rig.positions() == []
    assert await rig.trades() == []
    assert await paper_balance_of(chain, account, "USDC") == START_USDC
    assert await paper_balance_of(chain, account, "JUP") == 0


async def test_a_crash_before_the_fill_leaves_a_failed_order_and_nothing_booked(
    rig: Rig, paper_db: Database, account: WatchOnly
) -> None:
    chain = await funded(paper_db, rig, account)
    dying = await paper_executor(rig, paper_db, on_step=crash_at(OrderState.QUOTED))
    with pytest.raises(SimulatedCrash):
        await dying.submit(rig.buy("JTO", 300 * 10**6), account)
    (order,) = await rig.orders()
    assert order.state == "quoted"

    (outcome,) = await (await paper_executor(rig, paper_db)).recover(account, "alice")
    assert outcome.state is OrderState.FAILED
    assert await rig.positions() == []
    assert await paper_balance_of(chain, account, "USDC") == START_USDC


async def test_a_paper_account_is_funded_once(
    rig: Rig, paper_db: Database, account: WatchOnly
) -> None:
    chain = await funded(paper_db, rig, account)
    usdc = Pubkey.from_string(USDC)
    assert not await chain.fund_once(account.pubkey(), usdc, 10**12)  # a restart: no top-up
    assert await chain.token_balance(account.pubkey(), usdc) == START_USDC
    assert await chain.balance(account.pubkey()) == 0  # no lamports unless given


async def test_the_paper_chain_refuses_to_send(rig: Rig, paper_db: Database) -> None:
    chain = PaperChain(paper_db, rig.clock)
    with pytest.raises(PaperModeError, match="sends nothing"):
        await chain.latest_blockhash()
    with pytest.raises(PaperModeError, match="sends nothing"):
        await chain.statuses([])
    with pytest.raises(PaperModeError, match="sends nothing"):  # nor reads what an address is
        await chain.account(rig.owner)


def test_a_paper_address_has_no_private_key_and_signs_nothing() -> None:
    address = paper_address("operator")
    assert address == paper_address("operator") != paper_address("alice")
    assert not address.is_on_curve()
    with pytest.raises(PermissionError, match="watch-only"):
        WatchOnly(address).sign_message(b"anything")
