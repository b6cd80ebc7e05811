"""The audit log's chain: `verify` finds every edited, deleted, inserted or reordered row, on
both databases; entries that look like secrets are refused."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from sqlalchemy import delete, select, update

from solbot.clock import ManualClock
from solbot.store.db import Database
from solbot.store.tables import AuditRow, MetaEntry
from solbot.wallet import keycheck
from solbot.wallet.audit import HEAD_KEY, AuditLog, MasterKeyChangedError, verify
from solbot.wallet.master import MasterKey

KEY = MasterKey.generate()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture
async def logged(db: Database, clock: ManualClock) -> Database:
    """Five entries, one per transaction as the operations write them."""
    for n in range(5):
        async with db.session() as s:
            await AuditLog(s, clock, KEY).append("cli", "pause", f"user-{n}", reason=f"r{n}")
        clock.advance(1.5)
    return db


async def problems(db: Database, *keys: MasterKey) -> list[str]:
    async with db.session() as s:
        return [str(p) for p in await verify(s, keys or (KEY,))]


async def test_an_untouched_log_verifies(logged: Database) -> None:
    assert await problems(logged) == []
    async with logged.session() as s:
        rows = list(await s.scalars(select(AuditRow).order_by(AuditRow.seq)))
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[2].details == '{"reason":"r2"}'
    assert len({r.mac for r in rows}) == 5


async def test_an_empty_log_verifies(db: Database) -> None:
    assert await problems(db) == []


async def test_an_edited_row_is_found(logged: Database) -> None:
    async with logged.session() as s:
        await s.execute(update(AuditRow).where(AuditRow.seq == 3).values(actor="someone"))
    assert await problems(logged) == ["row 3: edited, inserted or out of order (MAC mismatch)"]


async def test_a_deleted_row_is_found(logged: Database) -> None:
    async with logged.session() as s:
        await s.execute(delete(AuditRow).where(AuditRow.seq == 2))
    assert await problems(logged) == [
        "rows 2 are missing (deleted)",
        "row 3: edited, inserted or out of order (MAC mismatch)",
    ]


async def test_deleted_rows_at_the_end_are_found(logged: Database) -> None:
    async with logged.session() as s:
        await s.execute(delete(AuditRow).where(AuditRow.seq >= 4))
    assert await problems(logged) == ["rows 4–5 are missing at the end (deleted)"]


async def test_reordered_rows_are_found(logged: Database) -> None:
    async with logged.session() as s:
        rows = {r.seq: r for r in await s.scalars(select(AuditRow))}
        two, three = rows[2], rows[3]
        swapped = (three.actor, three.action, three.user_id, three.details, three.mac)
        two_values = (two.actor, two.action, two.user_id, two.details, two.mac)
        for row, values in ((two, swapped), (three, two_values)):
            row.actor, row.action, row.user_id, row.details, row.mac = values
    found = await problems(logged)
    assert "row 2: edited, inserted or out of order (MAC mismatch)" in found
    assert "row 3: edited, inserted or out of order (MAC mismatch)" in found


async def test_an_edited_head_is_found(logged: Database) -> None:
    async with logged.session() as s:
        await s.execute(delete(AuditRow).where(AuditRow.seq == 5))
        head = await s.get(MetaEntry, HEAD_KEY)
        assert head is not None
        row4 = await s.get(AuditRow, 4)
        assert row4 is not None
        head.value = head.value.replace('"seq": 5', '"seq": 4').replace(
            head.value.split('"mac": "')[1].split('"')[0], row4.mac
        )
    assert await problems(logged) == ["the log's head record was edited"]


async def test_a_wrong_key_finds_every_row_suspect(logged: Database) -> None:
    found = await problems(logged, MasterKey.generate())
    assert found[0] == f"row 1: MACed under unknown master key {KEY.key_id}"


async def test_rechaining_under_a_new_key_keeps_the_log_verifiable(
    logged: Database, clock: ManualClock
) -> None:
    new = MasterKey.generate()
    async with logged.session() as s:
        assert await AuditLog(s, clock, new).rechain(KEY) == 5
    assert await problems(logged, new) == []
    async with logged.session() as s:
        await AuditLog(s, clock, new).append("cli", "resume", "user-1")
    assert await problems(logged, new) == []


async def test_rechaining_refuses_a_tampered_log(logged: Database, clock: ManualClock) -> None:
    async with logged.session() as s:
        await s.execute(update(AuditRow).where(AuditRow.seq == 1).values(action="export"))
    with pytest.raises(ValueError, match="does not verify"):
        async with logged.session() as s:
            await AuditLog(s, clock, MasterKey.generate()).rechain(KEY)


async def test_an_entry_shaped_like_a_secret_is_refused(db: Database, clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="looks like it carries a secret"):
        async with db.session() as s:
            await AuditLog(s, clock, KEY).append("cli", "export", "u1", note=str(Keypair()))
    assert await problems(db) == []


async def test_an_append_under_a_key_the_database_has_left_is_refused(
    logged: Database, clock: ManualClock
) -> None:
    """A process still holding the old key after a rotation (another process's) writes nothing
    the new key could not verify."""
    new = MasterKey.generate()
    async with logged.session() as s:
        await keycheck.check(s, KEY, register=True)
    async with logged.session() as s:
        await AuditLog(s, clock, new).rechain(KEY)
        await keycheck.switch(s, KEY, new)
    with pytest.raises(MasterKeyChangedError, match="rotated while this ran"):
        async with logged.session() as s:
            await AuditLog(s, clock, KEY).append("engine", "decryptions", None, counts={})
    assert await problems(logged, new) == []
