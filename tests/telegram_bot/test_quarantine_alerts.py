"""A quarantine reaches the user and the operator chat; a position closed as moved out reaches
the user. Neither can be switched off (they need someone to act)."""

from __future__ import annotations

from solbot.events import Event

from .conftest import ALICE, OPERATOR, World
from .test_basics import onboard
from .test_notifications import user_of


async def test_a_quarantine_is_told_to_the_user_and_the_operator(world: World) -> None:
    await onboard(world, ALICE)
    user = await user_of(world, ALICE)
    async with world.services.db.session() as s:  # every switch off: still told
        row = await s.get(type(user), user.id)
        assert row is not None
        row.notify_trade = row.notify_exit = row.notify_breaker = False
    notifier = world.bot.notifier
    now = world.clock.now()
    text = "tg_1 JUP exits quarantined after 8 failed attempts (last: quote expired)"
    notifier.on_event(Event(now, user.id, "quarantined", text))
    notifier.on_event(Event(now, user.id, "moved_out", "BONK left the wallet: closed as moved out"))
    await notifier.flush()
    mine = [c.text for c in world.api.messages_to(ALICE)]
    assert any(text in t for t in mine)
    assert any("BONK left the wallet" in t for t in mine)
    operator = [c.text for c in world.api.messages_to(OPERATOR)]
    assert any(text in t for t in operator)
    assert not any("BONK left the wallet" in t for t in operator)
