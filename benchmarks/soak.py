"""A week of the whole bot on the embedded sim, its memory measured each simulated day.

The scene of issue 14's measurement: 9 users plus the operator's wallet, 5-minute candles, a
tick a minute, the aggressive tier, seed 5, on a manual clock (as fast as it runs). After each
simulated day: the process's RSS (from /proc), and the Python heap by owner through
tracemalloc: the sim (`solbot/sim/`: ledger records, maker, prices), the bot (the rest of
solbot), and the libraries (SQLAlchemy, solders, numpy, ...). LiteSVM's own memory (Rust) is
in the RSS only, as are pymalloc's arenas beyond their live blocks (fragmentation: printed) and
tracemalloc's own bookkeeping (printed). At the end: the growth after the first day (the target
is under 5 %), and the places whose Python allocations grew most between day 1 and the last day.

Run: `python benchmarks/soak.py [--days 7] [--users 9] [--arenas]` (`--arenas`: pymalloc's
arenas and live blocks instead of the heap by owner, which tracemalloc hides from pymalloc)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import sys
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


def pymalloc_mb() -> tuple[float, float]:
    """MB of pymalloc's arenas, and of the live blocks in them (`sys._debugmallocstats`, which
    writes to the C-level stderr): arenas far fuller than their blocks are fragmentation, memory
    outside tracemalloc's reach that a long run can keep."""
    with tempfile.TemporaryFile(mode="w+") as out:
        saved = os.dup(2)
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    arenas = re.search(r"(\d+) arenas \* (\d+) bytes/arena", text)
    blocks = re.search(r"# bytes in allocated blocks\s*=\s*([\d,]+)", text)
    if arenas is None or blocks is None:
        return float("nan"), float("nan")
    held = int(arenas.group(1)) * int(arenas.group(2))
    return held / 2**20, int(blocks.group(1).replace(",", "")) / 2**20


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


async def soak(folder: Path, days: int, users: int, heap: bool) -> None:
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

    marks: list[tuple[float, float, int, int]] = []
    snapshots: dict[str, tracemalloc.Snapshot] = {}  # day 1's and the latest
    next_day = START + DAY
    began = time.perf_counter()

    def measure(runtime: Runtime) -> None:
        nonlocal next_day
        if clock.now() < next_day:
            return
        next_day += DAY
        gc.collect()
        stats = runtime.engine.stats
        if heap:
            snap = tracemalloc.take_snapshot()
            snapshots.setdefault("first", snap)
            snapshots["last"] = snap
            owners = heap_by_owner(snap)
            python = (
                f"Python heap: sim {owners['sim']:5.1f} MB, bot {owners['bot']:5.1f} MB, "
                f"libraries {owners['libraries']:5.1f} MB, tracemalloc itself "
                f"{tracemalloc.get_tracemalloc_memory() / 2**20:5.1f} MB"
            )
        else:  # pymalloc reports its arenas only when tracemalloc is not hooked in
            arenas, live = pymalloc_mb()
            python = f"pymalloc arenas {arenas:5.1f} MB, {live:5.1f} MB of it live"
        marks.append((clock.now(), rss_mb(), stats.entries, stats.exits))
        day, mb, entries, exits = len(marks), *marks[-1][1:]
        print(
            f"day {day}: RSS {mb:6.1f} MB · {python} · {entries} entries, {exits} exits · "
            f"{time.perf_counter() - began:5.0f} s",
            flush=True,
        )

    if heap:
        tracemalloc.start(1)
    async with build(settings, RunOptions(stop_after=days * DAY), None, clock) as runtime:
        await runtime.run(on_tick=measure)
    first, last = marks[0][1], marks[-1][1]
    print(
        f"RSS day 1 {first:.1f} MB, day {len(marks)} {last:.1f} MB: "
        f"{(last / first - 1) * 100:+.1f} % after the first day (target < 5 %)"
    )
    if heap and len(marks) > 1:
        print("largest growth of live Python allocations, day 1 to the last day:")
        for stat in snapshots["last"].compare_to(snapshots["first"], "lineno")[:12]:
            print(f"  {stat.size_diff / 1024:+9.1f} KiB  {stat.traceback[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--users", type=int, default=9)
    parser.add_argument(
        "--arenas",
        action="store_true",
        help="pymalloc's arenas and live blocks each day instead of tracemalloc's heap by owner",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(soak(Path(folder), args.days, args.users, heap=not args.arenas))


if __name__ == "__main__":
    main()
