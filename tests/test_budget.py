"""The per-minute budget: a sliding window per caller, and bounded memory whatever the number
of callers (a client inventing addresses cannot grow it, nor make each count slower)."""

from __future__ import annotations

from solbot.budget import MOST_CALLERS, PerMinute
from solbot.clock import ManualClock


def test_a_sliding_minute_per_caller() -> None:
    clock = ManualClock(0)
    budget = PerMinute(clock, 3)
    assert [budget.take("a") for _ in range(4)] == [True, True, True, False]
    assert budget.take("b")
    assert budget.retry_after("a") == 60.0
    clock.advance(30)
    assert not budget.take("a")
    clock.advance(30.5)
    assert budget.retry_after("a") == 0.0
    assert budget.take("a")


def test_memory_is_bounded_and_the_quietest_caller_goes_first() -> None:
    clock = ManualClock(0)
    budget = PerMinute(clock, 1)
    assert budget.take("kept")
    for n in range(MOST_CALLERS + 500):
        budget.take(n)
        if n % 1000 == 0:
            budget.take("kept")  # active: never the one forgotten
    assert len(budget._recent) == MOST_CALLERS
    assert not budget.take("kept")  # still counted
