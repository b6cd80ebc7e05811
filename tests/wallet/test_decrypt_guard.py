"""Decryption limits hold across processes: the counts and the pauses live in the database,
the check is atomic with the count, and the window follows the wall clock. On SQLite and on
PostgreSQL.

Each `DecryptGuard` with a `Database` of its own stands for one process (a CLI command, a bot
worker); the last test runs real processes at once."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
from sqlalchemy import func, select

from solbot.clock import ManualClock, WallClock
from solbot.store.db import Database
from solbot.store.tables import DecryptCountRow, DecryptPauseRow
from solbot.wallet.decrypt_guard import (
    DecryptAlert,
    DecryptGuard,
    DecryptLimits,
    Reservation,
    SigningPausedError,
)

NOW = 1_800_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    """The wall clock of the guards, moved by hand."""
    return ManualClock(NOW)


async def reserve(db: Database, guard: DecryptGuard, *user_ids: str) -> Reservation:
    async with db.session() as s:
        return await guard.reserve(s, user_ids)


def use(reservation: Reservation, user_id: str) -> None:
    """One decryption of `user_id`'s key under `reservation` (what the vault does)."""
    with reservation:
        reservation.guard.admit(user_id)


async def test_a_burst_of_one_users_decryptions_pauses_that_user_in_every_process(
    db: Database, db_url: str, clock: ManualClock
) -> None:
    limits = DecryptLimits(per_user=3, overall=100, window_seconds=60, pause_seconds=600)
    cli = DecryptGuard(limits, clock=clock)
    other_db = Database(db_url)
    bot = DecryptGuard(limits, clock=clock)
    try:
        use(await reserve(db, cli, "a", "a"), "a")
        assert (await reserve(other_db, bot, "a")).left == {"a": 1}
        refused = await reserve(other_db, bot, "a")
        assert refused.left == {}
        with pytest.raises(SigningPausedError, match="4 key decryptions for user a"):
            use(refused, "a")
        assert bot.take_records().alerts == [DecryptAlert("a", 4, 60, NOW + 600)]
        assert (await reserve(db, cli, "b")).left == {"b": 1}  # others sign on
        clock.advance(300)
        with pytest.raises(SigningPausedError, match="paused for user a until 2027-01-15T08:"):
            use(await reserve(db, cli, "a"), "a")  # the other process's pause holds here
        clock.advance(301)
        assert (await reserve(db, cli, "a")).left == {"a": 1}  # the pause and the window passed
        assert cli.take_records().alerts == []
    finally:
        await other_db.dispose()


async def test_a_burst_over_all_wallets_pauses_every_wallet_until_lifted(
    db: Database, clock: ManualClock
) -> None:
    limits = DecryptLimits(per_user=10, overall=5, window_seconds=60, pause_seconds=600)
    guard = DecryptGuard(limits, clock=clock)
    first = await reserve(db, guard, *(f"u{n}" for n in range(6)))
    assert first.left == {f"u{n}": 1 for n in range(5)}
    with pytest.raises(SigningPausedError, match="6 key decryptions for all wallets"):
        use(first, "u5")
    with pytest.raises(SigningPausedError, match="paused for every wallet"):
        use(await reserve(db, guard, "u0"), "u0")
    assert [a.user_id for a in guard.take_records().alerts] == [None]
    async with db.session() as s:
        assert await guard.lift(s) is True  # the operator looked and lifted it
    clock.advance(61)
    use(await reserve(db, guard, "u0"), "u0")


async def test_a_group_reserves_each_users_orders_and_spread_out_signing_never_trips(
    db: Database, clock: ManualClock
) -> None:
    limits = DecryptLimits(per_user=2, overall=100, window_seconds=60, pause_seconds=600)
    guard = DecryptGuard(limits, clock=clock)
    assert (await reserve(db, guard, "a", "a", "b")).left == {"a": 2, "b": 1}
    assert (await reserve(db, guard, "a", "b")).left == {"b": 1}  # a's third in the window
    clock.advance(601)
    for _ in range(20):
        reservation = await reserve(db, guard, "a")
        use(reservation, "a")
        clock.advance(31)
    assert guard.take_records().alerts == [DecryptAlert("a", 3, 60, NOW + 600)]
    async with db.session() as s:  # old seconds are pruned as the window moves on
        rows = await s.scalar(select(func.count()).select_from(DecryptCountRow))
        pauses = await s.scalar(select(func.count()).select_from(DecryptPauseRow))
    assert rows is not None
    assert rows <= 6
    assert pauses == 0


def test_the_window_follows_the_wall_clock() -> None:
    assert isinstance(DecryptGuard().clock, WallClock)


def _reserve_one_at_a_time(url: str, tries: int, start: float) -> int:
    """A process of its own: reserve alice's key `tries` times; how many were granted."""

    async def run() -> int:
        db = Database(url)
        guard = DecryptGuard(DecryptLimits(per_user=30, overall=1000, window_seconds=3600))
        got = 0
        try:
            while WallClock().now() < start:  # every process begins at the same moment
                await asyncio.sleep(0.001)
            for _ in range(tries):
                got += sum((await reserve(db, guard, "alice")).left.values())
        finally:
            await db.dispose()
        return got

    return asyncio.run(run())


async def test_processes_reserving_at_once_never_pass_the_last_slot(db: Database) -> None:
    """Four processes try 15 decryptions each against a limit of 30 in the window: exactly 30
    are granted, and exactly 30 are counted."""
    start = WallClock().now() + 4.0  # after the processes have started
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=spawn) as pool:
        loop = asyncio.get_running_loop()
        granted = await asyncio.gather(
            *(
                loop.run_in_executor(pool, _reserve_one_at_a_time, str(db.url), 15, start)
                for _ in range(4)
            )
        )
    assert sum(granted) == 30, granted
    async with db.session() as s:
        counted = await s.scalar(
            select(func.sum(DecryptCountRow.count)).where(DecryptCountRow.scope == "alice")
        )
    assert counted == 30
