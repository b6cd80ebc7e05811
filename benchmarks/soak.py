"""A week of the whole bot on the embedded sim, its memory measured each simulated day.

The scene of issue 14's measurement: 9 users plus the operator's wallet, 5-minute candles, a
tick a minute, the aggressive tier, seed 5, on a manual clock (as fast as it runs). After each
simulated day: the process's RSS (from /proc), and the Python heap by owner through
tracemalloc: the sim (`solbot/sim/`: ledger records, maker, prices), the bot (the rest of
solbot), and the libraries (SQLAlchemy, solders, numpy, ...). LiteSVM's own memory (Rust) is
in the RSS only. At the end: the growth after the first day (the target is under 5 %), and the
places whose Python allocations grew most between day 1 and the last day.

Run: `python benchmarks/soak.py [--days 7] [--users 9]`
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

from sim_day import day_settings
from solbot.clock import ManualClock
from solbot.runner import build
from solbot.runtime import RunOptions, Runtime
from solbot.services.custody import CustodyService
from solbot.store import schema
from solbot.store.db import Database
from solbot.wallet import master
from solbot.wallet.master import MasterKey

START = 1_800_000_000.0
DAY = 86_400.0
TIERS = ("moderate", "aggressive", "conservative")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def heap_by_owner(snapshot: tracemalloc.Snapshot) -> dict[str, float]:
    """MB of live Python allocations, by who made them."""
    owners: dict[str, float] = defaultdict(float)
    for stat in snapshot.statistics("filename"):
        name = stat.traceback[0].filename
        if "/solbot/sim/" in name:
            owner = "sim"
        elif "/solbot/" in name:
            owner = "bot"
        else:
            owner = "libraries"
        owners[owner] += stat.size / 2**20
    return owners


async def soak(folder: Path, days: int, users: int) -> None:
    os.environ["MASTER_ENCRYPTION_KEY"] = MasterKey.generate().hex()
    # The guard counts decryptions per minute of wall time; a simulated week in minutes would
    # trip it (a real bot signs a handful a minute).
    settings = day_settings(folder).model_copy(update={"decrypt_per_user_per_minute": 10**6})
    await schema.prepare(settings.database, settings.world)
    db = Database(settings.database)
    clock = ManualClock(START)
    service = CustodyService(db, clock, master.require())
    for n in range(users):
        await service.create_user(f"user{n}", actor="soak", tier=TIERS[n % len(TIERS)])
    await db.dispose()

    marks: list[tuple[float, float, dict[str, float], int, int]] = []
    snapshots: dict[str, tracemalloc.Snapshot] = {}  # day 1's and the latest
    next_day = START + DAY
    began = time.perf_counter()

    def measure(runtime: Runtime) -> None:
        nonlocal next_day
        if clock.now() < next_day:
            return
        next_day += DAY
        gc.collect()
        snap = tracemalloc.take_snapshot()
        snapshots.setdefault("first", snap)
        snapshots["last"] = snap
        stats = runtime.engine.stats
        marks.append((clock.now(), rss_mb(), heap_by_owner(snap), stats.entries, stats.exits))
        day, mb, heap, entries, exits = len(marks), marks[-1][1], marks[-1][2], *marks[-1][3:]
        print(
            f"day {day}: RSS {mb:6.1f} MB · Python heap: sim {heap['sim']:5.1f} MB, bot "
            f"{heap['bot']:5.1f} MB, libraries {heap['libraries']:5.1f} MB · "
            f"{entries} entries, {exits} exits · {time.perf_counter() - began:5.0f} s",
            flush=True,
        )

    tracemalloc.start(1)
    async with build(settings, RunOptions(stop_after=days * DAY), None, clock) as runtime:
        await runtime.run(on_tick=measure)
    first, last = marks[0][1], marks[-1][1]
    print(
        f"RSS day 1 {first:.1f} MB, day {len(marks)} {last:.1f} MB: "
        f"{(last / first - 1) * 100:+.1f} % after the first day (target < 5 %)"
    )
    if len(marks) > 1:
        print("largest growth of live Python allocations, day 1 to the last day:")
        for stat in snapshots["last"].compare_to(snapshots["first"], "lineno")[:12]:
            print(f"  {stat.size_diff / 1024:+9.1f} KiB  {stat.traceback[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--users", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(soak(Path(folder), args.days, args.users))


if __name__ == "__main__":
    main()
