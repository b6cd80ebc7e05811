"""The back-off and quarantine rule (`solbot.quarantine`) over its table, on both databases:
an order that keeps failing waits exponentially longer (capped) on the bot's clock, is
quarantined after N failures and told once; a success or a re-arm clears it; a restart keeps
it all."""

from __future__ import annotations

import pytest

from solbot.clock import ManualClock
from solbot.execution.executor import Outcome, SwapIntent
from solbot.quarantine import ANY, BackoffPolicy, OrderGuard
from solbot.store.db import Database
from solbot.store.holds import OrderHolds
from solbot.store.states import OrderState, Purpose, Side

from .support import BONK, JUP, USDC

POLICY = BackoffPolicy(first_delay=10.0, max_delay=60.0, max_attempts=5)


def sell(user: str = "u1", token: str = "JUP") -> SwapIntent:
    mint = {"JUP": JUP, "BONK": BONK}[token]
    return SwapIntent(user, token, Side.SELL, mint, USDC, 1_000, Purpose.EXIT, f"{token}:exit")


def buy(user: str = "u1", token: str = "JUP") -> SwapIntent:
    mint = {"JUP": JUP, "BONK": BONK}[token]
    return SwapIntent(user, token, Side.BUY, USDC, mint, 1_000, Purpose.ENTRY, f"{token}:entry")


def failed(error: str = "quote expired", *, key_unusable: bool = False) -> Outcome:
    return Outcome("o", OrderState.FAILED, error=error, key_unusable=key_unusable)


CONFIRMED = Outcome("o", OrderState.CONFIRMED, 1_000, 2_000)


async def guard_on(db: Database, clock: ManualClock) -> OrderGuard:
    guard = OrderGuard(db, clock, POLICY)
    await guard.load()
    return guard


def test_the_delay_doubles_from_the_first_and_is_capped() -> None:
    assert [POLICY.delay(n) for n in range(1, 7)] == [10.0, 20.0, 40.0, 60.0, 60.0, 60.0]
    assert POLICY.delay(10_000) == 60.0  # no overflow however long it fails
    with pytest.raises(ValueError, match="max_attempts"):
        BackoffPolicy(max_attempts=0)


async def test_a_failing_order_backs_off_then_is_quarantined_and_told_once(
    db: Database, clock: ManualClock
) -> None:
    guard = await guard_on(db, clock)
    assert guard.allows("u1", "JUP", Side.SELL)
    told = []
    for n in range(1, POLICY.max_attempts + 1):
        told += await guard.record([(sell(), failed(f"attempt {n}"))])
        hold = guard.hold("u1", "JUP", Side.SELL)
        assert hold is not None
        assert (hold.failures, hold.last_error) == (n, f"attempt {n}")
        if n < POLICY.max_attempts:
            assert not hold.quarantined
            clock.advance(POLICY.delay(n) - 1)
            assert not guard.allows("u1", "JUP", Side.SELL)  # still backing off
            clock.advance(1)
            assert guard.allows("u1", "JUP", Side.SELL)
    assert [(h.user_id, h.token, h.side, h.quarantined) for h in told] == [
        ("u1", "JUP", "sell", True)
    ]
    clock.advance(86_400)
    assert not guard.allows("u1", "JUP", Side.SELL)  # quarantined: no more orders, ever
    # Only that position's exits: the user's other tokens, the other side, other users trade.
    assert guard.allows("u1", "BONK", Side.SELL)
    assert guard.allows("u1", "JUP", Side.BUY)
    assert guard.allows("u2", "JUP", Side.SELL)
    assert [h.token for h in guard.quarantined] == ["JUP"]

    restarted = await guard_on(db, clock)  # a restart resets nothing
    hold = restarted.hold("u1", "JUP", Side.SELL)
    assert hold is not None
    assert (hold.failures, hold.quarantined) == (POLICY.max_attempts, True)
    assert not restarted.allows("u1", "JUP", Side.SELL)
    assert await restarted.record([(sell(), failed())]) == []  # told already: never again


async def test_a_success_clears_the_back_off(db: Database, clock: ManualClock) -> None:
    guard = await guard_on(db, clock)
    await guard.record([(buy(), failed()), (sell(token="BONK"), failed())])
    clock.advance(POLICY.delay(1))
    await guard.record([(buy(), CONFIRMED)])
    assert guard.hold("u1", "JUP", Side.BUY) is None
    assert guard.hold("u1", "BONK", Side.SELL) is not None  # another key: untouched
    restarted = await guard_on(db, clock)
    assert restarted.hold("u1", "JUP", Side.BUY) is None
    assert restarted.hold("u1", "BONK", Side.SELL) is not None


async def test_a_key_that_cannot_sign_holds_the_users_whole_trading(
    db: Database, clock: ManualClock
) -> None:
    guard = await guard_on(db, clock)
    broken = failed("not signed: the wallet cannot be opened", key_unusable=True)
    # Every order of a tick fails alike; the tick counts as one attempt.
    told = await guard.record([(sell(), broken), (sell(token="BONK"), broken), (buy(), broken)])
    hold = guard.hold("u1", ANY, ANY)
    assert hold is not None
    assert hold.failures == 1
    assert hold.whole_user
    for token, side in (("JUP", Side.SELL), ("BONK", Side.BUY), ("WIF", Side.BUY)):
        assert not guard.allows("u1", token, side)
    assert guard.allows("u2", "JUP", Side.SELL)
    for _ in range(POLICY.max_attempts - 1):
        clock.advance(POLICY.max_delay)
        assert guard.allows("u1", "JUP", Side.SELL)
        told += await guard.record([(sell(), broken)])
    assert [(h.token, h.side) for h in told] == [(ANY, ANY)]
    assert "alice: all trading quarantined" in told[0].describe("alice")
    clock.advance(86_400)
    assert not guard.allows("u1", "BONK", Side.BUY)


async def test_a_rearm_from_another_process_reaches_the_running_guard(
    db: Database, clock: ManualClock
) -> None:
    guard = await guard_on(db, clock)
    for _ in range(POLICY.max_attempts):
        await guard.record([(sell(), failed())])
        clock.advance(POLICY.max_delay)
    assert not guard.allows("u1", "JUP", Side.SELL)
    async with db.session() as s:  # what `solbot rearm -u ... -t JUP` does
        cleared = await OrderHolds(s, clock).clear("u1", "JUP")
    assert [(c.token, c.side, c.failures) for c in cleared] == [("JUP", "sell", 5)]
    await guard.refresh()
    assert guard.allows("u1", "JUP", Side.SELL)
    assert guard.hold("u1", "JUP", Side.SELL) is None
    # Counting starts over: the next failure waits the first delay again.
    await guard.record([(sell(), failed())])
    hold = guard.hold("u1", "JUP", Side.SELL)
    assert hold is not None
    assert hold.failures == 1
    assert hold.retry_at == clock.now() + POLICY.first_delay
