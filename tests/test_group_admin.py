"""The operator's entry switch is an emergency brake: it stops entries whatever the key's
state (audited when it can be), while allowing them again needs the key."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from solbot.clock import ManualClock
from solbot.errors import UserError
from solbot.group_admin import GroupAdmin, entries_stopped
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.tables import AuditRow
from solbot.wallet.master import MasterKey

KEY = MasterKey.generate()


async def test_entries_stop_without_the_key_and_restart_only_with_it(db_url: str) -> None:
    db = Database(db_url)
    clock = ManualClock(1_800_000_000)
    try:
        await CustodyService(db, clock, KEY).create_user("alice", actor="test")  # keyed db
        keyless = GroupAdmin(CustodyService(db, clock, None))
        assert await keyless.set_entries(True, actor="telegram:9")  # the brake works
        async with db.session() as s:
            assert await entries_stopped(s)
            actions = [a.action for a in await s.scalars(select(AuditRow))]
        assert "entries_stop" not in actions  # not audited without the key (logged)
        with pytest.raises(UserError, match="MASTER_ENCRYPTION_KEY"):
            await keyless.set_entries(False, actor="telegram:9")
        keyed = GroupAdmin(CustodyService(db, clock, KEY))
        assert await keyed.set_entries(False, actor="telegram:9")
        assert await keyed.set_entries(True, actor="telegram:9")
        async with db.session() as s:
            actions = [a.action for a in await s.scalars(select(AuditRow))]
        assert actions[-2:] == ["entries_start", "entries_stop"]
    finally:
        await db.dispose()
