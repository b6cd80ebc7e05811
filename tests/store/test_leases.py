"""Each user leased to one worker, exactly once (`store.leases`, PostgreSQL: workers mode is
PostgreSQL's). Two workers claiming at once take disjoint users; a worker paused past its
lease finds its write refused, nothing of it kept; a takeover never lands inside a fenced
write (it waits for it to end, and then sees it); a release hands users over at once."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, select

from solbot.clock import ManualClock
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.leases import LeaseLostError, Leases, new_worker_id
from solbot.store.tables import MetaEntry, UserRow
from solbot.wallet.master import MasterKey

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
NEW_USERS = 10  # besides the template's own
ALL = 10**6  # "as many as there are"
KEY = MasterKey.generate()
SHORT = 0.3  # seconds: a lease that a test can outlive


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    custody = CustodyService(database, ManualClock(1_800_000_000.0), KEY)
    for n in range(NEW_USERS):
        await custody.create_user(f"user{n}", actor="test")
    yield database
    await database.dispose()


async def claim(db: Database, worker: str, wanted: int, seconds: float = 90.0) -> dict[str, int]:
    async with db.session() as s:
        return dict((await Leases(s, worker, seconds).claim(wanted)).epochs)


async def everyone(db: Database) -> set[str]:
    async with db.session() as s:
        return set(await s.scalars(select(UserRow.id)))


async def fenced_write(db: Database, worker: str, held: dict[str, int], key: str) -> None:
    """A journal write as a worker makes it: the row, and the fence, in one transaction."""
    async with db.session() as s:
        s.add(MetaEntry(key=key, value=worker))
        await s.flush()
        await Leases(s, worker).fence(held)


async def test_two_workers_at_once_take_disjoint_shares(db: Database) -> None:
    a, b = new_worker_id(), new_worker_id()
    other = Database(db.url)  # a second pool: two connections really at once
    try:
        async with db.session() as s:
            await Leases(s, a).beat()
        async with other.session() as s:
            alive = await Leases(s, b).beat()
            share = await Leases(s, b).share(alive)
        users = await everyone(db)
        assert (alive, share) == (2, math.ceil(len(users) / 2))
        got_a, got_b = await asyncio.gather(claim(db, a, share), claim(other, b, share))
    finally:
        await other.dispose()
    assert sorted([len(got_a), len(got_b)]) == [len(users) - share, share]
    assert not set(got_a) & set(got_b)
    assert set(got_a) | set(got_b) == users
    assert set(got_a.values()) == set(got_b.values()) == {1}  # the first hands each user had


async def test_a_worker_paused_past_its_lease_writes_nothing(db: Database) -> None:
    stale, fresh = new_worker_id(), new_worker_id()
    held = await claim(db, stale, ALL, seconds=SHORT)
    assert set(held) == await everyone(db)
    assert await claim(db, fresh, ALL) == {}  # not expired: nothing to take
    await asyncio.sleep(SHORT + 0.2)  # the stale worker is SIGSTOPped past its lease
    taken = await claim(db, fresh, ALL)
    assert taken == {user: epoch + 1 for user, epoch in held.items()}
    with pytest.raises(LeaseLostError, match=f"{len(held)} user"):
        await fenced_write(db, stale, held, "order-of-a-stale-worker")  # it wakes and journals
    async with db.session() as s:
        assert await s.get(MetaEntry, "order-of-a-stale-worker") is None  # rolled back whole
        renewed = await Leases(s, stale).renew()
    assert renewed.epochs == {}  # and its renewal finds nothing left


async def test_a_takeover_waits_for_a_fenced_write_then_sees_it(db: Database) -> None:
    old, new = new_worker_id(), new_worker_id()
    held = await claim(db, old, 1, seconds=SHORT)
    (user,) = held
    await asyncio.sleep(SHORT + 0.2)  # expired: a takeover is allowed from now on
    other = Database(db.url)
    try:
        async with db.session() as s:  # the old holder's write, in flight
            await Leases(s, old).fence(held)  # still its own (nobody took it yet)
            s.add(MetaEntry(key="fenced-write", value=user))
            await s.flush()
            assert user not in await claim(other, new, ALL)  # the row is held: skipped
        taken = await claim(other, new, ALL)  # the write committed: now it moves
        assert user in taken
        assert taken[user] == held[user] + 1
        async with other.session() as s:
            assert await s.get(MetaEntry, "fenced-write") is not None  # the new holder sees it
        with pytest.raises(LeaseLostError):
            await fenced_write(db, old, held, "too-late")
    finally:
        await other.dispose()
        async with db.session() as s:
            await s.execute(delete(MetaEntry).where(MetaEntry.key == "fenced-write"))


async def test_a_release_hands_users_over_at_once(db: Database) -> None:
    leaving, staying = new_worker_id(), new_worker_id()
    held = await claim(db, leaving, ALL)
    async with db.session() as s:
        assert await Leases(s, leaving).release() == len(held)  # SIGTERM: a clean hand-over
        assert (await Leases(s, leaving).renew()).epochs == {}
    taken = await claim(db, staying, ALL)  # no wait for an expiry
    assert taken == {user: epoch + 1 for user, epoch in held.items()}


async def test_renewal_keeps_what_is_held_and_a_new_user_is_claimable(db: Database) -> None:
    worker = new_worker_id()
    held = await claim(db, worker, ALL, seconds=SHORT)
    for _ in range(3):  # renewed every tick: never expires
        await asyncio.sleep(SHORT / 2)
        async with db.session() as s:
            assert (await Leases(s, worker, SHORT).renew()).epochs == held
    assert await claim(db, new_worker_id(), ALL) == {}
    custody = CustodyService(db, ManualClock(1_800_000_000.0), KEY)
    row, _ = await custody.create_user("late", actor="test")
    assert await claim(db, worker, ALL) == {row.id: 1}
