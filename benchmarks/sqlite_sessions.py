"""What one SQLite statement and one commit cost through solbot's two session kinds, side by
side in one run: `LocalSession` (SQLite on the event loop's thread, the default) and
SQLAlchemy's `AsyncSession` over aiosqlite (a worker thread per connection).

Run: `python benchmarks/sqlite_sessions.py [--n 500]`
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from solbot.store import schema
from solbot.store.db import Database


async def measure(folder: Path, local: bool, n: int) -> tuple[float, float]:
    url = f"sqlite:///{folder / ('local' if local else 'aiosqlite')}.db"
    await schema.prepare(url)
    db = Database(url, local_sqlite=local)
    async with db.session() as s:
        await s.execute(text("INSERT INTO meta (key, value) VALUES ('k', '0')"))
    began = time.perf_counter()
    for i in range(n):  # a transaction of one UPDATE, committed (WAL, synchronous=FULL)
        async with db.session() as s:
            await s.execute(text("UPDATE meta SET value = :v WHERE key = 'k'"), {"v": str(i)})
    commit = (time.perf_counter() - began) / n
    began = time.perf_counter()
    async with db.session() as s:  # statements inside one transaction
        for i in range(n):
            await s.execute(text("UPDATE meta SET value = :v WHERE key = 'k'"), {"v": str(i)})
    statement = (time.perf_counter() - began) / n
    await db.dispose()
    return commit, statement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(args.repeats):  # interleaved, so load hits both alike
        for local in (True, False):
            with tempfile.TemporaryDirectory() as folder:
                results[local].append(asyncio.run(measure(Path(folder), local, args.n)))
    for local, name in ((True, "LocalSession (loop thread)"), (False, "AsyncSession/aiosqlite")):
        commit = statistics.median(c for c, _ in results[local])
        statement = statistics.median(s for _, s in results[local])
        print(f"{name:28} commit {commit * 1e3:.2f} ms, statement {statement * 1e3:.3f} ms")
    ratio_c = statistics.median(c for c, _ in results[False]) / statistics.median(
        c for c, _ in results[True]
    )
    ratio_s = statistics.median(s for _, s in results[False]) / statistics.median(
        s for _, s in results[True]
    )
    print(f"aiosqlite ÷ local: commits {ratio_c:.1f}×, statements {ratio_s:.1f}×")


if __name__ == "__main__":
    main()
