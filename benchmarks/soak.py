"""A week of the whole bot on the embedded sim, its memory measured each simulated day.

The scene of issue 14's measurement: 9 users plus the operator's wallet, 5-minute candles, a
tick a minute, the aggressive tier, seed 5, on a manual clock (as fast as it runs). After each
simulated day: the process's RSS (from /proc), and the Python heap by owner through
tracemalloc: the sim (`solbot/sim/`: ledger records, maker, prices), the bot (the rest of
solbot), and the libraries (SQLAlchemy, solders, numpy, ...). LiteSVM's own memory (Rust) is
in the RSS only, as are pymalloc's arenas beyond their live blocks (fragmentation: printed) and
tracemalloc's own bookkeeping (printed). At the end: the growth after the first day (the target
is under 5 %), and the places whose Python allocations grew most between day 1 and the last day.

With `--served SPEED`, bot and sim apart: the sim runs as `solbot sim serve --speed SPEED` in its
own process, the bot in this one talks to it over HTTP as it would to a real network (RpcChain,
Jupiter over httpx, the server's clock), and each day prints both processes' RSS. The bot's
figure is then what a bot on mainnet would hold; the sim's is the sim's (its bounded records).

Run: `python benchmarks/soak.py [--days 7] [--users 9] [--arenas] [--served 600]`
(`--arenas`: pymalloc's arenas and live blocks instead of the heap by owner, which tracemalloc
hides from pymalloc)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from sim_day import day_settings
from solbot.clock import ManualClock
from solbot.config import Settings
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


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass(frozen=True)
class ServedSim:
    """A `solbot sim serve` child and what its banner said."""

    pid: int
    rpc_url: str
    jupiter_url: str
    secret: str


@contextlib.contextmanager
def served_sim(folder: Path, speed: float, seed: int) -> Iterator[ServedSim]:
    """`solbot sim serve` on free ports of 127.0.0.1, until the block ends (SIGTERM: it saves
    and exits)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLBOT_")}
    env.update(SOLBOT_SIM_SEED=str(seed), NO_PROXY="127.0.0.1", PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "solbot.cli.app", "--data-dir", str(folder / "sim")]
    command += ["sim", "serve", "--rpc-port", "0", "--jupiter-port", "0", "--speed", str(speed)]
    out = folder / "serve.out"
    with out.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            line = next(
                (x for x in out.read_text().splitlines() if x.startswith("SOLBOT_RPC_URL=")), None
            )
            if line is not None:
                words = dict(word.split("=", 1) for word in line.split()[:-2])
                yield ServedSim(
                    process.pid,
                    words["SOLBOT_RPC_URL"],
                    words["SOLBOT_JUPITER_URL"],
                    words["WALLET_PRIVATE_KEY"],
                )
                return
            time.sleep(0.1)
        raise SystemExit(f"solbot sim serve did not start:\n{out.read_text()}")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


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


class _MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2` (glibc 2.33+): all fields `size_t`."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def native_mb() -> tuple[float, float, float]:
    """MB held by SQLite (its own counter, `sqlite3_memory_used`: page caches, statements), and
    glibc malloc's bytes in use and free inside its heaps (`mallinfo2`; in use counts LiteSVM,
    SQLite, solders and pymalloc's arenas alike; free is fragmentation the RSS keeps). NaN where
    the library cannot be found."""
    nan = float("nan")
    sqlite_mb = nan
    name = ctypes.util.find_library("sqlite3")
    if name:
        lib = ctypes.CDLL(name)  # the same instance Python's sqlite3 module has loaded
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        sqlite_mb = lib.sqlite3_memory_used() / 2**20
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        return sqlite_mb, nan, nan
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    in_use = (info.uordblks + info.hblkhd) / 2**20
    return sqlite_mb, in_use, info.fordblks / 2**20


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


async def soak(
    folder: Path, days: int, users: int, heap: bool, sim: ServedSim | None = None
) -> None:
    """The week in this process, or (`sim` given) this process's bot against a served sim."""
    os.environ["MASTER_ENCRYPTION_KEY"] = MasterKey.generate().hex()
    # The guard counts decryptions per minute of wall time; a simulated week in minutes would
    # trip it (a real bot signs a handful a minute).
    settings = day_settings(folder).model_copy(update={"decrypt_per_user_per_minute": 10**6})
    if sim is not None:
        remote = {"rpc_url": sim.rpc_url, "jupiter_url": sim.jupiter_url}
        settings = settings.model_copy(
            update={**remote, "wallet_private_key": SecretStr(sim.secret)}
        )
    await schema.prepare(settings.database, settings.world)
    db = Database(settings.database)
    service = CustodyService(db, ManualClock(START), master.require())
    for n in range(users):
        user, _ = await service.create_user(f"user{n}", actor="soak", tier=TIERS[n % len(TIERS)])
        if sim is not None:  # the embedded sim funds new users itself; a served one on request
            await fund(sim, user.wallet_pubkey, settings)
    await db.dispose()

    marks: list[tuple[float, float, int, int]] = []
    snapshots: dict[str, tracemalloc.Snapshot] = {}  # day 1's and the latest
    next_day: float | None = None
    began = time.perf_counter()

    def measure(runtime: Runtime) -> None:
        nonlocal next_day
        now = runtime.clock.now()
        if next_day is None:
            next_day = now + DAY
        if now < next_day:
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
            sqlite_mb, in_use, free = native_mb()
            python = (
                f"pymalloc arenas {arenas:5.1f} MB, {live:5.1f} MB of it live · SQLite "
                f"{sqlite_mb:5.1f} MB · malloc in use {in_use:6.1f} MB, free {free:5.1f} MB"
            )
        marks.append((now, rss_mb(), stats.entries, stats.exits))
        day, mb, entries, exits = len(marks), *marks[-1][1:]
        served = "" if sim is None else f" (the served sim: {rss_mb(sim.pid):6.1f} MB)"
        print(
            f"day {day}: RSS {mb:6.1f} MB{served} · {python} · {entries} entries, {exits} exits"
            f" · {time.perf_counter() - began:5.0f} s",
            flush=True,
        )

    if heap:
        tracemalloc.start(1)
    clock = ManualClock(START) if sim is None else None  # served: the server's, at its speed
    options = RunOptions(stop_after=days * DAY + 600)  # the last day's mark, and a margin
    async with build(settings, options, None, clock) as runtime:
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


async def fund(sim: ServedSim, address: str, settings: Settings) -> None:
    """What the embedded sim gives a new user, from the served sim's faucet."""
    async with httpx.AsyncClient(base_url=sim.jupiter_url, trust_env=False) as client:
        for token, amount in (("SOL", settings.sim_user_sol), ("USDC", settings.sim_user_usdc)):
            answer = await client.post(
                "/sim/fund", json={"address": address, "token": token, "amount": str(amount)}
            )
            answer.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--users", type=int, default=9)
    parser.add_argument(
        "--arenas",
        action="store_true",
        help="pymalloc's arenas and live blocks each day instead of tracemalloc's heap by owner",
    )
    parser.add_argument(
        "--served",
        type=float,
        metavar="SPEED",
        help="the sim in its own process (solbot sim serve --speed SPEED), the bot over HTTP",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        if args.served is None:
            asyncio.run(soak(folder, args.days, args.users, heap=not args.arenas))
            return
        seed = day_settings(folder).sim_seed
        with served_sim(folder, args.served, seed) as sim:
            asyncio.run(soak(folder, args.days, args.users, not args.arenas, sim))


if __name__ == "__main__":
    main()
