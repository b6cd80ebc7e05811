"""The transfer half of the crash matrix: kill `solbot withdraw` (and `solbot fees sweep`) at each
step of a transfer's journal, run the same command again, and check the journal against the chain,
on SQLite and PostgreSQL.

`SOLBOT_SIM_CRASH_AFTER=withdrawal:<state>` makes the process SIGKILL itself right after the
journal records that state. The restart is what an operator does: the same command again. It
first settles what the dead process left (`recover_withdrawals`), then answers the request: a
repeat of a withdrawal that confirmed is that withdrawal, a failed one is sent anew. One more
case stands for the runs seen killed while their transfer landed (rows left `sent`, finalized
on chain): the journaled bytes are broadcast before the restart, as if the dead process had
sent them. After every restart:
- 0 duplicates: exactly one confirmed withdrawal, and the destination holds exactly its amount;
- 0 lost: a signature the chain knows is a confirmed row, and only then;
- 0 stuck: every row is terminal, with its request and its outcome in the audit log;
- the wallet's lamports on chain = start - what the journal says left (amounts and fees).

The bots run against a `solbot sim serve` at real speed, so a blockhash outlives a restart and
recovery re-sends the same bytes (at the order tests' 600x, every one would expire first; the
expiry path is covered in-process). The steps of a backend run side by side, each with its own
database, wallet and destination.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import select

from databases import copy_of
from solbot.clock import WallClock
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.tables import AuditRow, FeeAccrualRow, FeeSweepRow, UserRow, WithdrawalRow
from solbot.wallet.master import MasterKey

from .support import (
    SIGKILL_CODE,
    USDC,
    BotRun,
    SimServer,
    fund_wallet,
    landed,
    run_solbot,
    sim_server,
    token_balance,
)

KEY = MasterKey.generate()
START_LAMPORTS = 1_000_000_000
AMOUNT = "0.4"
LAMPORTS = 400_000_000
USER = "hana"
# (crash point, whether the signed bytes reach the chain before the restart)
STEPS = (
    ("created", False),
    ("signed", False),
    ("sent", False),
    ("sent", True),
    ("confirmed", False),
)


@pytest.fixture(scope="module")
def real_time_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    folder: Path = tmp_path_factory.mktemp("sim-1x")
    with sim_server(folder, "--speed", "1", SOLBOT_SIM_WALLET_SOL="50") as server:
        yield server
    assert server.stop() == 0, server.output()


@dataclass
class Scenario:
    folder: Path
    url: str
    wallet: Pubkey
    to: Pubkey

    async def withdraw(self, sim: SimServer, **env: str) -> BotRun:
        return await self.withdraw_to(sim, self.to, AMOUNT, **env)

    async def withdraw_to(self, sim: SimServer, to: Pubkey, amount: str, **env: str) -> BotRun:
        """`solbot withdraw -u USER --to TO --amount AMOUNT` on this scenario's database."""
        return await run_solbot(
            self.folder,
            sim,
            "withdraw",
            "-u",
            USER,
            "--to",
            str(to),
            "--amount",
            amount,
            DATABASE_URL=self.url,
            MASTER_ENCRYPTION_KEY=KEY.hex(),
            **env,
        )

    async def sweeps(self) -> list[FeeSweepRow]:
        db = Database(self.url)
        try:
            async with db.session() as s:
                return list(await s.scalars(select(FeeSweepRow).order_by(FeeSweepRow.created_at)))
        finally:
            await db.dispose()

    async def rows(self) -> tuple[list[WithdrawalRow], list[AuditRow]]:
        db = Database(self.url)
        try:
            async with db.session() as s:
                rows = list(await s.scalars(select(WithdrawalRow)))
                audit = list(await s.scalars(select(AuditRow).order_by(AuditRow.seq)))
        finally:
            await db.dispose()
        return rows, audit


@contextlib.asynccontextmanager
async def scenario(
    client: AsyncClient,
    sim: SimServer,
    backend: str,
    template: str,
    folder: Path,
    *,
    usdc: int = 1,
) -> AsyncIterator[Scenario]:
    """A database of its own with a vault user whose wallet holds `START_LAMPORTS` (and `usdc`
    atoms of USDC) on chain."""
    folder.mkdir(parents=True)
    async for url in copy_of(backend, template, folder):
        keypair = await fund_wallet(client, sim.wallet, usdc, START_LAMPORTS)
        db = Database(url)
        try:
            await CustodyService(db, WallClock(), KEY).import_user(USER, str(keypair), actor="test")
        finally:
            await db.dispose()
        yield Scenario(folder, url, keypair.pubkey(), Keypair().pubkey())


async def test_a_withdrawal_killed_at_any_step_is_finished_once_by_the_next_start(
    real_time_sim: SimServer, backend: str, migrated_template: str, tmp_path: Path
) -> None:
    await _every_step(real_time_sim, backend, migrated_template, tmp_path, _crash_and_restart)


async def _every_step(
    sim: SimServer, backend: str, template: str, tmp_path: Path, case: Callable[..., Any]
) -> None:
    """`case` for each crash point of `STEPS`, side by side; every failure reported."""
    async with AsyncClient(sim.rpc_url) as client:
        results = await asyncio.gather(
            *(
                case(client, sim, backend, template, tmp_path, step, broadcast)
                for step, broadcast in STEPS
            ),
            return_exceptions=True,
        )
    failures = [
        f"after {step}{' (landed)' if broadcast else ''}: {result!r}"
        for (step, broadcast), result in zip(STEPS, results, strict=True)
        if isinstance(result, BaseException)
    ]
    assert not failures, "\n\n".join(failures)


async def _land(client: AsyncClient, signed_tx: bytes | None, signature: str | None) -> None:
    """The dead process's bytes went out: they land, while the journal still says "sent"."""
    assert signed_tx is not None
    await client.send_raw_transaction(signed_tx, TxOpts(skip_confirmation=True))
    for _ in range(200):
        if await landed(client, str(signature)):
            break
        await asyncio.sleep(0.05)
    assert await landed(client, str(signature)) is True


async def _crash_and_restart(
    client: AsyncClient,
    sim: SimServer,
    backend: str,
    template: str,
    tmp_path: Path,
    step: str,
    broadcast: bool,
) -> None:
    folder = tmp_path / f"{step}{'-landed' if broadcast else ''}"
    async with scenario(client, sim, backend, template, folder) as case:
        crashed = await case.withdraw(sim, SOLBOT_SIM_CRASH_AFTER=f"withdrawal:{step}")
        assert crashed.code == SIGKILL_CODE, crashed.describe()
        (victim,), _ = await case.rows()
        assert victim.state == step, crashed.describe()
        if broadcast:
            await _land(client, victim.signed_tx, victim.signature)

        restarted = await case.withdraw(sim)
        assert restarted.code == 0, restarted.describe()
        assert "Traceback" not in restarted.err, restarted.describe()
        if step != "confirmed":  # the start told what it settled
            assert f"↻ {USER}: withdrawal of {AMOUNT} SOL to {case.to}" in restarted.out
        assert f"sent {AMOUNT} SOL from {USER} to {case.to}" in restarted.out

        rows, audit = await case.rows()
        states = sorted(r.state for r in rows)
        assert all(s in ("confirmed", "failed", "expired") for s in states), states  # 0 stuck
        confirmed = [r for r in rows if r.state == "confirmed"]
        assert len(confirmed) == 1, states  # 0 duplicates, 0 lost
        assert (await client.get_balance(case.to)).value == LAMPORTS  # exactly once on chain
        for row in rows:  # a signature the chain knows is a confirmed row, and only then
            on_chain = await landed(client, row.signature) if row.signature else None
            assert (row.state == "confirmed") == bool(on_chain), (row.state, row.error)
        spent = sum(r.lamports + (r.fee_lamports or 0) for r in confirmed) + sum(
            r.fee_lamports or 0 for r in rows if r.state != "confirmed"
        )
        assert (await client.get_balance(case.wallet)).value == START_LAMPORTS - spent
        requests = [a for a in audit if a.action == "withdraw"]
        outcomes = [a for a in audit if a.action == "withdraw_outcome"]
        assert len(requests) == len(outcomes) == len(rows)
        if step == "created":
            assert states == ["confirmed", "failed"]  # never signed: failed, then sent anew
        else:
            assert states == ["confirmed"]  # the same bytes, settled; the repeat returned it
            assert "not sent again" in restarted.out


async def test_two_withdraw_commands_side_by_side_leave_the_fee_reserve(
    real_time_sim: SimServer, backend: str, migrated_template: str, tmp_path: Path
) -> None:
    """Seen: `solbot withdraw` of 0.25 and of 0.26 SOL from 0.54 SOL, run at once on
    PostgreSQL, both confirmed, and the wallet kept less than the 0.05 SOL fee reserve. Two
    real processes here; `test_withdrawal_races` forces the worst interleaving in-process."""
    sim = real_time_sim
    async with (
        AsyncClient(sim.rpc_url) as client,
        scenario(client, sim, backend, migrated_template, tmp_path / "pair") as case,
    ):
        # From the scenario's 1 SOL down to 0.54 SOL (less one network fee) first.
        drained = await case.withdraw_to(sim, Keypair().pubkey(), "0.46")
        assert drained.code == 0, drained.describe()
        runs = await asyncio.gather(
            case.withdraw_to(sim, Keypair().pubkey(), "0.25"),
            case.withdraw_to(sim, Keypair().pubkey(), "0.26"),
        )
        rows, _audit = await case.rows()
        balance = (await client.get_balance(case.wallet)).value
    ok = [r for r in runs if r.code == 0]
    refused = [r for r in runs if r.code != 0]
    assert len(ok) == 1, [r.describe() for r in runs]
    (other,) = refused
    assert "Traceback" not in other.err, other.describe()
    # Refused while the other holds the database (a command that moves money settles first
    # what a dead process left in flight: it must not take a live one's for dead, as its
    # start-up recovery once ended the other's withdrawal unsigned); or, when it came after
    # the other ended, refused for the balance.
    said = other.err + other.out
    assert "in use by a solbot command that moves money" in said or (
        "more than can be withdrawn" in said
    ), said
    assert [r.state for r in rows].count("confirmed") == 2  # the drain, and one of the pair
    assert balance >= 50_000_000  # the fee reserve held


# ---------------------------------------------------------------------------------- fee sweeps
FEE_ATOMS = 12_500_000  # 12.5 USDC: 10 % of 125 USDC of realised profit
FEE_WALLET_START = 1  # the fee wallet's USDC account exists (one atom in it)


async def _owing(url: str) -> None:
    """The scenario's user owes FEE_ATOMS: one accrued day's fee, as `solbot run` writes it."""
    db = Database(url)
    try:
        async with db.session() as s:
            user = await s.scalar(select(UserRow).where(UserRow.username == USER))
            assert user is not None
            s.add(
                FeeAccrualRow(
                    user_id=user.id, day="2026-12-05", pct=Decimal(10), realised=Decimal(125),
                    fee=Decimal("12.5"), charged=Decimal("12.5"), high_water=Decimal("112.5"),
                    created_at=datetime.now(UTC),
                )
            )  # fmt: skip
    finally:
        await db.dispose()


async def test_a_fee_sweep_killed_at_any_step_is_paid_once_by_the_next_start(
    real_time_sim: SimServer, backend: str, migrated_template: str, tmp_path: Path
) -> None:
    """`SOLBOT_SIM_CRASH_AFTER=fee_sweep:<state>` kills `solbot fees sweep`; the same command
    again settles what it left and pays what is still owed: the fee wallet receives the fee
    exactly once, and the user's wallet lost exactly that and the network fees."""
    await _every_step(real_time_sim, backend, migrated_template, tmp_path, _sweep_crash_and_restart)


async def _sweep_crash_and_restart(
    client: AsyncClient,
    sim: SimServer,
    backend: str,
    template: str,
    tmp_path: Path,
    step: str,
    broadcast: bool,
) -> None:
    folder = tmp_path / f"fee-{step}{'-landed' if broadcast else ''}"
    fee_wallet = (await fund_wallet(client, sim.wallet, FEE_WALLET_START, 10_000_000)).pubkey()
    async with scenario(client, sim, backend, template, folder, usdc=100_000_000) as case:
        await _owing(case.url)
        env = {
            "DATABASE_URL": case.url,
            "MASTER_ENCRYPTION_KEY": KEY.hex(),
            "SOLBOT_FEE_WALLET": str(fee_wallet),
        }
        crashed = await run_solbot(
            folder, sim, "fees", "sweep", SOLBOT_SIM_CRASH_AFTER=f"fee_sweep:{step}", **env
        )
        assert crashed.code == SIGKILL_CODE, crashed.describe()
        (victim,) = await case.sweeps()
        assert victim.state == step, crashed.describe()
        if broadcast:
            await _land(client, victim.signed_tx, victim.signature)

        restarted = await run_solbot(folder, sim, "fees", "sweep", **env)
        assert restarted.code == 0, restarted.describe()
        assert "Traceback" not in restarted.err, restarted.describe()
        if step != "confirmed":  # the start told what it settled
            assert f"↻ {USER}: performance fee payment of 12.5 USDC" in restarted.out

        rows = await case.sweeps()
        states = [r.state for r in rows]
        assert all(s in ("confirmed", "failed", "expired") for s in states), states  # 0 stuck
        assert states.count("confirmed") == 1, states  # 0 duplicates, 0 lost
        received = await token_balance(client, fee_wallet, USDC.mint)
        assert received == FEE_WALLET_START + FEE_ATOMS  # exactly once on chain
        for row in rows:  # a signature the chain knows is a confirmed row, and only then
            on_chain = await landed(client, row.signature) if row.signature else None
            assert (row.state == "confirmed") == bool(on_chain), (row.state, row.error)
        assert await token_balance(client, case.wallet, USDC.mint) == 100_000_000 - FEE_ATOMS
        fees = sum(r.fee_lamports or 0 for r in rows)
        assert (await client.get_balance(case.wallet)).value == START_LAMPORTS - fees
        _rows, audit = await case.rows()
        assert len([a for a in audit if a.action == "fee_sweep"]) == len(rows)
        assert len([a for a in audit if a.action == "fee_sweep_outcome"]) == len(rows)
        if step == "created":
            assert states == ["failed", "confirmed"]  # never signed: failed, then paid anew
        else:
            assert states == ["confirmed"]  # the same bytes, settled; nothing more owed
            assert f"· {USER}: nothing is owed" in restarted.out
