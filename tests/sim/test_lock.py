"""One owner per sim world: a second opener is refused with a one-line reason."""

from pathlib import Path

import pytest

from solbot.errors import UserError
from solbot.sim.lock import SimLock


def test_a_second_owner_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    state = tmp_path / "sim-state.json"
    first = SimLock.acquire(state)
    with pytest.raises(UserError, match="in use by another solbot process"):
        SimLock.acquire(state)
    first.release()
    SimLock.acquire(state).release()
    first.release()  # releasing twice is harmless
