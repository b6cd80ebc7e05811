"""The dashboard beside a trading bot: what it answers in, and what it costs the loop.

As `solbot run --web` runs it (the dashboard a process of its own, reading the loop's
heartbeat and the database; `web.process`): the embedded sim, 1,000 vault users × 20
tokens, and a candle close that gives every user an entry
(`fanout.py`'s worst case); one user also has 10,000 trades. A client in another process
loads a page every 0.1 s, in turn (some 150 open dashboards, each redrawn every 15 s):
that friend's overview (status, and their state, positions and 30 days of equity in one
answer: the two calls the page makes, timed as one), their trades list (a page of 50 of
the 10,000, newest first, and the same sorted by PnL), and the operator's overview (every
user's state and breaker).

Printed, for rounds alternating the bot alone and the bot with the dashboard in use (a fresh
world each round): the closing tick's time (median, and the ratio: target ≤ 1.05), and each
page's p50/p99 over the loads that met that tick (target: p99 < 100 ms), beside the same
with the bot idle.

Run: `python benchmarks/dashboard.py [--users 1000] [--rounds 5] [--pause 0.1]`
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select

from fanout import Bench, closing_tick, prepared
from solbot.clock import WallClock
from solbot.config import Settings
from solbot.heartbeat import beat
from solbot.store.tables import OrderRow, TradeRow, UserRow
from solbot.web.credentials import Credentials
from solbot.web.process import NICENESS, DashboardProcess

TRADES = 10_000
PAUSE = 0.1  # seconds between two page loads (150 dashboards, each redrawn every 15 s)


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


def browse(
    url: str, token: str, link: str, username: str, pause: float, stop: object, results: object
) -> None:
    """The other process: page loads until `stop` is set, one every `pause` seconds in turn;
    (start, page, seconds) each. The friend signs in with the link, as a browser would."""
    import httpx

    mine = f"/api/v1/users/{username}"
    friend_pages = {
        "overview": ["/api/v1/status", f"{mine}/overview?days=30"],
        "trades": [f"{mine}/trades?limit=50"],
        "trades by PnL": [f"{mine}/trades?limit=50&sort=pnl"],
    }
    samples = []
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
        signed = client.post("/api/v1/session", json={"secret": link})
        signed.raise_for_status()
        cookie = signed.headers.get_list("set-cookie")[0].split(";")[0]  # Secure: sent by hand
        friend = {"Cookie": cookie}
        operator = {"Authorization": f"Bearer {token}"}
        pages = [(name, paths, friend) for name, paths in friend_pages.items()]
        pages.append(("operator's overview", ["/api/v1/status"], operator))
        turn = 0
        while not stop.is_set():  # type: ignore[attr-defined]
            name, paths, headers = pages[turn % len(pages)]
            turn += 1
            began = time.monotonic()
            for path in paths:
                client.get(path, headers=headers).raise_for_status()
            samples.append((began, name, time.monotonic() - began))
            time.sleep(pause)
    results.put(samples)  # type: ignore[attr-defined]


MODES = ("alone", "web", "web, not niced")


async def one_round(users: int, folder: Path, mode: str, pause: float) -> dict[str, object]:
    bench = await prepared(users, 20, folder)
    await seed_trades(bench, "user_00000", TRADES)
    if mode == "alone":
        try:
            return {"tick": (await closing_tick(bench, users))["total"], "samples": []}
        finally:
            await bench.db.dispose()
    settings = Settings(data_dir=folder, web_port=free_port(), web_requests_per_minute=10**6)
    credentials = Credentials(bench.custody, WallClock())
    _row, token = await credentials.create_token("bench", actor="bench")
    async with bench.db.session() as s:
        friend = await s.scalar(select(UserRow.id).where(UserRow.username == "user_00000"))
    link = await credentials.create_link(str(friend))
    spawn = multiprocessing.get_context("spawn")
    stop, results = spawn.Event(), spawn.Queue()
    settings = settings.model_copy(update={"database_url": bench.db.url})
    niceness = 0 if mode == "web, not niced" else NICENESS
    dashboard = DashboardProcess(settings, niceness=niceness)  # as `solbot run --web` does
    await beat(bench.db, bench.engine, bench.clock, WallClock())
    await dashboard.start()
    url = str(dashboard.url)
    browsing = (url, token, link, "user_00000", pause, stop, results)
    client = spawn.Process(target=browse, args=browsing)
    client.start()
    try:
        await asyncio.sleep(4.0)  # the client starts, then browses the idle bot for a while
        began = time.monotonic()
        tick = (await closing_tick(bench, users))["total"]
        ended = time.monotonic()
        await beat(bench.db, bench.engine, bench.clock, WallClock())
        await asyncio.sleep(1.0)
        stop.set()
        samples = await asyncio.to_thread(results.get, timeout=60)
        await asyncio.to_thread(client.join, 30)
    finally:
        if client.is_alive():
            client.kill()
        await dashboard.stop()
        await bench.db.dispose()
    return {"tick": tick, "samples": samples, "window": (began, ended)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pause", type=float, default=PAUSE, help="seconds between two page loads")
    args = parser.parse_args()
    ticks: dict[str, list[float]] = {mode: [] for mode in MODES}
    during: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    idle: dict[str, dict[str, list[float]]] = {mode: {} for mode in MODES}
    for n in range(args.rounds):
        for mode in MODES:
            with tempfile.TemporaryDirectory() as folder:
                got = asyncio.run(one_round(args.users, Path(folder), mode, args.pause))
            ticks[mode].append(got["tick"])  # type: ignore[arg-type]
            for began, name, seconds in got["samples"]:  # type: ignore[union-attr]
                lo, hi = got["window"]  # type: ignore[misc]
                overlaps = began <= hi and began + seconds >= lo  # the load met the tick
                (during if overlaps else idle)[mode].setdefault(name, []).append(seconds)
            print(f"round {n + 1}, {mode}: closing tick {got['tick']:.2f} s")
    alone = statistics.median(ticks["alone"])
    print(
        f"\n{args.users:,} users × 20 tokens, the closing tick, median of {args.rounds}, "
        f"a page load every {args.pause} s:"
    )
    print(f"  the bot alone: {alone:.2f} s")
    labels = {
        "web": "solbot run --web (a process, niced)",
        "web, not niced": "the dashboard process not niced",
    }
    for mode, label in labels.items():
        tick = statistics.median(ticks[mode])
        print(f"  with {label}: {tick:.2f} s, ratio {tick / alone:.3f} (target ≤ 1.05)")
        for name in sorted(set(during[mode]) | set(idle[mode])):
            print(
                f"    {name:>19}: during the tick {spread(during[mode].get(name, []))}; "
                f"bot idle {spread(idle[mode].get(name, []))}"
            )
    print("  (target: p99 < 100 ms)")


def spread(values: list[float]) -> str:
    if not values:
        return "no loads"
    p50, p99 = statistics.median(values) * 1e3, percentile(values, 0.99) * 1e3
    return f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(values) * 1e3:.0f} ms ({len(values)})"


if __name__ == "__main__":
    main()
