"""A chain that fails calls now and then, beyond what `RetryingChain` absorbs: the loop skips the
tick instead of dying, and finishes from the journal every order the failure cut short.

In-process on the embedded sim with a manual clock (deterministic, and fast): the engine's and
the executor's chain fails one call in twenty, with no retry, so ticks fail mid-way at every
step of an order (before quoting, between signing and sending, between landing and settling).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.chain.port import Chain, ChainUnavailableError
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.events import Event
from solbot.runner import OPERATOR, build
from solbot.runtime import RunOptions
from solbot.store.orders import Orders
from solbot.store.positions import Positions
from solbot.store.states import OrderState
from solbot.store.tables import OrderRow, TradeRow

START = 1_800_000_000.0
HOURS = 6 * 3600.0


class FlakyChain:
    """`inner`, except that each call fails first with probability `rate` (seeded)."""

    def __init__(self, inner: Chain, rate: float, seed: int) -> None:
        self.inner = inner
        self.rate = rate
        self.rng = random.Random(seed)
        self.failures = 0

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.inner, name)

        async def call(*args: Any) -> Any:
            if self.rng.random() < self.rate:
                self.failures += 1
                raise ChainUnavailableError(f"{name}: node is behind (injected)")
            return await method(*args)

        return call


async def test_a_failing_chain_skips_ticks_and_leaves_no_order_unfinished(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        network="sim",
        timeframe="5m",
        risk_tier="aggressive",
        poll_seconds=60.0,
        sim_seed=3,
        tokens=Settings().tokens,
    )
    events: list[Event] = []
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=HOURS), events.append, clock) as runtime:
        flaky = FlakyChain(runtime.chain, rate=0.1, seed=11)
        runtime.engine.chain = flaky
        runtime.engine.executor.chain = flaky
        summary = await runtime.run()
        owner = runtime.signer.pubkey()
        async with runtime.db.session() as s:
            pending = await Orders(s, clock).pending(OPERATOR)
            confirmed = set(
                await s.scalars(select(OrderRow.id).where(OrderRow.state == "confirmed"))
            )
            traded = list(await s.scalars(select(TradeRow.order_id)))
            positions = await Positions(s, clock).all_open(OPERATOR)
        held = {
            p.token: await runtime.chain.token_balance(owner, Pubkey.from_string(p.mint))
            for p in positions
        }
        skipped = runtime.chain_failures

    assert summary.ended - summary.started >= HOURS  # it kept going to the end
    assert skipped > 0
    assert flaky.failures >= skipped
    recovered = [e for e in events if e.kind == "recovered"]
    assert recovered, "no tick failed with an order in flight"
    assert any(OrderState.CONFIRMED.value in e.text for e in recovered)
    assert pending == []
    assert summary.entries > 0
    assert {p.token: p.quantity for p in positions} == held
    assert sorted(traded) == sorted(confirmed)  # one trade per confirmed order, no other
    assert summary.consistent
