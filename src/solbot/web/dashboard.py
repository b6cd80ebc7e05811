"""The dashboard inside `solbot run --web`: the loop's live state for the pages (its counters,
warm-up, the last prices) and the one way to sell a position from a page, asking the loop.
Started by the runtime after the start-up recovery, stopped with it."""

from __future__ import annotations

import asyncio
import logging
import threading
from decimal import Decimal

from solbot.asgi_serving import GRACE_SECONDS, ServedApp, serve_app
from solbot.clock import Clock, WallClock
from solbot.config import Settings
from solbot.engine import Engine
from solbot.errors import UserError
from solbot.events import warm_up
from solbot.services.closing import CloseRequest
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.types import utc_from_timestamp
from solbot.web.app import create_app
from solbot.web.models import LoopStatus
from solbot.web.services import WebServices

log = logging.getLogger(__name__)
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
        raise UserError(
            f"the dashboard cannot listen on {cfg.web_host}:{port} ({exc.strerror or exc}): "
            "choose another port (--port or SOLBOT_WEB_PORT), or stop what holds it"
        ) from None


class EngineView:
    """The engine as the dashboard's `LoopView`, across threads: the loop publishes a
    snapshot of its state after each tick (on its own thread, between ticks: nothing is read
    while a tick changes it), and a close is handed to the loop's thread to take."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._snapshot: LoopStatus | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def publish(self) -> None:
        """Take a snapshot now (the loop's thread calls this, between ticks)."""
        stats, now = self.engine.stats, self.clock.now()
        self._loop = asyncio.get_running_loop()
        self._snapshot = LoopStatus(
            now=utc_from_timestamp(now),
            ticks=stats.ticks,
            entries=stats.entries,
            exits=stats.exits,
            failed=stats.failed,
            warming_up=warm_up(self.engine, now) or None,
            prices={symbol: Decimal(price) for symbol, price in self.engine.prices.items()},
        )

    def status(self) -> LoopStatus:
        if self._snapshot is None:  # before the first tick: published at start
            raise UserError("the trading loop is starting; try again in a moment")
        return self._snapshot

    @property
    def close_position(self) -> CloseRequest:
        def close(user_id: str, token: str) -> None:
            if self._loop is None:
                raise UserError("the trading loop is starting; try again in a moment")
            self._loop.call_soon_threadsafe(self.engine.request_exit, user_id, token)

        return close


class Dashboard:
    """The dashboard on a thread of its own, with its own event loop and its own database
    connections: a page is answered while a tick runs (a fan-out of thousands of users keeps
    the loop's thread busy for seconds; `benchmarks/dashboard.py`), and the tick does not wait
    for pages. What it shares with the loop is the database (its reads take no write lock),
    the engine's published snapshot and the loop's close requests."""

    def __init__(
        self, settings: Settings, custody: CustodyService, clock: Clock, engine: Engine
    ) -> None:
        self.settings = settings
        self.view = EngineView(engine, clock)
        self._url = custody.db.url
        self._key = custody.key
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.url: str | None = None

    async def start(self) -> None:
        self.view.publish()
        self._thread = threading.Thread(target=self._main, name="dashboard", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait)
        if self._failed is not None:
            self._thread.join()
            self._thread = None
            raise self._failed

    def publish(self) -> None:
        """After each tick (the runtime calls it)."""
        if self._thread is not None:
            self.view.publish()

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(thread.join, GRACE_SECONDS + 3)
        self.url = None

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            if not self._ready.is_set():
                self._failed = exc
                self._ready.set()
            else:
                log.exception("the dashboard stopped")

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        db = Database(self._url)
        try:
            custody = CustodyService(db, WallClock(), self._key)  # audits on the wall clock
            services = WebServices(self.settings, custody, self._clock, loop=self.view)
            served = await serve_dashboard_app(services, self.settings.web_port)
            self.url = served.url
            self._ready.set()
            try:
                await self._stop.wait()
            finally:
                await served.stop()
        finally:
            await db.dispose()
