"""Fan-out: one closed candle, every user acted on, in the embedded sim.

N users (vault wallets: sealed keys, decrypted per signature) × 20 tokens. All 20 candles close
in one tick and every token signals an entry; each user may hold one position, so the tick
computes 20 signals once and then every user's one order goes through the whole path:
portfolio valuation, breakers, sizing, the journal, a quote over the Jupiter-shaped API, the
vault's decrypt-and-sign, execution by the Solana runtime (LiteSVM), settlement, position and
trade rows in SQLite.

Printed: when the last user's order was confirmed (each user's latency from the candle close:
the maximum, which is what the target is about, then p50 and p99); the tick's total time, which
goes on after the fills (candles stored, values marked); peak RSS of the process; and, measured
in the same run, the cost of one decrypt + one signature (the vault's part of each order).
Target: 10,000 users within 10 s of the candle close, under 400 MB peak RSS.

Run: `python benchmarks/fanout.py [--users 1000] [--users 10000] [--tokens 20]`
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from solders.pubkey import Pubkey
from sqlalchemy import insert

from solbot.chain.litesvm import LiteSvmChain
from solbot.clock import ManualClock
from solbot.domain import ExitRules, Timeframe
from solbot.engine import Engine
from solbot.events import Event
from solbot.execution.executor import Executor
from solbot.market.feeds.jupiter_price import JupiterPriceFeed
from solbot.runtime import tune_collector
from solbot.services.custody import CustodyService
from solbot.services.roster import Roster
from solbot.sim.network import LAMPORTS_PER_SOL, SimNetwork
from solbot.store import schema
from solbot.store.db import Database
from solbot.store.tables import UserRow
from solbot.wallet import identity, keycheck
from solbot.wallet.decrypt_guard import DecryptGuard, DecryptLimits, Reservation
from solbot.wallet.master import MasterKey
from solbot.wallet.vault import Vault
from tick import (  # the same worst-case strategy, token set and venue
    VENUES,
    EnterEverything,
    Stopwatch,
    seconds_per_call,
    timed_venue,
    tokens,
)

START = 1_800_000_000.0
TF = Timeframe.M1
USDC_EACH = 1_000  # each user's deposit


async def make_users(
    db: Database, vault: Vault, network: SimNetwork, clock: ManualClock, count: int
) -> None:
    """`count` vault users, sealed and funded, written in one statement (setup, not timed)."""
    usdc = Pubkey.from_string(network.token("USDC").mint)
    now = datetime.fromtimestamp(clock.now(), UTC)
    rows = []
    for n in range(count):
        user_id = str(uuid.uuid4())
        sealed, _key = vault.create(user_id)
        owner = Pubkey.from_string(sealed.pubkey)
        network.ledger.airdrop(owner, LAMPORTS_PER_SOL // 10)
        network.ledger.set_token_balance(owner, usdc, USDC_EACH * 10**6)
        who = identity.Identity(user_id, f"user_{n:05d}", None, sealed.pubkey)
        rows.append(
            {
                "id": user_id,
                "username": who.username,
                "identity_mac": identity.mac(vault.key, who),
                "wallet_pubkey": sealed.pubkey,
                "custody": "vault",
                "encrypted_private_key": sealed.sealed,
                "master_key_id": sealed.key_id,
                "risk_tier": "aggressive",
                "portfolio_value": Decimal(0),
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
        )
    async with db.session() as s:
        await keycheck.check(s, vault.key, register=True)
        await s.execute(insert(UserRow), rows)


@dataclass
class Bench:
    """A started engine over `users` funded vault users, the first candles open: the next
    tick closes them and every user gets one entry (`closing_tick`)."""

    engine: Engine
    db: Database
    clock: ManualClock
    custody: CustodyService
    done_at: list[float]  # perf_counter of each entry's confirmation


async def prepared(users: int, token_count: int, folder: Path, venue: str = "in-process") -> Bench:
    every = tokens(token_count, liquidity_usd=5e9)  # deep enough for 10,000 buyers at once
    clock = ManualClock(START)
    network = SimNetwork.create(
        tokens=every, clock=clock, seed=1, history_seconds=3600, wallet_sol=1, wallet_usdc=0
    )
    url = f"sqlite:///{folder / 'fanout.db'}"
    await schema.prepare(url)
    db = Database(url)
    key = MasterKey.generate()
    limits = DecryptLimits(per_user=10, overall=10 * users + 100)
    vault = Vault(key, DecryptGuard(limits))
    await make_users(db, vault, network, clock, users)
    network.save(folder / "sim-state.json")  # as `solbot run` does: from here on, journaled

    jupiter = timed_venue(network, clock, venue, Stopwatch())
    chain = LiteSvmChain(network.ledger, clock)
    executor = Executor(db, jupiter, chain, clock, decimals={t.mint: t.decimals for t in every})
    custody = CustodyService(db, clock, key, vault)
    roster = Roster(db=db, clock=clock, chain=chain, quote=every[0], custody=custody)
    done_at: list[float] = []

    def on_event(event: Event) -> None:
        if event.kind == "entry":
            done_at.append(time.perf_counter())

    engine = Engine(
        tokens=every[2:],
        quote=every[0],
        strategy=EnterEverything(),
        feed=JupiterPriceFeed(jupiter),
        executor=executor,
        chain=chain,
        db=db,
        clock=clock,
        exits=ExitRules(),
        timeframe=TF,
        roster=roster,
        on_event=on_event,
        max_price_age=3600.0,
    )
    await engine.start()
    tune_collector()  # as `solbot run` does once the engine has started
    for account in engine.accounts:  # one position each: one order per user
        account.gate.set_limits(replace(account.gate.limits, max_open_positions=1))
    await engine.tick()  # opens the first candles
    return Bench(engine, db, clock, custody, done_at)


async def closing_tick(bench: Bench, users: int) -> dict[str, float]:
    """The tick that closes the candles: 20 signals, one entry for every user."""
    bench.clock.advance(TF.seconds)
    began = time.perf_counter()
    await bench.engine.tick()
    total = time.perf_counter() - began
    if len(bench.done_at) != users:
        raise SystemExit(f"only {len(bench.done_at)} of {users} users' orders confirmed")
    latency = sorted(t - began for t in bench.done_at)
    return {
        "total": total,
        "p50": statistics.median(latency),
        "p99": latency[min(len(latency) - 1, int(0.99 * len(latency)))],
        "max": latency[-1],
    }


async def one_candle(
    users: int, token_count: int, folder: Path, venue: str = "in-process"
) -> dict[str, float]:
    bench = await prepared(users, token_count, folder, venue)
    try:
        return await closing_tick(bench, users)
    finally:
        await bench.db.dispose()


def decrypt_and_sign_seconds(samples: int = 2000) -> float:
    guard = DecryptGuard(DecryptLimits(per_user=10**9, overall=10**9))
    vault = Vault(MasterKey.generate(), guard)
    sealed, _ = vault.create("u")
    signer = vault.signer("u", sealed.pubkey, sealed.sealed)
    message = bytes(range(256)) * 2
    with Reservation(guard, {"u": 10**9}, {}):  # as granted to a group: taken in memory
        return seconds_per_call(lambda: signer.sign_message(message), samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, action="append", help="repeatable (default 1000)")
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument(
        "--venue",
        choices=VENUES,
        action="append",
        help="the sim's Jupiter in process (what `solbot run` embeds; default) or over HTTP "
        "(httpx's ASGI transport); repeat to run both, alternately",
    )
    args = parser.parse_args()
    unit = decrypt_and_sign_seconds()
    print(f"one decrypt + one signature (vault): {unit * 1e6:.0f} µs")
    for users in args.users or [1000]:
        for venue in args.venue or ["in-process"]:
            with tempfile.TemporaryDirectory() as folder:
                figures = asyncio.run(one_candle(users, args.tokens, Path(folder), venue))
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(
                f"{users:,} users × {args.tokens} tokens, venue {venue}: "
                f"all acted on in {figures['max']:.2f} s (the last user's order confirmed; "
                f"{figures['max'] / users * 1e3:.2f} ms a user); latency p50 "
                f"{figures['p50']:.2f} s, p99 {figures['p99']:.2f} s; the whole tick, with what "
                f"it does after the fills, {figures['total']:.2f} s; peak RSS so far "
                f"{rss_mb:.0f} MB (target: 10,000 users < 10 s, < 400 MB)"
            )


if __name__ == "__main__":
    main()
