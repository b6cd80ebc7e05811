"""The dashboard inside `solbot run --web`: the loop's live state for the pages (its counters,
warm-up, the last prices) and the one way to sell a position from a page, asking the loop.
Started by the runtime after the start-up recovery, stopped with it."""

from __future__ import annotations

from decimal import Decimal

from solbot.asgi_serving import ServedApp, serve_app
from solbot.clock import Clock
from solbot.config import Settings
from solbot.engine import Engine
from solbot.errors import UserError
from solbot.events import warm_up
from solbot.services.closing import CloseRequest
from solbot.services.custody import CustodyService
from solbot.store.types import utc_from_timestamp
from solbot.web.app import create_app
from solbot.web.models import LoopStatus
from solbot.web.services import WebServices

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def exposure_problem(settings: Settings) -> str | None:
    """Why serving on `web_host` would be unsafe, or None. Beyond this machine the dashboard
    must be reached over https: browsers drop its Secure cookies over plain http (a friend's
    link would be spent for nothing) and the secrets would cross the network in clear."""
    if settings.web_host in LOOPBACK:
        return None
    if settings.web_url and settings.web_url.startswith("https://"):
        return None
    return (
        f"SOLBOT_WEB_HOST={settings.web_host} would serve the dashboard over plain http: keep "
        "127.0.0.1 behind a TLS reverse proxy and set SOLBOT_WEB_URL=https://…"
    )


def serving_problem(host: str, port: int, exc: OSError) -> str:
    return (
        f"the dashboard cannot listen on {host}:{port} ({exc.strerror or exc}): choose another "
        "port (--port or SOLBOT_WEB_PORT), or stop what holds it"
    )


async def serve_dashboard_app(services: WebServices, port: int) -> ServedApp:
    """The dashboard served for `services` on SOLBOT_WEB_HOST:`port`; `UserError` when that is
    unsafe or the port is taken."""
    cfg = services.settings
    problem = exposure_problem(cfg)
    if problem is not None:
        raise UserError(problem)
    try:
        return await serve_app(
            create_app(services),
            cfg.web_host,
            port,
            what="dashboard",
            forwarded_from=cfg.web_trusted_proxy,
        )
    except OSError as exc:
        raise UserError(serving_problem(cfg.web_host, port, exc)) from None


class EngineView:
    """The engine as the dashboard's `LoopView`: read between ticks on the loop's own event
    loop (the server is a task of it), so nothing here races a tick."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def status(self) -> LoopStatus:
        stats, now = self.engine.stats, self.clock.now()
        return LoopStatus(
            now=utc_from_timestamp(now),
            ticks=stats.ticks,
            entries=stats.entries,
            exits=stats.exits,
            failed=stats.failed,
            warming_up=warm_up(self.engine, now) or None,
            prices={symbol: Decimal(price) for symbol, price in self.engine.prices.items()},
        )

    @property
    def close_position(self) -> CloseRequest:
        return self.engine.request_exit


class Dashboard:
    def __init__(
        self, settings: Settings, custody: CustodyService, clock: Clock, engine: Engine
    ) -> None:
        self.settings = settings
        self.services = WebServices(settings, custody, clock, loop=EngineView(engine, clock))
        self.server: ServedApp | None = None

    @property
    def url(self) -> str | None:
        return None if self.server is None else self.server.url

    async def start(self) -> None:
        self.server = await serve_dashboard_app(self.services, self.settings.web_port)

    async def stop(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            await server.stop()
