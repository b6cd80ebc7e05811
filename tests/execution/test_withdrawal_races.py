"""Withdrawals asked twice, or side by side: an identical request returns the first instead of
sending again, and two different ones cannot both spend the fee reserve, on both databases,
through independent database handles (as two processes would)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.services.withdrawals import IDEMPOTENCY_SECONDS, WithdrawalService
from solbot.store.db import Database
from solbot.store.tables import AuditRow, WithdrawalRow
from solbot.transfers import SIGNATURE_FEE
from solbot.wallet.master import MasterKey

from .sim_rig import FaultyChain, Rig

KEY = MasterKey.generate()
SOL = 1_000_000_000
RESERVE = 50_000_000  # 0.05 SOL
USER = "carol_w"


@pytest.fixture
async def wallet(rig: Rig) -> Pubkey:
    db = Database(rig.db_url)
    try:
        user, _key = await CustodyService(db, rig.clock, KEY).create_user(USER, actor="test")
    finally:
        await db.dispose()
    return Pubkey.from_string(user.wallet_pubkey)


class Handles:
    """Independent `Database` handles (one per simulated process), closed at the end."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.dbs: list[Database] = []

    def service(self, chain: object | None = None) -> WithdrawalService:
        db = Database(self.rig.db_url)
        self.dbs.append(db)
        custody = CustodyService(db, self.rig.clock, KEY)
        return WithdrawalService(
            db,
            self.rig.clock,
            chain or self.rig.chain,
            custody,
            fee_reserve_lamports=RESERVE,
            wall=self.rig.clock,  # the idempotency window's clock, moved by the tests
        )

    async def close(self) -> None:
        for db in self.dbs:
            await db.dispose()


@pytest.fixture
async def handles(rig: Rig) -> AsyncIterator[Handles]:
    h = Handles(rig)
    yield h
    await h.close()


def balance(rig: Rig, who: Pubkey) -> int:
    rig.net.ledger.advance_to(rig.clock.now())
    return rig.net.ledger.balance(who)


async def table(rig: Rig, model: type) -> list:
    db = Database(rig.db_url)
    try:
        async with db.session() as s:
            return list(await s.scalars(select(model)))
    finally:
        await db.dispose()


# ---------------------------------------------------------------------------------- idempotency
async def test_an_identical_request_returns_the_first_and_sends_nothing_more(
    rig: Rig, wallet: Pubkey, handles: Handles
) -> None:
    """Same user, destination, amount and blockhash: the same signature. It ended in an
    IntegrityError on `uq_withdrawals_signature`, a row stuck `created` and an audit row for a
    withdrawal that never happened."""
    rig.net.ledger.airdrop(wallet, 2 * SOL)
    to = Keypair().pubkey()
    first = await handles.service().withdraw(USER, str(to), "0.5", actor="cli")
    again = await handles.service().withdraw(USER, str(to), "0.5", actor="cli")
    assert first.state == "confirmed"
    assert again.id == first.id
    assert again.state == "confirmed"
    assert balance(rig, to) == 500_000_000
    assert balance(rig, wallet) == 2 * SOL - 500_000_000 - SIGNATURE_FEE
    (row,) = await table(rig, WithdrawalRow)
    assert row.state == "confirmed"
    actions = [a.action for a in await table(rig, AuditRow) if a.action.startswith("withdraw")]
    assert actions == ["withdraw", "withdraw_outcome", "withdraw_repeated"]


async def test_identical_requests_side_by_side_make_one_transfer(
    rig: Rig, wallet: Pubkey, handles: Handles
) -> None:
    rig.net.ledger.airdrop(wallet, 2 * SOL)
    to = Keypair().pubkey()
    results = await asyncio.gather(
        *(handles.service().withdraw(USER, str(to), "0.5", actor="cli") for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, WithdrawalRow) for r in results), results
    assert len({r.id for r in results}) == 1
    assert balance(rig, to) == 500_000_000
    (row,) = await table(rig, WithdrawalRow)
    assert row.state == "confirmed"


async def test_after_the_window_or_a_failure_the_same_request_sends_again(
    rig: Rig, wallet: Pubkey, handles: Handles
) -> None:
    """The rule: identical to one in flight, or confirmed less than `IDEMPOTENCY_SECONDS` ago,
    is that one. Later, it is a new withdrawal, and so is a retry after a failure; each
    transaction carries its withdrawal's id, so even the same blockhash makes a new signature."""
    rig.net.ledger.airdrop(wallet, 2 * SOL)
    to = Keypair().pubkey()
    first = await handles.service().withdraw(USER, str(to), "0.3", actor="cli")
    rig.clock.advance(IDEMPOTENCY_SECONDS + 1)
    second = await handles.service().withdraw(USER, str(to), "0.3", actor="cli")
    assert second.id != first.id
    assert second.signature != first.signature
    assert second.state == "confirmed"

    rig.chain.before_send = refuse_everything
    failed = await handles.service().withdraw(USER, str(to), "0.2", actor="cli")
    assert failed.state == "failed"
    rig.chain.before_send = None
    retried = await handles.service().withdraw(USER, str(to), "0.2", actor="cli")
    assert retried.id != failed.id
    assert retried.state == "confirmed"
    assert balance(rig, to) == 800_000_000
    states = sorted(r.state for r in await table(rig, WithdrawalRow))
    assert states == ["confirmed", "confirmed", "confirmed", "failed"]


def refuse_everything(_tx: object) -> None:
    from solbot.chain.port import SendError

    raise SendError("InsufficientFundsForFee")


# ---------------------------------------------------------------------------------- reserve
class MeetingChain(FaultyChain):
    """The rig's chain, except that the first two balance reads wait for each other *after*
    reading: both requests hold a balance read before either has sent anything, the worst
    interleaving. (Waiting before the read let the scheduler run one request to the end
    before the other's read: on Python 3.13 the loser then read the spent balance at its
    quick check and was refused before journaling, a different race from this test's.)"""

    def __init__(self, inner: FaultyChain, owner: Pubkey) -> None:
        super().__init__(inner.inner, inner.clock)
        self.owner = owner
        self.waiting: list[asyncio.Future[None]] = []

    async def balance(self, owner: Pubkey) -> int:
        lamports = await super().balance(owner)
        if owner == self.owner and len(self.waiting) < 2:
            arrived = asyncio.get_running_loop().create_future()
            self.waiting.append(arrived)
            if len(self.waiting) == 2:
                for future in self.waiting:
                    if not future.done():
                        future.set_result(None)
            await asyncio.wait_for(asyncio.shield(arrived), timeout=5)
        return lamports


async def test_two_withdrawals_side_by_side_never_eat_the_fee_reserve(
    rig: Rig, wallet: Pubkey, handles: Handles
) -> None:
    """0.25 and 0.26 SOL from 0.54 SOL: each fits alone, both do not (0.05 SOL stays for
    fees). Seen: both confirmed on PostgreSQL, leaving less than the reserve."""
    rig.net.ledger.airdrop(wallet, 540_000_000)
    chain = MeetingChain(rig.chain, wallet)
    a, b = Keypair().pubkey(), Keypair().pubkey()
    results = await asyncio.gather(
        handles.service(chain).withdraw(USER, str(a), "0.25", actor="cli"),
        handles.service(chain).withdraw(USER, str(b), "0.26", actor="cli"),
        return_exceptions=True,
    )
    done = [r for r in results if isinstance(r, WithdrawalRow) and r.state == "confirmed"]
    refused = [r for r in results if isinstance(r, UserError)]
    assert len(done) == 1, results
    assert len(refused) == 1, results
    assert "\n" not in str(refused[0])
    assert "more than can be withdrawn" in str(refused[0])
    assert balance(rig, wallet) >= RESERVE
    assert balance(rig, wallet) == 540_000_000 - done[0].lamports - SIGNATURE_FEE
    rows = await table(rig, WithdrawalRow)
    assert sorted(r.state for r in rows) == ["confirmed", "failed"]  # nothing left in flight
    outcomes = [a for a in await table(rig, AuditRow) if a.action == "withdraw_outcome"]
    assert len(outcomes) == 2  # the refused one is on record with its reason


async def test_a_withdrawal_in_flight_is_reserved_for_the_next_request(
    rig: Rig, wallet: Pubkey, handles: Handles
) -> None:
    """A row another process left in flight (signed, not settled) holds its amount: a new
    request may not spend it again."""
    rig.net.ledger.airdrop(wallet, 540_000_000)
    rig.chain.before_send = stop_here
    with pytest.raises(Stopped):
        await handles.service().withdraw(USER, str(Keypair().pubkey()), "0.25", actor="cli")
    rig.chain.before_send = None
    (pending,) = await table(rig, WithdrawalRow)
    assert pending.state == "sent"
    with pytest.raises(UserError, match="more than can be withdrawn") as caught:
        await handles.service().withdraw(USER, str(Keypair().pubkey()), "0.26", actor="cli")
    assert "in flight" in str(caught.value)


class Stopped(Exception):  # noqa: N818 (a process stopping, not an error the code handles)
    pass


def stop_here(_tx: object) -> None:
    raise Stopped
