"""Every path that signs with a vault wallet reserves its decryptions in the database first.
The loop's are reserved per group, in the transaction that journals the group's intents: vault
wallets cost a group no transaction more than plain keys, every signature is counted, and a
user whose limit another process used up is refused while the others trade. The single-order
path and withdrawals reserve their own; a withdrawal whose key does not open is audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import event, func, select

from solbot.execution.executor import Executor
from solbot.execution.groups import GroupExecutor
from solbot.services.custody import CustodyService
from solbot.services.withdrawals import WithdrawalService
from solbot.sim.network import LAMPORTS_PER_SOL
from solbot.store.db import Database
from solbot.store.states import OrderState, Route
from solbot.store.tables import AuditRow, DecryptCountRow, UserRow
from solbot.wallet.decrypt_guard import DecryptLimits
from solbot.wallet.master import MasterKey
from solbot.wallet.vault import VaultSigner

from .sim_rig import USDC, Rig, make_rig

KEY = MasterKey.generate()
USDC_UNITS = 10**6


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path) as r:
        yield r


async def vault_users(
    rig: Rig, db: Database, count: int, limits: DecryptLimits
) -> tuple[CustodyService, list[VaultSigner]]:
    """`count` users with funded vault wallets, and their signers (as the roster makes them)."""
    custody = CustodyService(db, rig.clock, KEY, limits=limits)
    signers = []
    for n in range(count):
        user, _key = await custody.create_user(f"user{n}", actor="test", tier="aggressive")
        owner = Pubkey.from_string(user.wallet_pubkey)
        rig.net.ledger.airdrop(owner, LAMPORTS_PER_SOL)
        rig.net.ledger.set_token_balance(owner, Pubkey.from_string(USDC), 1_000 * USDC_UNITS)
        signers.append(custody.signer(user))
    return custody, signers


def count_commits(ex: Executor) -> list[int]:
    local = ex.db._local
    assert local is not None
    commits = [0]

    @event.listens_for(local.kw["bind"], "commit")
    def count(_conn: object) -> None:
        commits[0] += 1

    return commits


async def test_vault_wallets_cost_a_group_no_transaction_more_and_every_signature_is_counted(
    rig: Rig,
) -> None:
    db = Database(rig.db_url)
    try:
        custody, signers = await vault_users(rig, db, 6, DecryptLimits(per_user=5))
        ex = rig.executor(Route.V2)
        commits = count_commits(ex)
        requests = [(rig.buy("JUP", 100 * USDC_UNITS, user=s.user_id), s) for s in signers]
        outcomes = await GroupExecutor(ex).submit_many(requests)
        assert all(o.confirmed for o in outcomes), outcomes
        assert commits[0] == 4  # created (and reserved); signed; sent; confirmed
        async with db.session() as s:
            counted = {row.scope: row.count for row in await s.scalars(select(DecryptCountRow))}
        ids = [s.user_id for s in signers]
        assert counted == {"*": 6, **dict.fromkeys(ids, 1)}
        assert custody.vault.guard.take_records().counts == dict.fromkeys(ids, 1)
    finally:
        await db.dispose()


async def test_a_user_whose_limit_another_process_used_up_is_refused_the_others_trade(
    rig: Rig,
) -> None:
    limits = DecryptLimits(per_user=2)
    db = Database(rig.db_url)
    try:
        _custody, signers = await vault_users(rig, db, 3, limits)
        cli = CustodyService(db, rig.clock, KEY, limits=limits)  # another process: exports
        for _ in range(2):
            await cli.export_key("user0", "base58", actor="cli")
        ex = rig.executor(Route.V2)
        requests = [(rig.buy("JUP", 100 * USDC_UNITS, user=s.user_id), s) for s in signers]
        outcomes = await GroupExecutor(ex).submit_many(requests)
        assert outcomes[0].state is OrderState.FAILED
        assert "not signed: 3 key decryptions for user" in (outcomes[0].error or "")
        assert [o.confirmed for o in outcomes[1:]] == [True, True]
    finally:
        await db.dispose()


async def test_the_single_order_path_and_a_withdrawal_reserve_their_own_decryption(
    rig: Rig,
) -> None:
    db = Database(rig.db_url)
    try:
        custody, (signer,) = await vault_users(rig, db, 1, DecryptLimits(per_user=5))
        outcome = await rig.executor(Route.V2).submit(
            rig.buy("JUP", 100 * USDC_UNITS, user=signer.user_id), signer
        )
        assert outcome.confirmed
        service = WithdrawalService(db, rig.clock, rig.chain, custody, fee_reserve_lamports=0)
        done = await service.withdraw("user0", str(Keypair().pubkey()), "0.1", actor="cli")
        assert done.state == "confirmed"
        async with db.session() as s:
            counted = await s.scalar(
                select(func.sum(DecryptCountRow.count)).where(
                    DecryptCountRow.scope == signer.user_id
                )
            )
        assert counted == 2
    finally:
        await db.dispose()


async def test_a_withdrawal_whose_key_does_not_open_fails_and_is_audited(rig: Rig) -> None:
    db = Database(rig.db_url)
    try:
        custody, (signer,) = await vault_users(rig, db, 1, DecryptLimits())
        async with db.session() as s:  # the row now holds a damaged sealed key
            user = await s.get(UserRow, signer.user_id)
            assert user is not None
            sealed = user.encrypted_private_key
            assert sealed is not None
            user.encrypted_private_key = sealed[:-1] + bytes([sealed[-1] ^ 1])
        service = WithdrawalService(db, rig.clock, rig.chain, custody, fee_reserve_lamports=0)
        done = await service.withdraw("user0", str(Keypair().pubkey()), "0.1", actor="cli")
        assert done.state == "failed"
        assert "not signed: the wallet of user" in (done.error or "")
        async with db.session() as s:
            audit = list(await s.scalars(select(AuditRow).order_by(AuditRow.seq)))
        assert [(a.action, a.user_id) for a in audit[-3:]] == [
            ("withdraw", signer.user_id),
            ("open_failed", signer.user_id),
            ("withdraw_outcome", signer.user_id),
        ]
    finally:
        await db.dispose()
