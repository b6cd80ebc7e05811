"""The database cannot be tampered with unseen, on SQLite and PostgreSQL: the audit log cannot be
emptied, truncated or rolled back without `audit verify` saying so, and a user's identity (id,
username, Telegram id, wallet) is bound to their sealed key, so rows swapped or edited in the
database are refused by every key operation, never acted on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, select, update

from solbot.clock import ManualClock
from solbot.store import schema
from solbot.store.db import Database, create_engine
from solbot.store.states import WithdrawalState
from solbot.store.tables import AuditRow, MetaEntry, UserRow, WithdrawalRow
from solbot.store.types import utc_from_timestamp
from solbot.wallet.audit import HEAD_KEY, Action, AuditLog

from .support import (
    NOW,
    OLD,
    Run,
    add_wallet,
    export,
    refused_rotation,
    rows_of,
    run_sql,
    users_of,
)


def problems(cli: Run) -> list[str]:
    """`audit verify` on a tampered database: its ✗ lines (it must fail, one line each)."""
    done = cli("audit", "verify")
    assert done.code == 1, done.out + done.err
    assert "Traceback" not in done.err
    lines = done.out.strip().splitlines()
    assert lines
    assert all(line.startswith("✗ ") for line in lines), done.out
    return lines


def head_of(url: str) -> tuple[int, str]:
    """The last audit row's seq and the head record in `meta`, as an attacker would copy them."""

    async def read() -> tuple[int, str]:
        db = Database(url)
        try:
            async with db.session() as s:
                head = await s.get(MetaEntry, HEAD_KEY)
                last = await s.scalar(select(AuditRow.seq).order_by(AuditRow.seq.desc()))
                assert head is not None
                assert last is not None
                return int(last), head.value
        finally:
            await db.dispose()

    return asyncio.run(read())


def roll_back_to(url: str, seq: int, head: str) -> None:
    """Truncate the log to `seq` and put back the head it had then: a consistent old state."""
    run_sql(
        url,
        delete(AuditRow).where(AuditRow.seq > seq),
        update(MetaEntry).where(MetaEntry.key == HEAD_KEY).values(value=head),
    )


# ---------------------------------------------------------------------------------- the log
def test_an_emptied_log_is_reported(cli: Run, empty_url: str) -> None:
    add_wallet(cli, "alice")
    add_wallet(cli, "bob")
    assert cli("audit", "verify").code == 0
    run_sql(empty_url, delete(AuditRow), delete(MetaEntry).where(MetaEntry.key == HEAD_KEY))
    found = problems(cli)
    assert any("emptied" in line for line in found), found
    assert any("alice, bob" in line and "no create or import row" in line for line in found)


def test_a_log_rolled_back_to_an_earlier_head_is_reported(cli: Run, empty_url: str) -> None:
    add_wallet(cli, "alice")
    seq, head = head_of(empty_url)
    add_wallet(cli, "bob")
    export(cli, "alice")
    roll_back_to(empty_url, seq, head)
    found = problems(cli)
    assert any("bob" in line and "no create or import row" in line for line in found), found


def test_a_deleted_head_alone_is_reported(cli: Run, empty_url: str) -> None:
    add_wallet(cli, "alice")
    run_sql(empty_url, delete(MetaEntry).where(MetaEntry.key == HEAD_KEY))
    assert problems(cli) == ["✗ the log's head record is missing from meta"]


async def _journal_withdrawal(url: str, username: str) -> str:
    """A withdrawal journaled as the service journals one: its row and its audit row in one
    transaction."""
    db = Database(url)
    try:
        async with db.session() as s:
            user = (await s.scalars(select(UserRow).where(UserRow.username == username))).one()
            now = utc_from_timestamp(NOW)
            row = WithdrawalRow(
                id="w-1",
                user_id=user.id,
                destination=user.wallet_pubkey,
                lamports=100_000_000,
                state=WithdrawalState.CONFIRMED.value,
                requested_by="cli",
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            await AuditLog(s, ManualClock(NOW), OLD).append(
                "cli",
                Action.WITHDRAW,
                user.id,
                username=username,
                destination=row.destination,
                lamports=row.lamports,
                withdrawal=row.id,
            )
        return row.id
    finally:
        await db.dispose()


def test_withdrawals_must_have_their_audit_rows_and_the_other_way_round(
    cli: Run, empty_url: str
) -> None:
    add_wallet(cli, "alice")
    seq, head = head_of(empty_url)
    withdrawal = asyncio.run(_journal_withdrawal(empty_url, "alice"))
    assert cli("audit", "verify").code == 0

    run_sql(empty_url, update(WithdrawalRow).values(lamports=900_000_000))
    assert problems(cli) == [f"✗ withdrawal {withdrawal}: differs from its audit row (edited)"]

    run_sql(empty_url, delete(WithdrawalRow))
    found = problems(cli)
    assert found == [
        f"✗ withdrawal {withdrawal} (row {seq + 1}): audited but no longer in the database"
    ]

    asyncio.run(_journal_withdrawal(empty_url, "alice"))
    roll_back_to(empty_url, seq, head)
    assert problems(cli) == [
        f"✗ withdrawal {withdrawal}: no withdraw row in the audit log (deleted or rolled back)"
    ]


# ---------------------------------------------------------------------------------- identity
def swap_usernames(url: str, a: str, b: str, **extra: Any) -> None:
    users = {u.username: u for u in users_of(url)}
    run_sql(
        url,
        update(UserRow).where(UserRow.id == users[a].id).values(username="swapping", **extra),
        update(UserRow).where(UserRow.id == users[b].id).values(username=a, **extra),
        update(UserRow).where(UserRow.id == users[a].id).values(username=b),
    )


def test_swapped_usernames_are_refused_and_reported(cli: Run, empty_url: str) -> None:
    alice_key = add_wallet(cli, "alice")
    bob_key = add_wallet(cli, "bob")
    swap_usernames(empty_url, "alice", "bob")
    done = cli("export-key", "-u", "bob")
    assert done.code == 2
    assert "identity" in done.error_line()
    assert alice_key not in done.out + done.err
    assert bob_key not in done.out + done.err
    found = problems(cli)
    assert any("alice, bob" in line and "identity" in line for line in found), found


def test_nulling_the_identity_mac_does_not_get_a_swapped_row_through(
    cli: Run, empty_url: str
) -> None:
    alice_key = add_wallet(cli, "alice")
    add_wallet(cli, "bob")
    swap_usernames(empty_url, "alice", "bob", identity_mac=None)
    done = cli("export-key", "-u", "bob")
    assert done.code == 2
    assert "identity" in done.error_line()
    assert alice_key not in done.out
    assert [u.identity_mac for u in users_of(empty_url)] == [None, None]  # nothing adopted
    assert any("identity" in line for line in problems(cli))


def test_rows_of_an_older_database_are_adopted_once_from_the_audit_log(
    cli: Run, empty_url: str
) -> None:
    alice_key = add_wallet(cli, "alice")
    add_wallet(cli, "bob")
    run_sql(empty_url, update(UserRow).values(identity_mac=None))  # as the migration leaves them
    assert cli("audit", "verify").code == 0  # not sealed yet, but what the log says they are
    assert export(cli, "alice") == alice_key
    assert all(u.identity_mac for u in users_of(empty_url))
    actions = [r.action for r in rows_of(empty_url, AuditRow) if r.action.startswith("identity")]
    assert actions == ["identity_adopt"]  # once, for both
    assert export(cli, "bob")
    assert cli("audit", "verify").code == 0


def test_an_edited_wallet_or_telegram_id_is_refused(cli: Run, empty_url: str) -> None:
    add_wallet(cli, "alice")
    run_sql(empty_url, update(UserRow).values(telegram_id=4242))
    assert "identity" in cli("export-key", "-u", "alice").error_line()
    assert any("alice" in line and "identity" in line for line in problems(cli))


def test_another_users_identity_mac_does_not_fit(cli: Run, empty_url: str) -> None:
    """Renaming alice's row to bob and copying bob's MAC next to it does not make it bob's: the
    user id and the wallet are bound in too."""
    add_wallet(cli, "alice")
    add_wallet(cli, "bob")
    users = {u.username: u for u in users_of(empty_url)}
    run_sql(
        empty_url,
        update(UserRow).where(UserRow.id == users["bob"].id).values(username="bob_old"),
        update(UserRow)
        .where(UserRow.id == users["alice"].id)
        .values(username="bob", identity_mac=users["bob"].identity_mac),
    )
    assert "identity" in cli("export-key", "-u", "bob").error_line()


def test_a_database_upgraded_from_before_identities_is_adopted(cli: Run, empty_url: str) -> None:
    """Made at 0004 (no identity column), upgraded by `solbot db upgrade`: its users trade and
    export as before, their identities sealed once from the audit log."""
    alice_key = add_wallet(cli, "alice")

    async def back_to_0004() -> None:
        engine = create_engine(empty_url, foreign_keys=False)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(lambda c: command.downgrade(schema.alembic_config(c), "0004"))
        finally:
            await engine.dispose()

    asyncio.run(back_to_0004())
    assert cli("db", "upgrade").code == 0
    assert [u.identity_mac for u in users_of(empty_url)] == [None]
    assert cli("audit", "verify").code == 0
    assert export(cli, "alice") == alice_key
    assert all(u.identity_mac for u in users_of(empty_url))
    actions = [r.action for r in rows_of(empty_url, AuditRow)]
    assert actions == ["create", "identity_adopt", "export"]


def test_a_rotation_refuses_a_swapped_row_and_changes_nothing(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_wallet(cli, "alice")
    add_wallet(cli, "bob")
    swap_usernames(empty_url, "alice", "bob")
    assert "identity" in refused_rotation(cli, empty_url, monkeypatch)
