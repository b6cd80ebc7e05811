"""The loop's decryptions are reserved per group, in the transaction that journals the group's
intents: vault wallets cost a group no transaction more than plain keys, every signature is
counted in the database, and a user whose limit another process used up is refused while the
others trade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from solders.pubkey import Pubkey
from sqlalchemy import event, select

from solbot.custody import CustodyService
from solbot.execution.executor import Executor
from solbot.execution.groups import GroupExecutor
from solbot.sim.network import LAMPORTS_PER_SOL
from solbot.store.db import Database
from solbot.store.states import OrderState, Route
from solbot.store.tables import DecryptCountRow
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
