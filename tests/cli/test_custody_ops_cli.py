"""Master-key rotation and backups end to end through the CLI, on SQLite and PostgreSQL:
all-or-nothing rotation, and a backup that restores exactly (money to the last digit) and whose
drill proves every sealed key opens to its address."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from sqlalchemy import select, update

from databases import empty_database
from solbot.clock import ManualClock
from solbot.fee_sweeps import HELD_KEY
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.orders import Orders
from solbot.store.positions import Positions, Trades
from solbot.store.tables import AuditRow, UserRow
from solbot.store.types import U64_MAX
from solbot.wallet.master import MasterKey

from .support import (
    NEW,
    NOW,
    OLD,
    Run,
    add_wallet,
    export,
    refused_rotation,
    run_sql,
    snapshot,
    users_of,
)


# ---------------------------------------------------------------------------------- rotation
def test_rotation_reseals_every_wallet_and_the_keys_stay_the_same(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {name: add_wallet(cli, name) for name in ("alice", "bob", "carol")}
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", NEW.hex())
    assert "MASTER_ENCRYPTION_KEY_OLD is not set" in cli("rotate-master-key").error_line()
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY_OLD", MasterKey.generate().hex())
    assert "is not this database's master key" in cli("rotate-master-key").error_line()

    monkeypatch.setenv("MASTER_ENCRYPTION_KEY_OLD", OLD.hex())
    done = cli("rotate-master-key")
    assert done.code == 0, done.err
    assert "3 wallet(s) re-sealed" in done.out
    assert {u.master_key_id for u in users_of(empty_url)} == {NEW.key_id}
    for name, secret in keys.items():
        assert export(cli, name) == secret  # the same wallet, sealed under the new key
    assert cli("audit", "verify").code == 0
    assert "nothing to rotate" in cli("rotate-master-key").error_line()

    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", OLD.hex())
    assert "is not this database's master key" in cli("export-key", "-u", "alice").error_line()


def test_a_rotation_that_fails_half_way_changes_nothing(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_wallet(cli, "alice")
    add_wallet(cli, "bob")
    # bob's sealed key is damaged: re-sealing him fails after alice was already re-sealed.
    users = users_of(empty_url)
    bob = next(u for u in users if u.username == "bob")
    damaged = bytearray(bob.encrypted_private_key)
    damaged[-1] ^= 0xFF
    run_sql(
        empty_url,
        update(UserRow).where(UserRow.id == bob.id).values(encrypted_private_key=bytes(damaged)),
    )
    assert "bob" in refused_rotation(cli, empty_url, monkeypatch)


# ---------------------------------------------------------------------------------- backups
async def _money_rows(url: str) -> None:
    """A position, its order and its trade with the extremes of the money types, to prove they
    survive exactly."""
    db = Database(url)
    try:
        async with db.session() as s:
            user = (await s.scalars(select(UserRow))).first()
            assert user is not None
            clock = ManualClock(NOW)
            mint = str(Keypair().pubkey())
            position = await Positions(s, clock).open(
                user_id=user.id,
                token="JUP",
                mint=mint,
                quantity=U64_MAX,
                cost=U64_MAX - 1,
                entry_price=Decimal("12345678901234567890.123456789012345678") - Decimal("1E+19"),
                stop_loss=Decimal("0.000000000000000001"),
            )
            order = await Orders(s, clock).create(
                idempotency_key=f"{user.id}:sig:buy",
                user_id=user.id,
                token="JUP",
                input_mint=str(Keypair().pubkey()),
                output_mint=mint,
                side="buy",
                purpose="entry",
                amount_in=U64_MAX - 1,
            )
            await Trades(s, clock).record(
                user_id=user.id,
                order_id=order.id,
                position_id=position.id,
                token="JUP",
                side="buy",
                price=Decimal("0.000000000000000001"),
                quantity=U64_MAX,
                quote_amount=U64_MAX - 1,
                fee_lamports=5000,
                pnl=Decimal("-12.345678901234567891"),
            )
    finally:
        await db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def restore_target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A new, empty database to restore into, on either backend (whatever the source's)."""
    async for url in empty_database(request.param, tmp_path / "restored"):
        yield url


def test_a_backup_restores_every_row_exactly_on_either_database(
    cli: Run,
    empty_url: str,
    data_dir: Path,
    restore_target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_wallet(cli, "alice")
    add_wallet(cli, "bob")
    cli("pause", "-u", "bob", "--reason", "holiday")
    asyncio.run(_money_rows(empty_url))
    file = data_dir.parent / "backup.json.gz"
    done = cli("backup", "create", str(file))
    assert done.code == 0, done.err
    assert file.stat().st_mode & 0o777 == 0o600
    document = json.loads(gzip.decompress(file.read_bytes()))
    assert OLD.hex() not in json.dumps(document)

    done = cli("backup", "verify", str(file))
    assert done.code == 0, done.err
    assert "2 user(s), every sealed key opens to its address; audit log intact" in done.out

    target_url = restore_target
    monkeypatch.setenv("DATABASE_URL", target_url)
    done = cli("backup", "restore", str(file))
    assert done.code == 0, done.err
    restored, original = snapshot(target_url), snapshot(empty_url)
    for table in original:
        if table not in ("audit_log", "meta"):
            assert restored[table] == original[table], table
    # The restore is audited: the log goes on from the backup's last row.
    audit = restored["audit_log"]
    assert audit[:-1] == original["audit_log"]
    assert audit[-1][3] == "restore"
    assert [r for r in restored["meta"] if r[0] not in ("audit_head", HELD_KEY)] == [
        r for r in original["meta"] if r[0] != "audit_head"
    ]
    assert cli("audit", "verify").code == 0
    # Fees paid after the backup was made are not in it: payments wait for the operator.
    (hold,) = [r for r in restored["meta"] if r[0] == HELD_KEY]
    assert hold[1].startswith("backup.json.gz, made ")
    monkeypatch.setenv("SOLBOT_FEE_WALLET", str(Keypair().pubkey()))
    waiting = cli("fees", "sweep")
    assert waiting.code == 2
    assert "fee payments wait since a restore (backup backup.json.gz" in waiting.error_line()
    assert "solbot fees sweep --resume" in waiting.error_line()

    again = cli("backup", "restore", str(file))
    assert "is not empty" in again.error_line()
    assert snapshot(target_url) == restored


def edited(file: Path, change: Callable[[dict[str, Any]], object], to: Path) -> Path:
    """A copy of the backup `file` with `change` made to its document (the MAC left alone)."""
    document = json.loads(gzip.decompress(file.read_bytes()))
    change(document)
    to.write_bytes(gzip.compress(json.dumps(document).encode()))
    return to


EDITS: dict[str, Callable[[dict[str, Any]], object]] = {
    "risk": lambda d: d["tables"]["users"][0].update(max_position_size_pct="100"),
    "position": lambda d: d["tables"]["positions"][0].update(quantity="1"),
    "pnl": lambda d: d["tables"]["trades"][0].update(pnl="1000000"),
    "breaker": lambda d: d["tables"]["meta"].append({"key": "risk:x", "value": "[]"}),
    "made": lambda d: d.update(created_at="2020-01-01T00:00:00+00:00"),
    "mac": lambda d: d.update(mac="0" * 64),
    "no mac": lambda d: d.pop("mac"),
}


def test_any_edit_to_a_backup_is_caught_and_restores_nothing(
    cli: Run,
    empty_url: str,
    data_dir: Path,
    restore_target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_wallet(cli, "alice")
    asyncio.run(_money_rows(empty_url))
    file = data_dir.parent / "backup.json.gz"
    assert cli("backup", "create", str(file)).code == 0
    for name, change in EDITS.items():
        copy = edited(file, change, data_dir.parent / f"edited-{name.replace(' ', '-')}.json.gz")
        done = cli("backup", "verify", str(copy))
        assert done.code == 1, name
        assert "was altered after it was made" in done.out, name
        monkeypatch.setenv("DATABASE_URL", restore_target)
        assert "was altered after it was made" in cli("backup", "restore", str(copy)).error_line()
        assert asyncio.run(schema.current_revision(restore_target)) is None  # nothing written
        monkeypatch.setenv("DATABASE_URL", empty_url)


def test_the_drill_and_the_restore_refuse_a_key_that_does_not_open(
    cli: Run,
    empty_url: str,
    data_dir: Path,
    restore_target: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sealed key damaged in the database before the backup: the backup is faithful (its MAC
    holds), and still nothing restores a wallet that cannot be opened."""
    add_wallet(cli, "alice")
    (user,) = users_of(empty_url)
    damaged = bytearray(user.encrypted_private_key or b"")
    damaged[30] ^= 1
    run_sql(empty_url, update(UserRow).values(encrypted_private_key=bytes(damaged)))
    file = data_dir.parent / "backup.json.gz"
    assert cli("backup", "create", str(file)).code == 0
    done = cli("backup", "verify", str(file))
    assert done.code == 1
    assert "✗ alice: sealed key does not open" in done.out

    monkeypatch.setenv("DATABASE_URL", restore_target)
    line = cli("backup", "restore", str(file)).error_line()
    assert "alice: sealed key does not open" in line
    assert asyncio.run(schema.current_revision(restore_target)) is None

    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", NEW.hex())
    assert f"made under master key {OLD.key_id}" in cli("backup", "verify", str(file)).error_line()
    assert f"made under master key {OLD.key_id}" in cli("backup", "restore", str(file)).error_line()
    monkeypatch.setenv("DATABASE_URL", empty_url)
    other = data_dir.parent / "other.json.gz"
    assert "is not this database's master key" in cli("backup", "create", str(other)).error_line()
    assert not other.exists()
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", OLD.hex())
    assert "exists; refusing to overwrite" in cli("backup", "create", str(file)).error_line()


def test_audit_rows_never_hold_secrets(cli: Run, empty_url: str) -> None:
    secret = add_wallet(cli, "alice")
    export(cli, "alice")

    async def read() -> list[AuditRow]:
        db = Database(empty_url)
        try:
            async with db.session() as s:
                return list(await s.scalars(select(AuditRow)))
        finally:
            await db.dispose()

    for row in asyncio.run(read()):
        assert secret not in row.details
        assert OLD.hex() not in row.details
