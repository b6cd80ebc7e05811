"""The trading loop and the decryption limits, on SQLite and PostgreSQL: the loop counts its
decryptions in the database shared with the operator's commands, so a user whose limit another
process used up is refused (and the operator alerted) while the others trade; a wallet whose
key does not open is refused and the failed open audited; the limits follow the wall clock,
not the sim's (a fast sim reaches them sooner: a day of trading passes in seconds here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from solbot.clock import ManualClock, WallClock
from solbot.config import Settings
from solbot.events import Event
from solbot.runner import build
from solbot.runtime import RunOptions
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.tables import AuditRow, DecryptCountRow, OrderRow, UserRow

from .test_multi_user import KEY, add_users, break_wallet
from .test_sim_day import DAY, START, day_settings

PER_USER = 5


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_url: str) -> Settings:
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", KEY.hex())
    return day_settings(tmp_path, "v2").model_copy(
        update={"database_url": empty_url, "decrypt_per_user_per_minute": PER_USER}
    )


async def test_the_loop_shares_the_limits_with_other_processes_and_audits_failed_opens(
    settings: Settings,
) -> None:
    await add_users(
        settings, ("alice", "aggressive"), ("bob", "aggressive"), ("carol", "aggressive")
    )
    await break_wallet(settings, "bob", "alice")  # bob's key cannot open
    db = Database(settings.database)
    try:
        async with db.session() as s:
            ids = {u.username: u.id for u in await s.scalars(select(UserRow))}
        cli = CustodyService(db, ManualClock(START), KEY, limits=settings.decrypt_limits())
        for _ in range(PER_USER):  # another process used carol's whole window
            await cli.export_key("carol", "base58", actor="cli")
    finally:
        await db.dispose()

    events: list[Event] = []
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=DAY / 4), events.append, clock) as runtime:
        custody = runtime.engine.roster.custody
        assert custody is not None
        assert isinstance(custody.vault.guard.clock, WallClock)  # not the sim's clock
        summary = await runtime.run()
        async with runtime.db.session() as s:
            orders = list(await s.scalars(select(OrderRow)))
            audit = list(await s.scalars(select(AuditRow).order_by(AuditRow.seq)))
            counted = dict(
                (
                    await s.execute(
                        select(DecryptCountRow.scope, func.sum(DecryptCountRow.count)).group_by(
                            DecryptCountRow.scope
                        )
                    )
                ).all()
            )

    mine = {name: [o for o in orders if o.user_id == ids[name]] for name in ids}
    assert any(o.state == "confirmed" for o in mine["alice"])
    assert mine["bob"]
    assert all("not signed" in (o.error or "") for o in mine["bob"])
    assert mine["carol"]
    assert all(o.state == "failed" for o in mine["carol"])
    assert "key decryptions for user" in (mine["carol"][0].error or "")
    assert all("signing is paused" in (o.error or "") for o in mine["carol"][1:])
    assert summary.consistent

    failed_opens = [a for a in audit if a.action == "open_failed"]
    assert {a.user_id for a in failed_opens} == {ids["bob"]}
    opened_not = [o for o in mine["bob"] if "cannot be opened" in (o.error or "")]
    assert len(failed_opens) == len(opened_not) > 0  # every failed open, none silent
    alerts = [a.user_id for a in audit if a.action == "decrypt_alert"]
    assert alerts[0] == ids["carol"]  # the first order after the exports found the window full
    assert any(e.kind == "decrypt_alert" and "carol" in e.text for e in events)
    signed_by_alice = [o for o in mine["alice"] if o.signed_tx is not None]
    assert counted[ids["alice"]] >= len(signed_by_alice) > 0  # each decryption counted
    assert counted[ids["carol"]] == PER_USER  # the exports; the loop was granted none
