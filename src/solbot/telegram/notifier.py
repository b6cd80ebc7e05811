"""Notifications: what the trading loop does for a user, told in their chat, as they chose.

The loop reports events (`engine.Event`) as they happen; the notifier queues them and sends them
from a task of its own, so a slow Telegram never slows a tick. Each user's switches (`/settings`,
the seed's NotificationSettings) decide: trades opened (`notify_trade`), positions closed with
their PnL (`notify_exit`), circuit breakers (`notify_breaker`); pauses and resumptions are always
told, and so are deposits, a performance fee paid, a quarantine (orders that kept failing, see
`solbot.quarantine`) and a position closed because its tokens left the wallet. Alerts about the
vault (decryption bursts, a master key rotated under the running bot, a user row refused for its
identity, a fee payment that failed) go to the operator; a quarantine goes to the operator too.
The daily summary (`notify_daily`) is sent at `SOLBOT_DAILY_SUMMARY_UTC` with the equity curve.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from solders.pubkey import Pubkey
from sqlalchemy import select
from telegram import Bot

from solbot import daily
from solbot.events import OPERATOR_ALERTS, Event
from solbot.store.balances import Equity
from solbot.store.tables import UserRow
from solbot.telegram.alerts import OperatorAlerts
from solbot.telegram.charts import equity_png
from solbot.telegram.services import BotServices
from solbot.telegram.texts import sentence
from solbot.telegram.wallet_value import wallet_value

log = logging.getLogger(__name__)

SWITCH_OF_KIND = {"entry": "notify_trade", "exit": "notify_exit", "breaker": "notify_breaker"}
ALWAYS = {
    "paused",
    "resumed",
    "unfunded",
    "funded",
    "quarantined",
    "moved_out",
    "withdrawal",
    "fee",
    "deposit",
    "close_dropped",
}
USER_AND_OPERATOR = ALWAYS & OPERATOR_ALERTS  # to the user too (a quarantine needs both)
ICONS = {
    "entry": "🟢",
    "exit": "🔴",
    "breaker": "⛔",
    "paused": "⏸",
    "resumed": "▶️",
    "unfunded": "💸",
    "funded": "✅",
    "quarantined": "🚫",
    "moved_out": "📤",
    "withdrawal": "💸",
    "fee": "🧾",
    "deposit": "📥",
    "close_dropped": "↩️",
}


class Notifier:
    def __init__(self, services: BotServices, bot: Bot, alerts: OperatorAlerts) -> None:
        self.s = services
        self.bot = bot
        self.alerts = alerts
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.check_seconds = 1.0
        self._due = 0.0

    def on_event(self, event: Event) -> None:
        """The loop's event hook: queued, never awaited by the loop."""
        if event.kind in SWITCH_OF_KIND or event.kind in ALWAYS or event.kind in OPERATOR_ALERTS:
            self._queue.put_nowait(event)

    def start(self) -> None:
        self._due = self._next_due(self.s.clock.now())  # the first summary after this moment
        self._tasks = [
            asyncio.ensure_future(self._drain()),
            asyncio.ensure_future(self._daily()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def flush(self) -> None:
        """Wait until every queued event has been handled (tests, shutdown)."""
        await self._queue.join()

    # ------------------------------------------------------------------ events
    async def _drain(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._tell(event)
            except Exception:  # a failed message must not stop the next ones
                log.exception("notification %s failed", event.kind)
            finally:
                self._queue.task_done()

    async def _tell(self, event: Event) -> None:
        if event.kind in OPERATOR_ALERTS:
            await self.alerts.alert(event.text, user=event.user_id or "", kind=event.kind)
            self.sent += 1
            if event.kind not in USER_AND_OPERATOR:
                return
        if event.user_id is None:
            return
        async with self.s.db.session() as s:
            user = await s.get(UserRow, event.user_id)
        if user is None or user.telegram_id is None:
            return
        switch = SWITCH_OF_KIND.get(event.kind)
        if switch is not None and not getattr(user, switch):
            return
        text = sentence(event.text)
        await self.bot.send_message(user.telegram_id, f"{ICONS.get(event.kind, '')} {text}")
        self.sent += 1

    # ------------------------------------------------------------------ the daily summary
    async def _daily(self) -> None:
        """Send the summaries when the bot's clock passes the summary time. The clock is
        looked at every `check_seconds` of real time rather than slept on: the bot's clock may
        be simulated (accelerated, or moved by hand in tests)."""
        while True:
            await asyncio.sleep(self.check_seconds)
            now = self.s.clock.now()
            if now < self._due:
                continue
            self._due = self._next_due(now)
            try:
                await self.send_daily_summaries()
            except Exception:
                log.exception("daily summaries failed")

    def _next_due(self, now: float) -> float:
        return daily.next_due(now, self.s.settings.daily_summary_utc)

    async def _summary(self, user: UserRow, now: float, quote: str) -> None:
        async with self.s.db.session() as s:
            day = await daily.day_of(s, user.id, now)
            curve = await Equity(s, self.s.clock).curve(user.id, now - 7 * 86_400)
        value = Decimal(user.portfolio_value)  # the loop's last mark
        if self.s.chain is not None:  # every asset in the wallet, when each has a price here
            held = await wallet_value(self.s, Pubkey.from_string(user.wallet_pubkey))
            if not held.unpriced:
                value = held.total
        text = f"Your day: {day.text(value, quote)}. The chart shows the last 7 days."
        png = equity_png(curve, quote, f"{user.username}: the last 7 days")
        assert user.telegram_id is not None
        await self.bot.send_photo(user.telegram_id, photo=png, caption=text)

    async def send_daily_summaries(self) -> int:
        """Each subscribed user's day: value, PnL, trades, and the week's equity curve."""
        now = self.s.clock.now()
        quote = self.s.settings.quote
        async with self.s.db.session() as s:
            users = [
                u
                for u in await s.scalars(select(UserRow).where(UserRow.telegram_id.is_not(None)))
                if u.notify_daily
            ]
        sent = 0
        for user in users:
            try:  # one user's failure (a blocked bot, an RPC error) is not everyone's
                await self._summary(user, now, quote)
                sent += 1
            except Exception as exc:
                log.warning("daily summary of %s failed: %s", user.username, exc)
        return sent
