"""Withdrawals on the in-process sim: real transfers signed by the vault, validated before
anything is written, journaled so that a crash neither sends one twice nor loses it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount, TokenAccountState
from spl.token.constants import TOKEN_PROGRAM_ID
from sqlalchemy import select

from solbot.clock import ManualClock
from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.services.withdrawal_destinations import parse_destination
from solbot.services.withdrawals import WithdrawalService, parse_sol
from solbot.store.db import Database
from solbot.store.tables import AuditRow, UserRow, WithdrawalRow
from solbot.transfers import SIGNATURE_FEE
from solbot.wallet.master import MasterKey

from .sim_rig import Rig, SimulatedCrash, crash

KEY = MasterKey.generate()
SOL = 1_000_000_000
RESERVE = 50_000_000  # 0.05 SOL


@pytest.fixture
async def service(rig: Rig) -> AsyncIterator[CustodyService]:
    db = Database(rig.db_url)
    custody = CustodyService(db, rig.clock, KEY)
    user, _key = await custody.create_user("alice_w", actor="test")
    rig.net.ledger.airdrop(Pubkey.from_string(user.wallet_pubkey), 2 * SOL)
    yield custody
    await db.dispose()


def withdrawals(rig: Rig, service: CustodyService) -> WithdrawalService:
    return WithdrawalService(
        service.db, rig.clock, rig.chain, service, fee_reserve_lamports=RESERVE, wall=rig.clock
    )


async def wallet_of(service: CustodyService) -> Pubkey:
    return Pubkey.from_string((await service.user("alice_w")).wallet_pubkey)


def balance(rig: Rig, who: Pubkey) -> int:
    rig.net.ledger.advance_to(rig.clock.now())
    return rig.net.ledger.balance(who)


async def rows(service: CustodyService, model: type) -> list:
    async with service.db.session() as s:
        return list(await s.scalars(select(model)))


async def test_a_withdrawal_moves_exactly_the_amount_and_is_recorded(
    rig: Rig, service: CustodyService
) -> None:
    source = await wallet_of(service)
    to = Keypair().pubkey()
    before = balance(rig, source)
    row = await withdrawals(rig, service).withdraw("alice_w", str(to), "0.75", actor="cli")
    assert row.state == "confirmed"
    assert row.lamports == 750_000_000
    assert row.fee_lamports == SIGNATURE_FEE
    assert balance(rig, to) == 750_000_000
    assert balance(rig, source) == before - 750_000_000 - SIGNATURE_FEE
    (stored,) = await rows(service, WithdrawalRow)
    assert (stored.state, stored.signature, stored.destination) == (
        "confirmed",
        row.signature,
        str(to),
    )
    audit = [(a.action, a.user_id) for a in await rows(service, AuditRow)]
    assert audit[-2:] == [("withdraw", stored.user_id), ("withdraw_outcome", stored.user_id)]


async def test_everything_but_the_reserve_and_the_fee_can_go(
    rig: Rig, service: CustodyService
) -> None:
    source = await wallet_of(service)
    service_ = withdrawals(rig, service)
    user = await service.user("alice_w")
    available = await service_.available(user)
    assert available == balance(rig, source) - RESERVE - SIGNATURE_FEE
    amount = f"{available / SOL:.9f}"
    row = await service_.withdraw("alice_w", str(Keypair().pubkey()), amount, actor="cli")
    assert row.state == "confirmed"
    assert balance(rig, source) == RESERVE


@pytest.mark.parametrize(
    ("destination", "amount", "message"),
    [
        (" {to}", "0.1", "spaces or line breaks"),
        ("{to}\n", "0.1", "spaces or line breaks"),
        ("{to}x", "0.1", "is not a Solana address"),
        ("{short}", "0.1", "is not a Solana address"),
        ("{pda}", "0.1", "program-derived address"),
        ("11111111111111111111111111111111", "0.1", "System Program"),
        ("{own}", "0.1", "the user's own trading wallet"),
        ("{to}", "1.96", "more than can be withdrawn: 1.949995 SOL"),
        ("{to}", "0", "more than 0 SOL"),
        ("{to}", "-1", "more than 0 SOL"),
        ("{to}", "lots", "is not a number of SOL"),
        ("{to}", "0.0000000001", "more than 9 decimals"),
        ("{to}", "0.0001", "new account: it must receive at least 0.00089088 SOL"),
    ],
)
async def test_a_bad_withdrawal_is_one_line_and_changes_nothing(
    rig: Rig, service: CustodyService, destination: str, amount: str, message: str
) -> None:
    own = await wallet_of(service)
    pda, _ = Pubkey.find_program_address(
        [b"x"], Pubkey.from_string("11111111111111111111111111111111")
    )
    # A fixed address of 44 characters: with one more, it can never decode to 32 bytes (a
    # random key of 43 could, and then fail as an off-curve address instead).
    to = Keypair.from_seed(bytes([1]) * 32).pubkey()
    assert len(str(to)) == 44
    text = destination.format(to=to, short=str(to)[:20], pda=pda, own=own)
    before = balance(rig, own)
    audit_before = len(await rows(service, AuditRow))
    with pytest.raises(UserError, match=message.replace("(", r"\(")) as caught:
        await withdrawals(rig, service).withdraw("alice_w", text, amount, actor="cli")
    assert "\n" not in str(caught.value)
    assert balance(rig, own) == before
    assert await rows(service, WithdrawalRow) == []
    assert len(await rows(service, AuditRow)) == audit_before


RAY_MINT = "4k3Dyjzvzp8eMZWUXbBCjEvwSkkk59S5iCNLY3QrkX6R"  # on the curve, yet a mint
WSOL_MINT = "So11111111111111111111111111111111111111112"
MEMO_PROGRAM = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("wsol", "is a token mint, not a wallet"),
        ("ray", "is a token mint, not a wallet"),
        ("token_account", "is a token account, not a wallet: send to its owner's wallet"),
        ("token_program", "is a program, not a wallet"),
        ("memo_program", "is a program, not a wallet"),
        ("nonce_like", "holds data (a nonce account or similar), not a plain wallet"),
        ("foreign", f"belongs to the program {MEMO_PROGRAM}, not a plain wallet"),
    ],
)
async def test_a_destination_that_is_not_a_plain_wallet_is_refused_on_chain(
    rig: Rig, service: CustodyService, kind: str, message: str
) -> None:
    """Only "on the curve" was checked: SOL sent to a mint, a token account or a program is
    gone. What the address is, is read on chain; on-curve addresses can be mints too."""
    own = await wallet_of(service)
    odd = Keypair().pubkey()  # on the curve: the address of a key
    if kind == "token_account":  # created at a key's address (an associated one is a PDA)
        state = TokenAccount(
            mint=Pubkey.from_string(RAY_MINT), owner=own, amount=7, delegate=None,
            state=TokenAccountState.Initialized, is_native=None, delegated_amount=0,
            close_authority=None,
        )  # fmt: skip
        rig.net.ledger.svm.set_account(odd, Account(SOL, bytes(state), TOKEN_PROGRAM_ID, False, 0))
    if kind == "nonce_like":  # system-owned, with 80 bytes of data (a durable nonce's size)
        rig.net.ledger.svm.set_account(odd, Account(SOL, bytes(80), Pubkey.default(), False, 0))
    if kind == "foreign":  # a plain key's address, given to another program
        memo = Pubkey.from_string(MEMO_PROGRAM)
        rig.net.ledger.svm.set_account(odd, Account(SOL, b"", memo, False, 0))
    destination = {
        "wsol": WSOL_MINT,
        "ray": RAY_MINT,
        "token_account": str(odd),
        "token_program": str(TOKEN_PROGRAM_ID),
        "memo_program": MEMO_PROGRAM,
        "nonce_like": str(odd),
        "foreign": str(odd),
    }[kind]
    assert Pubkey.from_string(RAY_MINT).is_on_curve()
    before = balance(rig, own)
    audit_before = len(await rows(service, AuditRow))
    with pytest.raises(UserError, match=re.escape(message)) as caught:
        await withdrawals(rig, service).withdraw("alice_w", destination, "0.5", actor="cli")
    assert str(caught.value).startswith(destination)
    assert "\n" not in str(caught.value)
    assert balance(rig, own) == before
    assert await rows(service, WithdrawalRow) == []
    assert len(await rows(service, AuditRow)) == audit_before


async def test_a_new_address_and_a_funded_wallet_are_accepted(
    rig: Rig, service: CustodyService
) -> None:
    funded = Keypair().pubkey()
    rig.net.ledger.airdrop(funded, SOL)
    for to in (Keypair().pubkey(), funded):
        row = await withdrawals(rig, service).withdraw("alice_w", str(to), "0.1", actor="cli")
        assert row.state == "confirmed"
    assert balance(rig, funded) == SOL + 100_000_000


async def test_a_crash_after_signing_is_finished_from_the_journal_once(
    rig: Rig, service: CustodyService
) -> None:
    source = await wallet_of(service)
    to = Keypair().pubkey()
    before = balance(rig, source)
    rig.chain.before_send = crash  # dies with the signed bytes journaled, nothing sent
    with pytest.raises(SimulatedCrash):
        await withdrawals(rig, service).withdraw("alice_w", str(to), "0.5", actor="cli")
    (row,) = await rows(service, WithdrawalRow)
    assert row.state == "sent"  # journaled as sent before the bytes go out
    assert row.signed_tx is not None
    assert balance(rig, to) == 0

    rig.chain.before_send = None
    (done,) = await withdrawals(rig, service).recover()
    assert done.state == "confirmed"
    assert balance(rig, to) == 500_000_000
    assert balance(rig, source) == before - 500_000_000 - SIGNATURE_FEE


async def test_a_crash_after_sending_never_sends_twice(rig: Rig, service: CustodyService) -> None:
    source = await wallet_of(service)
    to = Keypair().pubkey()
    before = balance(rig, source)
    rig.chain.after_send = crash  # the transfer landed; the process died before recording it
    with pytest.raises(SimulatedCrash):
        await withdrawals(rig, service).withdraw("alice_w", str(to), "0.5", actor="cli")
    assert balance(rig, to) == 500_000_000
    rig.chain.after_send = None
    sends = rig.chain.sends
    (done,) = await withdrawals(rig, service).recover()
    assert done.state == "confirmed"
    assert rig.chain.sends == sends + 1  # the same bytes went again, and were refused
    assert balance(rig, to) == 500_000_000
    assert balance(rig, source) == before - 500_000_000 - SIGNATURE_FEE


async def test_the_operators_own_wallet_is_not_withdrawn_from(
    rig: Rig, service: CustodyService
) -> None:
    async with service.db.session() as s:
        external = (await s.scalars(select(UserRow).where(UserRow.custody == "external"))).first()
    assert external is not None
    with pytest.raises(UserError, match="operator's own wallet"):
        await withdrawals(rig, service).withdraw(
            external.username, str(Keypair().pubkey()), "0.1", actor="cli"
        )


def test_parsers_accept_what_people_type() -> None:
    address = Keypair().pubkey()
    assert parse_destination(str(address)) == address
    assert parse_sol("1") == 1_000_000_000
    assert parse_sol("0.000000001") == 1
    assert parse_sol("12.5") == 12_500_000_000


async def test_rows_and_audit_are_stamped_with_the_wall_clock_not_the_chains(
    rig: Rig, service: CustodyService
) -> None:
    """Seen: `solbot withdraw` on the embedded sim stamped its rows with the sim's clock (days
    ahead after an accelerated run), which the 24-hour limit and the idempotency window read
    as wall time. The chain's clock only paces the waiting for blocks."""
    wall = ManualClock(rig.clock.now() - 5 * 86_400)  # the sim ran 5 days ahead
    withdrawing = WithdrawalService(
        service.db, rig.clock, rig.chain, service, fee_reserve_lamports=RESERVE, wall=wall
    )
    row = await withdrawing.withdraw("alice_w", str(Keypair().pubkey()), "0.1", actor="cli")
    assert row.state == "confirmed"
    (stored,) = await rows(service, WithdrawalRow)
    assert stored.created_at.timestamp() == wall.now()
    assert stored.updated_at.timestamp() == wall.now()
    audit = [a for a in await rows(service, AuditRow) if a.action.startswith("withdraw")]
    assert {a.at.timestamp() for a in audit} == {wall.now()}
