"""`recover_transfers`, the one entry point every start calls: each withdrawal a dead process
left in flight is settled from its signature (its same bytes re-sent while the blockhash is
valid) or failed, its outcome audited, its user told, on both databases. Seen before: nothing
outside the tests recovered withdrawals, and killed `solbot withdraw` runs left rows `sent`
forever, most of them finalized on chain."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.services.withdrawals import WithdrawalService
from solbot.store.db import Database
from solbot.store.tables import AuditRow, WithdrawalRow
from solbot.transfer_recovery import Recovered, recover_transfers
from solbot.transfers import SIGNATURE_FEE
from solbot.wallet.master import MasterKey

from .sim_rig import FaultyChain, Rig, SimulatedCrash, crash

KEY = MasterKey.generate()
SOL = 1_000_000_000
USER = "erin_w"


@pytest.fixture
async def custody(rig: Rig) -> AsyncIterator[CustodyService]:
    db = Database(rig.db_url)
    service = CustodyService(db, rig.clock, KEY)
    user, _key = await service.create_user(USER, actor="test")
    rig.net.ledger.airdrop(Pubkey.from_string(user.wallet_pubkey), 10 * SOL)
    yield service
    await db.dispose()


def crash_after(state: str) -> Callable[[WithdrawalRow], None]:
    def step(row: WithdrawalRow) -> None:
        if row.state == state:
            raise SimulatedCrash

    return step


def balance(rig: Rig, who: Pubkey) -> int:
    rig.net.ledger.advance_to(rig.clock.now())
    return rig.net.ledger.balance(who)


async def left_behind(rig: Rig, custody: CustodyService, how: str) -> Pubkey:
    """A withdrawal of 0.5 SOL that a process died in the middle of; its destination."""
    to = Keypair().pubkey()
    service = WithdrawalService(custody.db, rig.clock, rig.chain, custody, fee_reserve_lamports=0)
    if how in ("created", "signed"):
        service.on_step = crash_after(how)
    elif how == "landed":
        rig.chain.after_send = crash  # the transfer landed; the process died before knowing
    else:  # "expired": died before the bytes went out, and came back too late
        rig.chain.before_send = crash
    with pytest.raises(SimulatedCrash):
        await service.withdraw(USER, str(to), "0.5", actor="cli")
    rig.chain.after_send = rig.chain.before_send = None
    if how == "expired":
        rig.pass_expiry()
    return to


async def test_every_withdrawal_left_in_flight_is_settled_once_audited_and_told(
    rig: Rig, custody: CustodyService
) -> None:
    wallet = Pubkey.from_string((await custody.user(USER)).wallet_pubkey)
    start = balance(rig, wallet)
    expired = await left_behind(rig, custody, "expired")
    created = await left_behind(rig, custody, "created")
    signed = await left_behind(rig, custody, "signed")
    landed = await left_behind(rig, custody, "landed")
    async with custody.db.session() as s:
        states = {r.destination: r.state for r in await s.scalars(select(WithdrawalRow))}
    assert states == {
        str(expired): "sent",
        str(created): "created",
        str(signed): "signed",
        str(landed): "sent",
    }
    assert balance(rig, landed) == 500_000_000  # on chain, while the journal says "sent"
    sends = rig.chain.sends

    told: list[Recovered] = []
    settled = await recover_transfers(custody.db, rig.clock, rig.chain, custody, told.append)

    outcome = {r.row.destination: r.row.state for r in settled}
    assert outcome == {
        str(expired): "expired",
        str(created): "failed",
        str(signed): "confirmed",
        str(landed): "confirmed",
    }
    assert told == settled
    assert {r.username for r in told} == {USER}
    texts = {r.row.destination: r.text for r in told}
    assert texts[str(landed)].startswith(f"withdrawal of 0.5 SOL to {landed} confirmed")
    assert "stopped before signing" in texts[str(created)]
    assert "\n" not in "".join(texts.values())
    assert balance(rig, signed) == 500_000_000  # its own bytes, re-sent
    assert balance(rig, landed) == 500_000_000  # not sent twice
    assert balance(rig, expired) == 0
    assert balance(rig, created) == 0
    assert balance(rig, wallet) == start - 2 * (500_000_000 + SIGNATURE_FEE)
    assert rig.chain.sends <= sends + 4  # one send each at most for the three signed ones
    async with custody.db.session() as s:
        rows = list(await s.scalars(select(WithdrawalRow)))
        audit = select(AuditRow).where(AuditRow.action == "withdraw_outcome")
        outcomes = list(await s.scalars(audit))
    assert all(r.state in ("confirmed", "failed", "expired") for r in rows)
    assert sorted(o.user_id for o in outcomes) == sorted(r.user_id for r in rows)

    assert await recover_transfers(custody.db, rig.clock, rig.chain, custody, told.append) == []


async def test_nothing_to_settle_needs_no_master_key(rig: Rig, custody: CustodyService) -> None:
    keyless = CustodyService(custody.db, rig.clock, None)
    assert await recover_transfers(custody.db, rig.clock, rig.chain, keyless, print) == []
    await left_behind(rig, custody, "signed")
    with pytest.raises(UserError, match="MASTER_ENCRYPTION_KEY"):
        await recover_transfers(custody.db, rig.clock, rig.chain, keyless, print)


class RecoveryMeanwhile(FaultyChain):
    """The rig's chain; when asked for a blockhash (this process is about to sign), another
    process starts first and runs its recovery."""

    def __init__(self, inner: FaultyChain, custody: CustodyService) -> None:
        super().__init__(inner.inner, inner.clock)
        self.custody = custody
        self.others: list[Recovered] = []

    async def latest_blockhash(self) -> tuple[Hash, int]:
        other = self.custody
        self.others += await recover_transfers(other.db, self.clock, self, other, print)
        return await super().latest_blockhash()


async def test_a_recovery_and_the_process_still_driving_the_row_end_it_once(
    rig: Rig, custody: CustodyService
) -> None:
    """Another process starts (and recovers) while this one is between journaling and signing:
    the recovery fails the unsigned row, and this process, finding it ended, sends nothing."""
    to = Keypair().pubkey()
    chain = RecoveryMeanwhile(rig.chain, custody)
    service = WithdrawalService(custody.db, rig.clock, chain, custody, fee_reserve_lamports=0)
    row = await service.withdraw(USER, str(to), "0.5", actor="cli")
    assert [o.row.state for o in chain.others] == ["failed"]
    assert row.state == "failed"
    assert row.error == "stopped before signing"
    assert balance(rig, to) == 0
    async with custody.db.session() as s:
        audit = select(AuditRow).where(AuditRow.action == "withdraw_outcome")
        outcomes = list(await s.scalars(audit))
    assert len(outcomes) == 1
