"""A backup made by an older solbot restores into this one: the tables and columns it does not
know yet are made by the upgrade after its rows are in (seen: a backup of revision 0016 failed
with a traceback, its restore counting rows of a table its revision does not have)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from solbot.store import backup, schema
from solbot.store.db import Database
from solbot.store.tables import UserRow
from solbot.wallet.master import MasterKey

NEWER = {"0017": ("workers", "user_leases"), "0018": ()}  # tables a revision added
NEW_COLUMNS = {"users": ("cash_atoms", "marked_at")}  # 0018's


async def test_a_backup_of_revision_0016_restores_and_is_upgraded(
    db_url: str, empty_url: str, tmp_path: Path
) -> None:
    made = tmp_path / "backup.json.gz"
    await backup.create(db_url, made, "2026-12-01T00:00:00+00:00", MasterKey.generate())
    document = backup.read(made)
    document["revision"] = "0016"  # as solbot of revision 0016 wrote it
    for names in NEWER.values():
        for name in names:
            document["tables"].pop(name, None)
    for table, columns in NEW_COLUMNS.items():
        for row in document["tables"].get(table, []):
            for column in columns:
                row.pop(column, None)
    users = len(document["tables"]["users"])
    assert users
    await backup.restore(empty_url, document)
    assert await schema.current_revision(empty_url) == schema.head_revision()
    db = Database(empty_url)
    try:
        async with db.session() as s:
            restored = list(await s.scalars(select(UserRow)))
    finally:
        await db.dispose()
    assert len(restored) == users
    assert {u.cash_atoms for u in restored} == {None}
