"""A simulated day of the whole bot on the embedded sim, as fast as it runs: the figure behind
every sim-day test, the parity sweep (issue 13) and `solbot run --replay`.

The day is the parity test's: 4 tokens on 5-minute candles, a tick a minute (1,441 ticks), the
aggressive tier, seed 5, on a manual clock; the bot's whole stack (runner, roster, engine,
journal, LiteSVM, the sim's Jupiter API in process, SQLite). Printed: the median wall time of
`--repeats` days, each in a fresh data dir, ticks per second, and the trades of the first day
(the same on every commit that trades alike).

Run: `python benchmarks/sim_day.py [--repeats 5]`; compare two commits side by side from git
worktrees (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.runner import build
from solbot.runtime import RunOptions

START = 1_800_000_000.0
DAY = 86_400.0


def day_settings(folder: Path) -> Settings:
    """The parity test's world: 4 tokens, 5-minute candles, a tick a minute, seed 5."""
    return Settings(
        data_dir=folder,
        network="sim",
        timeframe="5m",
        risk_tier="aggressive",
        poll_seconds=60.0,
        sim_seed=5,
        tokens=Settings().tokens,
    )


async def one_day(folder: Path) -> tuple[float, int, int]:
    settings = day_settings(folder)
    async with build(settings, RunOptions(stop_after=DAY), None, ManualClock(START)) as runtime:
        began = time.perf_counter()
        await runtime.run()
        took = time.perf_counter() - began
        stats = runtime.engine.stats
        return took, stats.ticks, stats.entries + stats.exits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    times = []
    for n in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            took, ticks, trades = asyncio.run(one_day(Path(folder)))
        times.append(took)
        print(f"day {n + 1}: {took:.2f} s, {ticks} ticks, {trades} fills")
    median = statistics.median(times)
    print(f"median {median:.2f} s per simulated day, {ticks / median:,.0f} ticks/s")


if __name__ == "__main__":
    main()
