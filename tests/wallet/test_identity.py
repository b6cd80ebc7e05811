"""Identity binding outside the CLI, on both databases: a row swapped or edited in the database
is refused by the trading loop's roster, by a withdrawal and by the Telegram bot's lookup; it is
never signed for, paid out from or acted on."""

from __future__ import annotations

from typing import Any, cast

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select, update

from solbot.chain.port import Chain
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.services.roster import Roster
from solbot.services.withdrawals import WithdrawalService
from solbot.store.db import Database
from solbot.store.tables import UserRow, WithdrawalRow
from solbot.telegram.services import BotServices
from solbot.wallet import identity
from solbot.wallet.master import MasterKey

KEY = MasterKey.generate()
NOW = 1_800_000_000.0
USDC = Settings().token("USDC")


class UntouchedChain:
    """A chain nobody may ask anything: a refused row must stop before the chain."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the chain was used ({name}) for a refused row")


class EmptyChain:
    """Balances of zero: what the roster reads when it loads an account."""

    async def balance(self, owner: Pubkey) -> int:
        return 0

    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        return 0


def roster_of(db: Database, custody: CustodyService) -> Roster:
    """The loop's roster over the users, with zero balances."""
    chain = cast(Chain, EmptyChain())
    return Roster(db=db, clock=custody.clock, chain=chain, quote=USDC, custody=custody)


@pytest.fixture
async def custody(db: Database) -> CustodyService:
    service = CustodyService(db, ManualClock(NOW), KEY)
    await service.create_user("alice", actor="test", telegram_id=111)
    await service.create_user("bob", actor="test", telegram_id=222)
    return service


async def swap(db: Database, column: str) -> None:
    async with db.session() as s:
        users = {u.username: u for u in await s.scalars(select(UserRow))}
        alice, bob = users["alice"], users["bob"]
        first, second = getattr(alice, column), getattr(bob, column)
        temporary = "swapping" if column == "username" else None
        await s.execute(update(UserRow).where(UserRow.id == alice.id).values({column: temporary}))
        await s.execute(update(UserRow).where(UserRow.id == bob.id).values({column: first}))
        await s.execute(update(UserRow).where(UserRow.id == alice.id).values({column: second}))


async def test_the_roster_trades_no_swapped_row_and_says_so_once(
    db: Database, custody: CustodyService
) -> None:
    roster = roster_of(db, custody)
    await roster.refresh()
    assert {a.username for a in roster.accounts} == {"alice", "bob"}

    fresh = roster_of(db, custody)
    await swap(db, "username")
    notices = await fresh.refresh()
    assert fresh.accounts == []
    refused = [n for n in notices if n.kind == "identity_refused"]
    assert len(refused) == 2
    assert all("identity" in n.text for n in refused)
    again = await fresh.refresh()
    assert [n for n in again if n.kind == "identity_refused"] == []


async def test_a_withdrawal_from_a_swapped_row_stops_before_anything(
    db: Database, custody: CustodyService
) -> None:
    await swap(db, "username")
    chain = cast(Chain, UntouchedChain())
    service = WithdrawalService(db, custody.clock, chain, custody, fee_reserve_lamports=0)
    with pytest.raises(identity.IdentityError, match="bob"):
        await service.withdraw("bob", str(Keypair().pubkey()), "0.1", actor="cli")
    async with db.session() as s:
        assert list(await s.scalars(select(WithdrawalRow))) == []


async def test_the_telegram_bot_refuses_a_moved_telegram_id(
    db: Database, custody: CustodyService, tmp_path: Any
) -> None:
    services = BotServices(
        settings=Settings(data_dir=tmp_path), db=db, clock=custody.clock, custody=custody
    )
    user = await services.user_of(222)
    assert user is not None
    assert user.username == "bob"
    await swap(db, "telegram_id")
    with pytest.raises(UserError, match="identity"):
        await services.user_of(222)  # alice's row now: her wallet must not answer bob's chat


async def test_the_roster_adopts_the_rows_of_an_older_database(
    db: Database, custody: CustodyService
) -> None:
    async with db.session() as s:
        await s.execute(update(UserRow).values(identity_mac=None))  # as the migration leaves them
    roster = roster_of(db, custody)
    await roster.refresh()
    assert {a.username for a in roster.accounts} == {"alice", "bob"}
    async with db.session() as s:
        assert all(u.identity_mac for u in await s.scalars(select(UserRow)))
