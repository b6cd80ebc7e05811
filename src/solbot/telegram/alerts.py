"""Alerts to the operator, grouped: one message per user and kind per window, with a count.

A flood of 50 commands over the budget used to send the operator 30 identical alerts, which
buries the one that matters. Here the first alert of a kind (for a user) goes out at once;
the ones that follow within `WINDOW_SECONDS` are counted, and when the window closes one
message says how many more there were. The window is wall-clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from telegram import Bot
from telegram.error import TelegramError

from solbot.clock import Clock

log = logging.getLogger(__name__)

WINDOW_SECONDS = 600.0
PREFIX = "⚠️ solbot alert: "


@dataclass
class _Window:
    opened: float
    more: int = 0
    last: str = ""


class OperatorAlerts:
    def __init__(self, bot: Bot, chat_id: int | None, wall: Clock) -> None:
        self.bot = bot
        self.chat_id = chat_id
        self.wall = wall
        self._windows: dict[tuple[str, str], _Window] = {}
        self._task: asyncio.Task[None] | None = None

    async def alert(self, text: str, *, user: str = "", kind: str = "") -> None:
        """Tell the operator `text`, or count it when one of its kind went out this window.
        Without a `kind`, identical texts are one kind."""
        log.warning("alert: %s", text)
        key = (user, kind or text)
        now = self.wall.now()
        window = self._windows.get(key)
        if window is not None and now < window.opened + WINDOW_SECONDS:
            window.more += 1
            window.last = text
            return
        if window is not None and window.more:  # the closed window's count, not lost
            await self._send(_summary(window))
        self._windows[key] = _Window(now)
        await self._send(PREFIX + text)

    async def flush_due(self) -> None:
        """Send the counts of windows that have closed."""
        now = self.wall.now()
        for key, window in list(self._windows.items()):
            if now >= window.opened + WINDOW_SECONDS and self._windows.get(key) is window:
                del self._windows[key]  # before the await: a new window is not this one
                if window.more:
                    await self._send(_summary(window))

    def start(self, poll_seconds: float = 1.0) -> None:
        async def run() -> None:
            while True:
                await asyncio.sleep(poll_seconds)
                try:
                    await self.flush_due()
                except Exception:  # an outage: the counts wait for the next look
                    log.exception("telegram: could not send grouped alerts")

        if self._task is None:
            self._task = asyncio.ensure_future(run())

    async def stop(self) -> None:
        """Stop, sending the counts still open (they would be lost with the process)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for window in self._windows.values():
            if window.more:
                await self._send(_summary(window))
        self._windows.clear()

    async def _send(self, text: str) -> None:
        if self.chat_id is None:
            return
        try:
            await self.bot.send_message(self.chat_id, text)
        except TelegramError as exc:  # the log line above keeps it
            log.warning("telegram: could not alert the operator: %s", exc)


def _summary(window: _Window) -> str:
    minutes = WINDOW_SECONDS / 60
    return f"{PREFIX}{window.last} (and {window.more} more like it in {minutes:.0f} minutes)"
