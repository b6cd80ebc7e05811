"""The webhooks beside the running loop: its events (and a daily summary per user) become
deliveries, and deliveries go to their endpoints, from tasks of their own so that a slow or
dead endpoint never slows a tick.

An event is routed to the operator's webhooks that want its group (every user's events, and
the alerts) and to the webhooks of the user it is about (their entries, exits, breakers and
summary). It is written to the outbox before anything is sent, so a crash, an outage or a
restart loses nothing that was written: the next run delivers it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import httpx
from sqlalchemy import select

from solbot import daily
from solbot.clock import Clock
from solbot.config import Settings
from solbot.events import Event
from solbot.store.db import Database
from solbot.store.tables import UserRow
from solbot.store.types import utc_from_timestamp
from solbot.wallet.master import MasterKey
from solbot.wallet.sealed_text import Unsealed
from solbot.webhooks import formats, registry, sender
from solbot.webhooks.addresses import AddressError, open_address
from solbot.webhooks.outbox import Delivery, Outbox

log = logging.getLogger(__name__)

IDLE_SECONDS = 5.0  # the longest the sender sleeps without a wake-up
ROTATED_WAIT = 300.0  # an address sealed under a newer key waits for the restart


class WebhookDispatcher:
    def __init__(
        self,
        db: Database,
        key: MasterKey,
        settings: Settings,
        clock: Clock,
        wall: Clock,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.db = db
        self.key = key
        self.settings = settings
        self.clock = clock  # the trading clock: the summary's time of day follows it
        self.outbox = Outbox(db, wall)
        self.wall = wall
        self.http = http or sender.client()
        self.public_http = sender.client(public_only=True)  # the dashboard's webhooks
        self.check_seconds = 1.0
        self.delivered = 0
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._sending = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._due = 0.0

    def on_event(self, event: Event) -> None:
        """The loop's event hook: queued, never awaited by the loop."""
        if event.kind in formats.GROUP_OF:
            self._queue.put_nowait(event)

    def start(self) -> None:
        self._due = daily.next_due(self.clock.now(), self.settings.daily_summary_utc)
        self._tasks = [
            asyncio.create_task(self._record(), name="webhooks-record"),
            asyncio.create_task(self._send(), name="webhooks-send"),
            asyncio.create_task(self._daily(), name="webhooks-daily"),
        ]

    async def stop(self) -> None:
        """Everything queued is written to the outbox (the next run sends what is left)."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self._queue.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.http.aclose()
        await self.public_http.aclose()

    async def flush(self) -> None:
        """Record what is queued and send what is due now (tests)."""
        if self._tasks:
            await self._queue.join()
        else:
            await self._record_queued()
        await self.send_due()

    async def _record_queued(self) -> None:
        """What is queued, recorded now (without the recording task: tests, a stop)."""
        events = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
            self._queue.task_done()
        if events:
            await self._write(events)

    # ------------------------------------------------------------------ events → outbox
    async def _record(self) -> None:
        while True:
            events = [await self._queue.get()]
            while not self._queue.empty():
                events.append(self._queue.get_nowait())
            try:
                await self._write(events)
                self._wake.set()
            except Exception:  # the database's moment: these events are not delivered
                log.exception("webhook events not recorded: %s", [e.kind for e in events])
            finally:
                for _ in events:
                    self._queue.task_done()

    async def _write(self, events: list[Event]) -> None:
        """The deliveries `events` make, written to the outbox."""
        hooks = await registry.load(self.db)
        await self.outbox.owe([item for e in events for item in self._routed(hooks, e)])

    def _routed(self, hooks: list[registry.Hook], event: Event) -> list[tuple[str, str, str]]:
        group = formats.GROUP_OF[event.kind]
        at = utc_from_timestamp(event.time)
        world = self.settings.world.name
        items = []
        for hook in hooks:
            if not hook.wants(group):
                continue
            if hook.user_id is not None and (hook.user_id != event.user_id or group == "alert"):
                continue
            body = formats.body(hook.kind, event.kind, event.user or None, event.text, at, world)
            items.append((hook.id, event.kind, json.dumps(body, ensure_ascii=False)))
        return items

    # ------------------------------------------------------------------ outbox → endpoints
    async def _send(self) -> None:
        while True:
            try:
                await self.send_due()
                upcoming = await self.outbox.next_due()
            except Exception:
                log.exception("webhook deliveries failed; trying again shortly")
                upcoming = None
            wait = IDLE_SECONDS
            if upcoming is not None:
                wait = min(IDLE_SECONDS, max(0.0, upcoming - self.wall.now()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def send_due(self) -> int:
        """One pass over what is due now; how many were delivered. One pass at a time: two
        would post the same delivery twice."""
        async with self._sending:
            hooks = {hook.id: hook for hook in await registry.load(self.db)}
            done = 0
            silent: set[str] = set()  # endpoints that did not answer: not again this pass
            for delivery in await self.outbox.due():
                hook = hooks.get(delivery.webhook_id)
                if hook is None or hook.id in silent:  # removed meanwhile, or not answering
                    continue
                try:
                    answer = await self._deliver(hook, delivery)
                except Exception:  # one delivery's surprise never stops the others
                    log.exception("webhook %s: a delivery failed", hook.name)
                    await self.outbox.failed(delivery, "internal error (logged)")
                    continue
                if answer.delivered:
                    done += 1
                elif answer.unreachable:
                    silent.add(hook.id)
            self.delivered += done
            return done

    async def _deliver(self, hook: registry.Hook, delivery: Delivery) -> sender.Answer:
        try:
            url = open_address(self.key, hook.id, hook.name, hook.sealed)
        except AddressError as exc:
            # Sealed under another key: rotated while this bot runs, and the restart with the
            # new key sends it. Anything else will not open, ever.
            later = exc.why is Unsealed.OTHER_KEY
            await self.outbox.failed(delivery, str(exc), never=not later, wait=ROTATED_WAIT)
            log.warning("%s", exc)
            return sender.Answer(False, str(exc), never=not later)
        http = self.public_http if hook.public_only else self.http
        answer = await sender.post(http, url, delivery.body)
        if answer.delivered:
            await self.outbox.delivered(delivery.id)
            return answer
        dead = await self.outbox.failed(
            delivery, answer.error, never=answer.never, wait=answer.wait
        )
        if dead:
            log.warning(
                "webhook %s: a %s event was not delivered (%s); `solbot webhook failed` lists it",
                hook.name, delivery.kind, answer.error,
            )  # fmt: skip
        return answer

    # ------------------------------------------------------------------ the daily summary
    async def _daily(self) -> None:
        """The summary events, when the trading clock passes the summary time (looked at
        every `check_seconds`: the clock may be simulated)."""
        while True:
            await asyncio.sleep(self.check_seconds)
            now = self.clock.now()
            if now < self._due:
                continue
            self._due = daily.next_due(now, self.settings.daily_summary_utc)
            try:
                await self.summaries(now)
            except Exception:
                log.exception("webhook summaries failed")

    async def summaries(self, now: float) -> int:
        """A summary event for each user some webhook wants one for; how many."""
        hooks = [h for h in await registry.load(self.db) if h.wants("summary")]
        if not hooks:
            return 0
        everyone = any(h.user_id is None for h in hooks)
        wanted = {h.user_id for h in hooks}
        quote = self.settings.quote
        told = 0
        async with self.db.session(read_only=True) as s:
            users = list(await s.scalars(select(UserRow).order_by(UserRow.created_at)))
            for user in users:
                if not everyone and user.id not in wanted:
                    continue
                day = await daily.day_of(s, user.id, now)
                text = f"your day: {day.text(user.portfolio_value, quote)}"
                self.on_event(Event(now, user.id, "summary", text, user=user.username))
                told += 1
        return told
