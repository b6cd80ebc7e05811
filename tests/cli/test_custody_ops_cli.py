"""Master-key rotation and backups end to end through the CLI, on SQLite and PostgreSQL:
all-or-nothing rotation, and a backup that restores exactly (money to the last digit) and whose
drill proves every sealed key opens to its address."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair
from sqlalchemy import select, update

from databases import empty_database
from solbot.cli import stores
from solbot.clock import ManualClock
from solbot.store.db import Database
from solbot.store.repos import Positions
from solbot.store.tables import AuditRow, Base, UserRow
from solbot.store.types import U64_MAX
from solbot.wallet.master import MasterKey

from .support import NOW, Run

OLD, NEW = MasterKey.generate(), MasterKey.generate()


@pytest.fixture
def cli(run: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", OLD.hex())
    monkeypatch.setattr(stores, "clock", lambda: ManualClock(NOW))
    return run


def add(cli: Run, name: str) -> str:
    done = cli("add-user", "--username", name)
    assert done.code == 0, done.err
    return next(line for line in done.out.splitlines() if len(line) > 80 and " " not in line)


def export(cli: Run, name: str) -> str:
    done = cli("export-key", "--username", name)
    assert done.code == 0, done.err
    return done.out.strip()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""

    async def read() -> dict[str, list[tuple[Any, ...]]]:
        db = Database(url)
        try:
            async with db.engine.connect() as conn:
                out = {}
                for table in Base.metadata.sorted_tables:
                    result = await conn.execute(select(table).order_by(*table.primary_key))
                    out[table.name] = [tuple(row) for row in result]
                return out
        finally:
            await db.dispose()

    return asyncio.run(read())


def run_sql(url: str, statement: Any) -> None:
    async def go() -> None:
        db = Database(url)
        try:
            async with db.session() as s:
                await s.execute(statement)
        finally:
            await db.dispose()

    asyncio.run(go())


# ---------------------------------------------------------------------------------- rotation
def test_rotation_reseals_every_wallet_and_the_keys_stay_the_same(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {name: add(cli, name) for name in ("alice", "bob", "carol")}
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", NEW.hex())
    assert "MASTER_ENCRYPTION_KEY_OLD is not set" in cli("rotate-master-key").error_line()
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY_OLD", MasterKey.generate().hex())
    assert "is not this database's master key" in cli("rotate-master-key").error_line()

    monkeypatch.setenv("MASTER_ENCRYPTION_KEY_OLD", OLD.hex())
    done = cli("rotate-master-key")
    assert done.code == 0, done.err
    assert "3 wallet(s) re-sealed" in done.out
    assert {u.master_key_id for u in snapshot_users(empty_url)} == {NEW.key_id}
    for name, secret in keys.items():
        assert export(cli, name) == secret  # the same wallet, sealed under the new key
    assert cli("audit", "verify").code == 0
    assert "nothing to rotate" in cli("rotate-master-key").error_line()

    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", OLD.hex())
    assert "is not this database's master key" in cli("export-key", "-u", "alice").error_line()


def test_a_rotation_that_fails_half_way_changes_nothing(
    cli: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(cli, "alice")
    add(cli, "bob")
    # bob's sealed key is damaged: re-sealing him fails after alice was already re-sealed.
    users = snapshot_users(empty_url)
    bob = next(u for u in users if u.username == "bob")
    damaged = bytearray(bob.encrypted_private_key)
    damaged[-1] ^= 0xFF
    run_sql(
        empty_url,
        update(UserRow).where(UserRow.id == bob.id).values(encrypted_private_key=bytes(damaged)),
    )
    before = snapshot(empty_url)
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", NEW.hex())
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY_OLD", OLD.hex())
    line = cli("rotate-master-key").error_line()
    assert "bob" in line
    assert "nothing was changed" in line
    assert snapshot(empty_url) == before


def snapshot_users(url: str) -> list[UserRow]:
    async def read() -> list[UserRow]:
        db = Database(url)
        try:
            async with db.session() as s:
                return list(await s.scalars(select(UserRow).order_by(UserRow.username)))
        finally:
            await db.dispose()

    return asyncio.run(read())


# ---------------------------------------------------------------------------------- backups
async def _money_rows(url: str) -> None:
    """A position with the extremes of the money types, to prove they survive exactly."""
    db = Database(url)
    try:
        async with db.session() as s:
            user = (await s.scalars(select(UserRow))).first()
            assert user is not None
            await Positions(s, ManualClock(NOW)).open(
                user_id=user.id,
                token="JUP",
                mint=str(Keypair().pubkey()),
                quantity=U64_MAX,
                cost=U64_MAX - 1,
                entry_price=Decimal("12345678901234567890.123456789012345678") - Decimal("1E+19"),
                stop_loss=Decimal("0.000000000000000001"),
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
    add(cli, "alice")
    add(cli, "bob")
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
    assert restored == original
    assert cli("audit", "verify").code == 0

    again = cli("backup", "restore", str(file))
    assert "is not empty" in again.error_line()
    assert snapshot(target_url) == original


def test_the_drill_finds_a_damaged_key_and_a_wrong_master_key(
    cli: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(cli, "alice")
    file = data_dir.parent / "backup.json.gz"
    assert cli("backup", "create", str(file)).code == 0
    document = json.loads(gzip.decompress(file.read_bytes()))
    (user,) = document["tables"]["users"]
    sealed = bytearray(base64.b64decode(user["encrypted_private_key"]))
    sealed[30] ^= 1
    user["encrypted_private_key"] = base64.b64encode(bytes(sealed)).decode()
    damaged = data_dir.parent / "damaged.json.gz"
    damaged.write_bytes(gzip.compress(json.dumps(document).encode()))
    done = cli("backup", "verify", str(damaged))
    assert done.code == 1
    assert "alice: the wallet of user" in done.out or "alice:" in done.out

    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", NEW.hex())
    assert "is not this database's master key" in cli("backup", "verify", str(file)).error_line()
    assert "exists; refusing to overwrite" in cli("backup", "create", str(file)).error_line()


def test_audit_rows_never_hold_secrets(cli: Run, empty_url: str) -> None:
    secret = add(cli, "alice")
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
