"""The operator's alerts are grouped: a flood of commands is one alert at once and one count
when its window closes, not one message per refused command."""

from __future__ import annotations

import asyncio

from .conftest import ALICE, OPERATOR, World
from .test_basics import onboard


def alerts(world: World, about: str) -> list[str]:
    return [c.text for c in world.api.messages_to(OPERATOR) if about in c.text]


async def test_a_flood_of_commands_is_one_alert_and_one_count(world: World) -> None:
    await onboard(world, ALICE)
    for _ in range(50):
        await world.api.reply_to(ALICE, "/help")
    await asyncio.sleep(0.2)
    first = alerts(world, "rate limit")
    assert first == [f"⚠️ solbot alert: user {ALICE} exceeded the command rate limit"]
    world.pass_time(600)  # the window closes: the count goes out, once
    await world.api.wait_for(lambda c: c.chat_id == OPERATOR and "more like it" in c.text)
    await asyncio.sleep(1.2)
    (count,) = [text for text in alerts(world, "rate limit") if "more like it" in text]
    # 20 a minute: /start and its button, 18 of the 50; 32 refused, the first told at once
    assert count.endswith("(and 31 more like it in 10 minutes)")
    assert len(alerts(world, "rate limit")) == 2
