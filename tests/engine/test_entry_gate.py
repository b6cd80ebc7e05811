"""The breakers' answer to a user's entries in one tick: the first token that is turned down
turns down the rest alike (the verdict does not depend on the token), counted per token and
told in one line per reason."""

from __future__ import annotations

from pathlib import Path

from solbot.domain import RiskLimits
from solbot.events import Event

from .small_world import TF, small_world


async def test_the_rest_of_a_users_entries_are_turned_down_with_the_first(tmp_path: Path) -> None:
    events: list[Event] = []
    world = await small_world(
        tmp_path,
        users=1,
        limits=RiskLimits(position_size_pct=0.1, max_position_pct=0.1, max_open_positions=1),
        symbols=("JUP", "BONK", "WIF"),
        venue=lambda network, _clock: network.jupiter_in_process(),
        on_event=events.append,
    )
    engine = world.engine
    await engine.tick()  # opens the first candles
    world.clock.advance(TF.seconds)
    await engine.tick()  # they close: three entry signals, room for one position
    await world.db.dispose()

    assert engine.stats.entries == 1
    assert engine.stats.blocked == {"max open positions": 2}
    told = [e.text for e in events if e.kind == "blocked"]
    assert told == ["BONK, WIF: already 1 open positions (the maximum)"]
