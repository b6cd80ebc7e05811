"""One bot per database (`store.run_lock`): a second holder is refused in one line naming the
first; the lock outlives nothing (a holder killed with SIGKILL frees it); a PostgreSQL run whose
lock connection drops takes it again, or stops if another bot took it. Both databases."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from holders import holding_run_lock
from solbot.errors import EnvironmentFaultError, UserError
from solbot.store import run_lock
from solbot.store.db import Database

PG_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # a connection


async def test_a_second_holder_is_refused_naming_the_first(db_url: str) -> None:
    first = await run_lock.acquire(db_url)
    try:
        with pytest.raises(UserError) as refused:
            await run_lock.acquire(db_url)
        line = str(refused.value)
        assert "\n" not in line
        assert "in use by solbot run, pid" in line
        assert f"pid {os.getpid()}" in line  # who holds it
        assert "two bots on one database would both trade" in line
        with pytest.raises(UserError, match="stop it before upgrading"):
            await run_lock.acquire(db_url, doing=": stop it before upgrading the schema")
        await first.still_held()
    finally:
        await first.release()
    again = await run_lock.acquire(db_url)  # released: free for the next run
    await again.release()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # PostgreSQL's is in the server
async def test_the_lock_file_is_private(db_url: str) -> None:
    held = await run_lock.acquire(db_url)
    try:
        path = Path(make_url(db_url).database or "")
        lock = path.with_name(path.name + run_lock.SUFFIX)
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    finally:
        await held.release()


async def test_a_holder_killed_with_sigkill_frees_the_lock(db_url: str) -> None:
    with holding_run_lock(db_url) as holder:  # killed with SIGKILL on leaving
        refused = pytest.raises(UserError, match=f"pid {holder.pid}")
        with refused:
            await run_lock.acquire(db_url)
    for _ in range(100):  # the server notices the closed connection at once, or nearly
        try:
            taken = await run_lock.acquire(db_url)
            break
        except UserError:
            await asyncio.sleep(0.05)
    else:
        pytest.fail("the lock of a killed holder was never freed")
    await taken.release()


async def _drop_lock_connection(db_url: str) -> None:
    db = Database(db_url)
    try:
        async with db.session() as s:
            await s.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :n AND pid <> pg_backend_pid() "
                    "AND datname = current_database()"
                ),
                {"n": run_lock.holder_name()},
            )
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_one_file_one_lock_whichever_path_names_it(db_url: str, tmp_path: Path) -> None:
    real = Path(make_url(db_url).database or "")
    link = tmp_path / "elsewhere" / "link.db"
    link.parent.mkdir()
    link.symlink_to(real)
    held = await run_lock.acquire(db_url)
    try:
        with pytest.raises(UserError, match="in use by solbot run"):
            await run_lock.acquire(f"sqlite:///{link}")
        with pytest.raises(UserError, match="in use by solbot run"):
            await run_lock.acquire(f"sqlite:///{real.parent}/./{real.name}")
    finally:
        await held.release()


@PG_ONLY
async def test_a_run_that_cannot_reach_its_lock_stops_after_a_few_looks(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It cannot know that no other bot started meanwhile: a few ticks' grace, then a stop."""
    held = await run_lock.acquire(db_url)
    try:
        await _drop_lock_connection(db_url)

        async def unreachable(*_args: object) -> None:
            raise OSError("connection refused")

        monkeypatch.setattr(run_lock, "_take", unreachable)
        for _ in range(run_lock.UNSURE_LOOKS - 1):
            await held.still_held()  # told in the log, trading goes on
        with pytest.raises(EnvironmentFaultError, match="could not take it again"):
            await held.still_held()
    finally:
        await held.release()


@PG_ONLY
async def test_a_dropped_connection_takes_the_lock_again(db_url: str) -> None:
    held = await run_lock.acquire(db_url)
    try:
        await _drop_lock_connection(db_url)
        await held.still_held()  # taken again on a new connection
        with pytest.raises(UserError, match="in use by solbot run"):
            await run_lock.acquire(db_url)  # and held again, not merely unchecked
    finally:
        await held.release()


@PG_ONLY
async def test_a_run_whose_lock_another_bot_took_stops(db_url: str) -> None:
    held = await run_lock.acquire(db_url)
    try:
        await _drop_lock_connection(db_url)
        taken = pytest.raises(EnvironmentFaultError, match="this run stops")
        with holding_run_lock(db_url), taken:  # another bot, in another process, took it
            await held.still_held()
    finally:
        await held.release()


@PG_ONLY
async def test_a_session_that_outlived_its_connection_is_ended_and_the_lock_taken(
    db_url: str,
) -> None:
    """This process's own old session, its connection gone from here but not yet from the
    server (a network blip): it holds the lock for nobody, and is ended."""
    held = await run_lock.acquire(db_url)
    try:
        held._conn = None  # type: ignore[attr-defined]  # forgotten here; the server keeps it
        await held.still_held()  # the orphan ended, the lock taken again
        conn = held._conn  # type: ignore[attr-defined]
        assert conn is not None
        mine = await conn.scalar(text("SELECT pg_backend_pid()"))
        _name, holder = await run_lock._holder(held._engine)  # type: ignore[attr-defined]
        assert holder == mine  # held by the new connection, not the orphan
    finally:
        await held.release()


@PG_ONLY
async def test_a_run_stops_before_its_next_tick_when_another_bot_took_its_database(
    tmp_path: Path, db_url: str
) -> None:
    """`solbot run` holds the lock from its build, and looks at it before every tick."""
    from engine.test_sim_day import day_settings
    from solbot.clock import ManualClock
    from solbot.runner import build
    from solbot.runtime import RunOptions

    settings = day_settings(tmp_path, "v2").model_copy(update={"database_url": db_url})
    clock = ManualClock(1_800_000_000.0)
    async with build(settings, RunOptions(stop_after=86_400), None, clock) as runtime:
        with pytest.raises(UserError, match="in use by solbot run"):
            await run_lock.acquire(db_url)
        await _drop_lock_connection(db_url)
        taken = pytest.raises(EnvironmentFaultError, match="this run stops")
        with holding_run_lock(db_url), taken:  # another bot took it
            await runtime.run()
        assert runtime.engine.stats.ticks == 0
