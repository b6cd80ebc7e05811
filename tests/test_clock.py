"""Clocks: the manual one moves only when told; the scaled one runs N times faster."""

import pytest

from solbot.clock import ManualClock, ScaledClock


async def test_manual_clock_sleep_advances_instantly():
    clock = ManualClock(100.0)
    await clock.sleep(3600)
    assert clock.now() == 3700.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)


async def test_scaled_clock_runs_faster_than_the_wall():
    clock = ScaledClock(start=1_000.0, speed=600.0)
    before = clock.now()
    await clock.sleep(60.0)  # a simulated minute: 0.1 s of wall time
    assert clock.now() - before >= 60.0


def test_scaled_clock_rejects_a_non_positive_speed():
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(0.0, 0.0)
