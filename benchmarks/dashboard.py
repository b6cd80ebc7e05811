"""The dashboard beside a trading bot: what it answers in, and what it costs the loop.

In one process, as `solbot run --web` runs it: the embedded sim, 1,000 vault users × 20
tokens, and a candle close that gives every user an entry (`fanout.py`'s worst case); one
user also has 10,000 trades. A client in another process loads pages as a friend's browser
would, every 0.2 s: the overview (status, positions, 30 days of equity, today's trades: the
four calls the page makes, timed as one) and the trades list (a page of 50 of the 10,000,
newest first, and the same sorted by PnL).

Printed, for rounds alternating the bot alone and the bot with the dashboard in use (a fresh
world each round): the closing tick's time (median, and the ratio: target ≤ 1.05), and each
page's p50/p99 over the requests made while that tick ran (target: p99 < 100 ms), beside the
same with the bot idle.

Run: `python benchmarks/dashboard.py [--users 1000] [--rounds 3]`
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select

from fanout import Bench, closing_tick, prepared
from solbot.asgi_serving import serve_app
from solbot.clock import WallClock
from solbot.config import Settings
from solbot.store.tables import OrderRow, TradeRow, UserRow
from solbot.web.app import create_app
from solbot.web.dashboard import EngineView
from solbot.web.services import WebServices

TRADES = 10_000
PAUSE = 0.2  # seconds between two page loads of the client


async def seed_trades(bench: Bench, username: str, count: int) -> None:
    """`count` closed trades for one user (orders and fills), spread over the last 100 days."""
    async with bench.db.session() as s:
        user_id = await s.scalar(select(UserRow.id).where(UserRow.username == username))
    now = bench.clock.now()
    orders, trades = [], []
    for n in range(count):
        at = datetime.fromtimestamp(now - (count - n) * 864, UTC)
        order_id = str(uuid.uuid4())
        side = "buy" if n % 2 == 0 else "sell"
        orders.append(
            {
                "id": order_id, "idempotency_key": order_id, "user_id": user_id,
                "token": f"T{n % 20:02d}", "input_mint": "a", "output_mint": "b", "side": side,
                "purpose": "entry" if side == "buy" else "exit", "state": "confirmed",
                "amount_in": 1_000_000, "route": "v2", "attempts": 1,
                "created_at": at, "updated_at": at,
            }
        )  # fmt: skip
        trades.append(
            {
                "id": str(uuid.uuid4()), "user_id": user_id, "order_id": order_id,
                "token": f"T{n % 20:02d}", "side": side, "price": Decimal("1.25") + n % 97,
                "quantity": 10**6 + n, "quote_amount": 2 * 10**6 + n, "fee_lamports": 5000,
                "pnl": None if side == "buy" else Decimal(n % 13 - 6) / 4, "timestamp": at,
            }
        )  # fmt: skip
    async with bench.db.session() as s:
        await s.execute(insert(OrderRow), orders)
        await s.execute(insert(TradeRow), trades)


def browse(url: str, token: str, username: str, stop: object, results: object) -> None:
    """The other process: page loads until `stop` is set; (start, page, seconds) each."""
    import httpx

    since = datetime.now(UTC).replace(hour=0, minute=0, second=0).isoformat()
    pages = {
        "overview": [
            "/api/v1/status",
            f"/api/v1/users/{username}/positions",
            f"/api/v1/users/{username}/equity?days=30",
            f"/api/v1/users/{username}/trades?since={since}&limit=500",
        ],
        "trades": [f"/api/v1/users/{username}/trades?limit=50"],
        "trades by PnL": [f"/api/v1/users/{username}/trades?limit=50&sort=pnl"],
    }
    samples = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, trust_env=False, timeout=30) as client:
        while not stop.is_set():  # type: ignore[attr-defined]
            for name, paths in pages.items():
                began = time.monotonic()
                for path in paths:
                    client.get(path).raise_for_status()
                samples.append((began, name, time.monotonic() - began))
            time.sleep(PAUSE)
    results.put(samples)  # type: ignore[attr-defined]


async def one_round(users: int, folder: Path, with_dashboard: bool) -> dict[str, object]:
    bench = await prepared(users, 20, folder)
    await seed_trades(bench, "user_00000", TRADES)
    if not with_dashboard:
        try:
            return {"tick": (await closing_tick(bench, users))["total"], "samples": []}
        finally:
            await bench.db.dispose()
    services = WebServices(
        Settings(data_dir=folder, web_requests_per_minute=10**6),
        bench.custody,
        bench.clock,
        loop=EngineView(bench.engine, bench.clock),
        wall=WallClock(),
    )
    _row, token = await services.credentials.create_token("bench", actor="bench")
    server = await serve_app(create_app(services), "127.0.0.1", 0, what="dashboard")
    spawn = multiprocessing.get_context("spawn")
    stop, results = spawn.Event(), spawn.Queue()
    client = spawn.Process(target=browse, args=(server.url, token, "user_00000", stop, results))
    client.start()
    try:
        await asyncio.sleep(4.0)  # the client starts, then browses the idle bot for a while
        began = time.monotonic()
        tick = (await closing_tick(bench, users))["total"]
        ended = time.monotonic()
        await asyncio.sleep(1.0)
        stop.set()
        samples = await asyncio.to_thread(results.get, timeout=60)
        await asyncio.to_thread(client.join, 30)
    finally:
        if client.is_alive():
            client.kill()
        await server.stop()
        await bench.db.dispose()
    return {"tick": tick, "samples": samples, "window": (began, ended)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    alone, beside, during, idle = [], [], {}, {}
    for n in range(args.rounds):
        for with_dashboard in (False, True):
            with tempfile.TemporaryDirectory() as folder:
                got = asyncio.run(one_round(args.users, Path(folder), with_dashboard))
            (beside if with_dashboard else alone).append(got["tick"])
            for began, name, seconds in got["samples"]:  # type: ignore[union-attr]
                lo, hi = got["window"]  # type: ignore[misc]
                overlaps = began <= hi and began + seconds >= lo  # the load met the tick
                (during if overlaps else idle).setdefault(name, []).append(seconds)
            label = "with the dashboard" if with_dashboard else "alone"
            print(f"round {n + 1}: the bot {label}: closing tick {got['tick']:.2f} s")
    a, b = statistics.median(alone), statistics.median(beside)
    print(
        f"\n{args.users:,} users × 20 tokens, the closing tick (median of {args.rounds}): alone "
        f"{a:.2f} s, with the dashboard in use {b:.2f} s: ratio {b / a:.3f} (target ≤ 1.05)"
    )
    for name in sorted(set(during) | set(idle)):
        print(
            f"{name:>14}: while the tick ran {spread(during.get(name, []))}; "
            f"bot idle {spread(idle.get(name, []))} (target p99 < 100 ms)"
        )


def spread(values: list[float]) -> str:
    if not values:
        return "no loads"
    p50, p99 = statistics.median(values) * 1e3, percentile(values, 0.99) * 1e3
    return f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(values) * 1e3:.0f} ms ({len(values)})"


if __name__ == "__main__":
    main()
