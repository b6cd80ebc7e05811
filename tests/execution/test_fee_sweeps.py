"""Fee sweeps on the in-process sim, on both databases: the accrued performance fee moves from
the user's wallet to the fee wallet as a real USDC transfer, exactly once whatever crashes or
runs twice, never more than the wallet can spare, and a fee wallet that cannot receive is one
line before anything is written."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select, update

from booking import book_trade
from solbot.errors import UserError
from solbot.fee_sweeps import HELD_KEY, LATER, FeeSweeps, SweepsHeldError, owed
from solbot.fees import FeeBook
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.tables import AuditRow, FeeSweepRow, MetaEntry, UserRow, WithdrawalRow
from solbot.transfer_recovery import Recovered, recover_transfers
from solbot.transfers import SIGNATURE_FEE
from solbot.wallet.master import MasterKey

from .sim_rig import TOKENS, USDC, Rig, SimulatedCrash, crash

KEY = MasterKey.generate()
SOL = 1_000_000_000
USER = "fran"
QUOTE = next(t for t in TOKENS if t.symbol == "USDC")
MINT = Pubkey.from_string(USDC)
DAY = 86_400.0


@dataclass
class World:
    rig: Rig
    custody: CustodyService
    wallet: Pubkey
    fee_wallet: Pubkey
    user_id: str

    def sweeps(self, db: Database | None = None, **kwargs: object) -> FeeSweeps:
        custody = self.custody if db is None else CustodyService(db, self.rig.clock, KEY)
        return FeeSweeps(
            custody.db,
            self.rig.clock,
            self.rig.chain,
            custody,
            quote=QUOTE,
            fee_wallet=str(self.fee_wallet),
            minimum=Decimal("1"),
            wall=self.rig.clock,
            **kwargs,  # type: ignore[arg-type]
        )

    def usdc(self, owner: Pubkey) -> int:
        self.rig.net.ledger.advance_to(self.rig.clock.now())
        return self.rig.net.ledger.token_balance(owner, MINT)

    def sol(self, owner: Pubkey) -> int:
        self.rig.net.ledger.advance_to(self.rig.clock.now())
        return self.rig.net.ledger.balance(owner)

    async def accrue(self, pnl: str) -> None:
        """A trade realising `pnl` USDC today; tomorrow the day's fee (10 %) is accrued."""
        await book_trade(self.custody.db, self.user_id, pnl, self.rig.clock.now())
        self.rig.clock.advance(DAY)
        await FeeBook(self.custody.db, self.rig.clock, 10.0).accrue_due()

    async def rows(self) -> list[FeeSweepRow]:
        async with self.custody.db.session() as s:
            return list(await s.scalars(select(FeeSweepRow).order_by(FeeSweepRow.created_at)))

    async def audit(self) -> list[str]:
        async with self.custody.db.session() as s:
            return [a.action for a in await s.scalars(select(AuditRow).order_by(AuditRow.seq))]


@pytest.fixture
async def world(rig: Rig) -> AsyncIterator[World]:
    db = Database(rig.db_url)
    custody = CustodyService(db, rig.clock, KEY)
    user, _key = await custody.create_user(USER, actor="test")
    wallet = Pubkey.from_string(user.wallet_pubkey)
    rig.net.ledger.airdrop(wallet, SOL)
    rig.net.ledger.set_token_balance(wallet, MINT, 500 * 10**6)
    fee_wallet = Keypair().pubkey()
    rig.net.ledger.airdrop(fee_wallet, SOL // 100)
    rig.net.ledger.set_token_balance(fee_wallet, MINT, 0)  # its USDC account exists
    yield World(rig, custody, wallet, fee_wallet, user.id)
    await db.dispose()


async def test_the_accrued_fee_moves_to_the_fee_wallet_once(world: World) -> None:
    await world.accrue("125")  # 10 % of 125: 12.5 USDC owed
    before = world.usdc(world.wallet)
    (result,) = await world.sweeps().sweep_all()
    assert result.confirmed, result
    row = result.row
    assert row is not None
    assert (row.atoms, row.mint, row.destination) == (12_500_000, USDC, str(world.fee_wallet))
    assert world.usdc(world.fee_wallet) == 12_500_000
    assert world.usdc(world.wallet) == before - 12_500_000
    assert row.fee_lamports == SIGNATURE_FEE
    assert (await world.audit())[-2:] == ["fee_sweep", "fee_sweep_outcome"]

    (again,) = await world.sweeps().sweep_all()  # asked again: nothing more is paid
    assert again.row is None
    assert again.skipped == "nothing is owed"
    assert world.usdc(world.fee_wallet) == 12_500_000
    async with world.custody.db.session() as s:
        state = await owed(s, world.user_id, QUOTE.decimals)
    assert (state.accrued, state.paid, state.due) == (12_500_000, 12_500_000, 0)


async def test_a_sweep_pays_what_the_wallet_can_spare_and_the_rest_later(world: World) -> None:
    await world.accrue("125")
    world.rig.net.ledger.set_token_balance(world.wallet, MINT, 5_000_000)  # 5 USDC left
    (first,) = await world.sweeps().sweep_all()
    assert first.confirmed
    assert first.row is not None
    assert first.row.atoms == 5_000_000
    assert world.usdc(world.wallet) == 0
    (broke,) = await world.sweeps().sweep_all()  # the same day: the rest waits
    assert broke.row is None
    world.rig.net.ledger.set_token_balance(world.wallet, MINT, 100_000_000)  # a deposit
    await world.accrue("-10")  # a new day (a loss: nothing more accrues, 7.5 still owed)
    (rest,) = await world.sweeps().sweep_all()
    assert rest.confirmed
    assert rest.row is not None
    assert rest.row.atoms == 7_500_000
    assert world.usdc(world.fee_wallet) == 12_500_000  # the fee, in two payments, no more


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("nothing", "nothing is owed"),
        ("dust", "below the minimum"),
        ("no_sol", "no USDC to spare"),
        ("no_usdc", "no USDC to spare"),
    ],
)
async def test_nothing_is_journaled_when_there_is_nothing_to_sweep(
    world: World, state: str, expected: str
) -> None:
    if state == "dust":
        await world.accrue("5")  # 0.5 USDC, below the 1 USDC minimum
    elif state != "nothing":
        await world.accrue("125")
    if state == "no_sol":  # no SOL for the network fee
        world.rig.net.ledger.airdrop(world.wallet, -world.sol(world.wallet))
    if state == "no_usdc":
        world.rig.net.ledger.set_token_balance(world.wallet, MINT, 0)
    (result,) = await world.sweeps().sweep_all()
    assert result.row is None, result
    assert expected in (result.skipped or "")
    assert await world.rows() == []


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("unset", "set SOLBOT_FEE_WALLET"),
        ("garbage", "SOLBOT_FEE_WALLET: 'nope' is not a Solana address"),
        ("mint", "SOLBOT_FEE_WALLET: " + USDC + " is a token mint"),
        ("no_account", "has no USDC account yet"),
        ("user_wallet", "SOLBOT_FEE_WALLET is the trading wallet of 'fran'"),
    ],
)
async def test_a_fee_wallet_that_cannot_receive_is_one_line_and_nothing_is_written(
    world: World, setup: str, message: str
) -> None:
    await world.accrue("125")
    wallet = {
        "unset": None,
        "garbage": "nope",
        "mint": USDC,
        "no_account": str(Keypair().pubkey()),
        "user_wallet": str(world.wallet),  # reconciled to the atom: a fee there is a mismatch
    }[setup]
    sweeps = world.sweeps()
    sweeps.fee_wallet = wallet
    with pytest.raises(UserError, match=re.escape(message)) as caught:
        await sweeps.sweep_all()
    assert "\n" not in str(caught.value)
    assert await world.rows() == []


@pytest.mark.parametrize("step", ["created", "signed", "landed", "expired"])
async def test_a_sweep_killed_at_any_step_is_settled_and_never_paid_twice(
    world: World, step: str
) -> None:
    await world.accrue("125")
    dying = world.sweeps()
    if step in ("created", "signed"):

        def die(row: FeeSweepRow) -> None:
            if row.state == step:
                raise SimulatedCrash

        dying.on_step = die
    elif step == "landed":
        world.rig.chain.after_send = crash  # the transfer landed; the process died not knowing
    else:
        world.rig.chain.before_send = crash  # died before the bytes went out
    with pytest.raises(SimulatedCrash):
        await dying.sweep_all()
    world.rig.chain.after_send = world.rig.chain.before_send = None
    if step == "expired":
        world.rig.pass_expiry()
    (left,) = await world.rows()
    assert left.state != "confirmed"

    told: list[Recovered] = []  # the next start: settle, then sweep what is still owed
    db = Database(world.rig.db_url)
    try:
        custody = CustodyService(db, world.rig.clock, KEY)
        await recover_transfers(db, world.rig.clock, world.rig.chain, custody, told.append)
        await world.sweeps(db).sweep_all()
    finally:
        await db.dispose()
    assert [t.kind for t in told] == ["fee"]
    assert "performance fee payment of 12.5 USDC to the operator" in told[0].text
    rows = await world.rows()
    assert all(r.state in ("confirmed", "failed", "expired") for r in rows)
    assert [r.state for r in rows].count("confirmed") == 1  # 0 lost, 0 duplicated
    assert world.usdc(world.fee_wallet) == 12_500_000
    expected = {"created": ["failed", "confirmed"], "expired": ["expired", "confirmed"]}
    assert [r.state for r in rows] == expected.get(step, ["confirmed"])


async def test_two_sweepers_side_by_side_pay_once(world: World) -> None:
    await world.accrue("125")
    dbs = [Database(world.rig.db_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(world.sweeps(db).sweep_all() for db in dbs))
    finally:
        for db in dbs:
            await db.dispose()
    paid = [r for (r,) in results if r.row is not None]
    assert len(paid) == 1, results
    assert paid[0].confirmed
    assert world.usdc(world.fee_wallet) == 12_500_000
    assert len(await world.rows()) == 1


async def test_a_sol_quote_keeps_the_fee_reserve_and_what_withdrawals_hold(world: World) -> None:
    """With SOL as the quote the fee and the wallet's fees come out of the same lamports: a
    sweep leaves the fee reserve (0.05 SOL), its own network fee and every withdrawal in
    flight, and a withdrawal started after it counts the sweep as gone."""
    sol_quote = next(t for t in TOKENS if t.symbol == "SOL")
    ledger = world.rig.net.ledger
    ledger.airdrop(world.wallet, -world.sol(world.wallet) + SOL // 10)  # 0.1 SOL in the wallet
    await book_trade(world.custody.db, world.user_id, "2", world.rig.clock.now())
    world.rig.clock.advance(DAY)
    await FeeBook(world.custody.db, world.rig.clock, 10.0).accrue_due()  # 0.2 SOL owed
    async with world.custody.db.session() as s:  # a withdrawal of 0.01 SOL still in flight
        s.add(
            WithdrawalRow(
                id=str(uuid.uuid4()), user_id=world.user_id, destination=str(Keypair().pubkey()),
                lamports=10_000_000, state="created", requested_by="test",
                created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
            )
        )  # fmt: skip
    sweeps = world.sweeps()
    sweeps.quote = sol_quote
    sweeps.minimum = Decimal("0.01")
    fee_wallet_before = world.sol(world.fee_wallet)
    (result,) = await sweeps.sweep_all()
    assert result.confirmed, result
    assert result.row is not None
    held = 10_000_000 + SIGNATURE_FEE  # the withdrawal in flight and its fee
    spare = SOL // 10 - 50_000_000 - SIGNATURE_FEE - held  # less the reserve and the fee too
    assert result.row.atoms == spare
    assert world.sol(world.wallet) == 50_000_000 + held  # the reserve and the withdrawal's
    assert world.sol(world.fee_wallet) == fee_wallet_before + spare
    async with world.custody.db.session() as s:
        left = await owed(s, world.user_id, 9)
    assert left.due == 200_000_000 - spare  # owed still, for a later day


async def test_fees_paid_in_another_asset_are_not_converted(world: World) -> None:
    """The quote asset changed after fees were paid: what is owed (in the old asset's units)
    cannot be paid in the new one; seen: 5 USDC accrued and paid, then 4.995 SOL paid."""
    await world.accrue("125")
    (paid,) = await world.sweeps().sweep_all()
    assert paid.confirmed
    sweeps = world.sweeps()
    sweeps.quote = next(t for t in TOKENS if t.symbol == "SOL")
    with pytest.raises(UserError, match="paid in another asset") as caught:
        await sweeps.sweep_all()
    assert "\n" not in str(caught.value)
    assert len(await world.rows()) == 1


async def test_one_users_problem_does_not_stop_the_others(world: World) -> None:
    """A user row refused for its identity (edited in the database) is that user's result;
    the users after it are still paid, and what was paid is reported."""
    other, _key = await world.custody.create_user("gus", actor="test")
    owner = Pubkey.from_string(other.wallet_pubkey)
    world.rig.net.ledger.airdrop(owner, SOL)
    world.rig.net.ledger.set_token_balance(owner, MINT, 500 * 10**6)
    await book_trade(world.custody.db, other.id, "50", world.rig.clock.now())
    await world.accrue("125")
    async with world.custody.db.session() as s:  # fran's row edited behind the bot's back
        edited = update(UserRow).where(UserRow.id == world.user_id)
        await s.execute(edited.values(wallet_pubkey=str(Keypair().pubkey())))
    results = {r.username: r for r in await world.sweeps().sweep_all()}
    assert results["fran"].row is None
    assert "identity" in (results["fran"].skipped or "")
    assert results["gus"].confirmed
    assert world.usdc(world.fee_wallet) == 5_000_000  # gus's 10 % of 50


async def test_a_pass_out_of_time_leaves_the_rest_for_the_next(world: World) -> None:
    await world.accrue("125")
    (later,) = await world.sweeps().sweep_all(until=world.rig.clock.now())
    assert later.skipped == LATER
    assert await world.rows() == []
    (paid,) = await world.sweeps().sweep_all(until=world.rig.clock.now() + 10)
    assert paid.confirmed


async def test_after_a_restore_payments_wait_for_the_operators_word(world: World) -> None:
    """A restored backup does not know the fees paid after it was made: paying what it says is
    owed would pay them again. Seen in review; payments now wait for `--resume` (audited)."""
    await world.accrue("125")
    async with world.custody.db.session() as s:  # what `solbot backup restore` writes
        s.add(MetaEntry(key=HELD_KEY, value="solbot-backup.json, made 2026-12-01"))
    sweeps = world.sweeps()
    with pytest.raises(
        SweepsHeldError, match=re.escape("wait since a restore (backup solbot-backup.json")
    ):
        await sweeps.sweep_all()
    assert await world.rows() == []
    assert await sweeps.resume("cli") is True
    assert "fee_sweeps_resumed" in await world.audit()
    (paid,) = await sweeps.sweep_all()
    assert paid.confirmed
    assert await sweeps.resume("cli") is False  # nothing held any more


@pytest.mark.parametrize(("only", "message"), [("nobody", "nobody"), ("alice", "operator's own")])
async def test_sweeping_one_user_who_pays_no_fee_is_one_line(
    world: World, only: str, message: str
) -> None:
    """`solbot fees sweep -u NAME`: an unknown name, or a user on the operator's own wallet
    (the rig's `alice`), is one line and nothing is written."""
    await world.accrue("125")
    with pytest.raises(UserError, match=message) as caught:
        await world.sweeps().sweep_all(only=only)
    assert "\n" not in str(caught.value)
    assert await world.rows() == []
