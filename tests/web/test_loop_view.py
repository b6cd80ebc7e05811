"""With a running loop behind it (`solbot run --web`), the API shows the loop's counters and
prices, and a close goes to the loop (which alone sells), for the position's owner only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from solbot.services.closing import CloseRequest
from solbot.web.models import LoopStatus
from web.conftest import Site, make_site


class FakeLoop:
    def __init__(self) -> None:
        self.closes: list[tuple[str, str]] = []

    def status(self) -> LoopStatus:
        return LoopStatus(
            now=datetime(2027, 1, 15, 8, tzinfo=UTC),
            ticks=42,
            entries=3,
            exits=1,
            failed=0,
            warming_up=None,
            prices={"JUP": Decimal("0.51")},
        )

    @property
    def close_position(self) -> CloseRequest:
        return lambda user_id, token: self.closes.append((user_id, token))


@pytest.fixture
async def looped(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[Site, FakeLoop]]:
    loop = FakeLoop()
    site = await make_site(db_url, tmp_path / "data", loop)
    try:
        yield site, loop
    finally:
        for client in site.clients:
            await client.aclose()
        await site.db.dispose()


async def test_the_loops_state_and_a_close(looped: tuple[Site, FakeLoop]) -> None:
    site, loop = looped
    alice = await site.signed_in("alice")
    status = (await alice.get("/api/v1/status")).json()
    assert status["loop"]["ticks"] == 42
    (position,) = (await alice.get("/api/v1/users/alice/positions")).json()
    assert position["price_now"] == "0.51"
    done = await alice.post("/api/v1/users/alice/positions/jup/close")
    assert done.json() == {"changed": True, "message": "closing JUP at the next tick"}
    assert loop.closes == [(site.users["alice"].id, "JUP")]
    refused = await alice.post("/api/v1/users/alice/positions/WIF/close")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == "You hold no open WIF position."
    assert (await alice.post("/api/v1/users/bob/positions/JUP/close")).status_code == 403
    assert loop.closes == [(site.users["alice"].id, "JUP")]


async def test_a_close_is_audited_under_whoever_asked(looped: tuple[Site, FakeLoop]) -> None:
    from sqlalchemy import select

    from solbot.store.tables import AuditRow

    site, _loop = looped
    alice = await site.signed_in("alice")
    assert (await alice.post("/api/v1/users/alice/positions/JUP/close")).status_code == 200
    async with site.db.session() as s:
        rows = [(a.actor, a.action, a.details) for a in await s.scalars(select(AuditRow))]
    assert ("web:alice", "close_request") in [(actor, action) for actor, action, _ in rows]
    assert any(
        '"token":"JUP"' in details for _, action, details in rows if action == "close_request"
    )
