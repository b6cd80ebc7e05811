"""Rotating the master key while `solbot run` trades on the embedded sim, from another database
handle (as `solbot rotate-master-key` in another process would), on SQLite and PostgreSQL: the
bot notices at its next tick, stops signing for the vault's wallets with one alert, never writes
an audit row under the retired key, and the log verifies under the new key, so the next
rotation goes through."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.events import Event
from solbot.runner import build
from solbot.runtime import RunOptions, Runtime
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.tables import AuditRow, OrderRow, UserRow
from solbot.store.types import utc_from_timestamp
from solbot.wallet import integrity
from solbot.wallet.master import MasterKey

from .test_multi_user import KEY, add_users
from .test_sim_day import DAY, START, day_settings

NEW, NEWER = MasterKey.generate(), MasterKey.generate()


@pytest.fixture
def settings(tmp_path: Path, empty_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", KEY.hex())
    return day_settings(tmp_path, "v2").model_copy(update={"database_url": empty_url})


async def test_a_rotation_under_a_running_bot_stops_its_signing_and_the_log_verifies(
    settings: Settings,
) -> None:
    await add_users(settings, ("alice", "aggressive"), ("bob", "aggressive"))
    events: list[Event] = []
    clock = ManualClock(START)
    other = Database(settings.database)  # another process's handle on the same database
    rotated: list[float] = []
    tasks: list[asyncio.Task[None]] = []

    async def rotate() -> None:
        await CustodyService(other, ManualClock(clock.now()), NEW).rotate(KEY, actor="cli")
        rotated.append(clock.now())

    def hook(_runtime: Runtime) -> None:
        if clock.now() >= START + DAY / 8 and not tasks:
            tasks.append(asyncio.ensure_future(rotate()))

    try:
        async with build(settings, RunOptions(stop_after=DAY / 2), events.append, clock) as rt:
            await rt.run(on_tick=hook)
            await asyncio.gather(*tasks)
            operator_accounts = [a.username for a in rt.engine.accounts]
        async with other.session() as s:
            vault = {
                u.id for u in await s.scalars(select(UserRow).where(UserRow.custody == "vault"))
            }
            orders = list(await s.scalars(select(OrderRow)))
            audit = list(await s.scalars(select(AuditRow).order_by(AuditRow.seq)))
            assert [str(p) for p in await integrity.problems(s, NEW)] == []

        alerts = [e for e in events if e.kind == "key_rotated"]
        assert len(alerts) == 1
        assert "signing stopped for 2 vault wallet(s)" in alerts[0].text
        assert alerts[0].time - rotated[0] <= settings.poll_seconds  # the next tick saw it
        stopped = utc_from_timestamp(alerts[0].time)
        assert [o for o in orders if o.user_id in vault and o.created_at >= stopped] == []
        assert operator_accounts == ["operator"]  # the operator's own wallet trades on
        assert {row.key_id for row in audit} == {NEW.key_id}

        again = CustodyService(other, ManualClock(clock.now()), NEWER)
        assert await again.rotate(NEW, actor="cli") == 2
    finally:
        await other.dispose()
