"""The console lines of `solbot run` from a small world's real events: a failed order's line
names its user and says why it failed, word for word; the status line says when the first
signal can come while the strategy warms up, and the first signal comes then."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from solbot.cli.run_view import event_line, status_line
from solbot.domain import RiskLimits
from solbot.events import Event
from solbot.sim.network import SimNetwork

from .small_world import START, TF, EnterOnEveryBar, small_world

LIMITS = RiskLimits(position_size_pct=1.0, max_position_pct=1.0, max_open_positions=5)
REASON = "[RFQ] quote expired at the maker"  # brackets: console markup must not eat them


class ExpiringQuotes(httpx.AsyncBaseTransport):
    """The sim's Jupiter app, but every execute answers that the quote expired."""

    def __init__(self, network: SimNetwork) -> None:
        self.inner = httpx.ASGITransport(app=network.jupiter_app())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/swap/v2/execute":
            body = {"status": "Failed", "code": -2003, "error": REASON}
            return httpx.Response(200, json=body)
        return await self.inner.handle_async_request(request)


def shown(*renderables: Any) -> str:
    console = Console(record=True, width=300, file=io.StringIO())
    for renderable in renderables:
        console.print(renderable)
    return console.export_text()


async def test_a_failed_order_is_shown_with_its_user_and_its_reason(tmp_path: Path) -> None:
    events: list[Event] = []
    world = await small_world(
        tmp_path,
        users=1,
        limits=LIMITS,
        symbols=("JUP",),
        venue=lambda network, _clock: httpx.AsyncClient(
            transport=ExpiringQuotes(network), base_url="http://sim"
        ),
        on_event=events.append,
    )
    await world.engine.tick()
    world.clock.advance(TF.seconds)
    await world.engine.tick()  # the candle closes: the entry fails
    await world.db.dispose()

    failed = [e for e in events if e.kind == "failed"]
    assert len(failed) == 1
    assert failed[0].user == "user_0"
    line = shown(event_line(failed[0]))
    assert "failed  user_0 JUP buy: failed:" in line
    assert "quote expired" in line
    assert REASON in line


class WarmingUp(EnterOnEveryBar):
    """Enters on every bar, once it has seen five candles."""

    @property
    def warmup(self) -> int:
        return 4


def minute(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


async def test_the_status_says_when_the_first_signal_can_come_and_it_comes_then(
    tmp_path: Path,
) -> None:
    events: list[Event] = []
    world = await small_world(
        tmp_path,
        users=1,
        limits=LIMITS,
        symbols=("JUP", "BONK"),
        venue=lambda network, _clock: network.jupiter_in_process(),
        on_event=events.append,
        strategy=WarmingUp(),
    )
    engine, clock = world.engine, world.clock
    assert engine.strategy.samples_needed == 5
    first = START + 5 * TF.seconds  # the close of the fifth candle from now
    await engine.tick()
    status = shown(status_line(engine, clock.now()))
    assert f"warming up: first signal at {minute(first)} UTC, in 5 more 1m candles" in status
    statuses = []
    while not any(e.kind == "entry" for e in events):
        clock.advance(TF.seconds)
        signal_tick = clock.now()
        await engine.tick()
        statuses.append(shown(status_line(engine, clock.now())))
    await world.db.dispose()

    assert signal_tick == first  # the tick at the predicted time brought the first signal
    assert f"first signal at {minute(first)} UTC, in 1 more 1m candle" in statuses[-2]
    assert "warming up" not in statuses[-1]
