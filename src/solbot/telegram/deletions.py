"""Secret messages that disappear, whatever happens to the process or to Telegram.

A private key, a 2FA secret and a user's message carrying a code must not stay in a chat.
An in-memory timer forgets them when the process is killed inside the minute, and a deletion
that fails during a Bot API outage was never tried again (the Solareum lesson: keys left in
chat history are keys leaked). Here every deletion is a row of `chat_deletions`, written
*before* the secret is sent, and a worker deletes it when its time comes, retrying with
back-off across outages and restarts until Telegram confirms.

When Telegram will not delete a message (older than its 48-hour limit, or no right to in a
group), the user is asked to delete it by hand and the operator is told, once. A message the
process died while sending (its id never learnt) cannot be deleted by id; its user is told at
the next start. A clean stop deletes every pending secret at once instead of leaving it.

The times are the wall clock's (`BotServices.wall`), also in an accelerated sim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from solbot.backoff import doubling
from solbot.clock import Clock
from solbot.store.chat_deletions import BY_HAND, TELL, ChatDeletions, Due
from solbot.store.db import Database

log = logging.getLogger(__name__)

# Telegram lets a bot delete a message for 48 hours; a little margin for clocks and queues.
DELETABLE_SECONDS = 48 * 3600 - 300
BACKOFF_FIRST, BACKOFF_MAX = 2.0, 300.0
SHUTDOWN_SECONDS = 3.0
CLAIM_SECONDS = 30.0  # longer than a Bot API call's timeouts

WHAT = {
    "key": "a message with your private key",
    "2fa": "the picture with your second factor's secret",
    "code": "one of your messages with a 2FA code",
    "web": "your sign-in link to the dashboard",
}

Alert = Callable[[str], Awaitable[None]]


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 2, 4, 8, … up to 5 minutes."""
    return doubling(BACKOFF_FIRST, BACKOFF_MAX, attempts + 1)


class SecretMessages:
    def __init__(
        self, db: Database, wall: Clock, bot: Bot, alert: Alert, *, poll_seconds: float = 1.0
    ) -> None:
        self.queue = ChatDeletions(db, wall)
        self.wall = wall
        self.bot = bot
        self.alert = alert
        self.poll_seconds = poll_seconds
        self._worker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ what commands call
    async def send(
        self,
        chat_id: int,
        what: str,
        user_id: str | None,
        visible_seconds: float,
        send: Callable[[], Awaitable[Message]],
    ) -> Message:
        """Send a secret with `send()` and have it deleted `visible_seconds` later. The promise
        is in the database before the message leaves: a kill at any point leaves either a
        deletion to do or a user to warn."""
        row_id = (await self.queue.reserve(chat_id, what, user_id, visible_seconds)).id
        try:
            message = await send()
        except BadRequest:  # refused: nothing reached the chat
            await self.queue.done(row_id)
            raise
        except TelegramError:  # a timeout or a dropped connection: it may have arrived
            reason = "the connection failed while sending"
            await self.queue.mark([row_id], TELL, reason, retry_in=BACKOFF_FIRST)
            row = await self.queue.get(row_id)  # the worker warns again if this fails
            if row is not None and await self._tell(row, reason):
                await self.queue.mark([row_id], BY_HAND)
            raise
        try:
            await self.queue.attach(row_id, message.message_id)
        except BaseException:  # the promise cannot be kept: take the secret back at once
            with contextlib.suppress(TelegramError):
                await self.bot.delete_message(chat_id, message.message_id)
            raise
        return message

    async def delete_soon(
        self, chat_id: int, message_id: int, what: str, user_id: str | None = None
    ) -> None:
        """Delete a message at once; if Telegram does not confirm, the worker keeps trying."""
        row = await self.queue.reserve(chat_id, what, user_id, BACKOFF_FIRST, message_id)
        await self._attempt(row)

    # ------------------------------------------------------------------ lifecycle
    async def resume(self) -> None:
        """At start, before anyone is answered: warn the users whose secret a dead process was
        sending (its message id never reached the database)."""
        for row in await self.queue.unattached():
            if await self._tell(row, "the bot stopped while sending it"):
                await self.queue.mark([row.id], BY_HAND)

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        """Look at the queue now (tests move the wall clock; an outage may have ended)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the worker, deleting every pending secret now (bounded: what is left stays in
        the queue for the next start)."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._delete_all_now(), SHUTDOWN_SECONDS)

    async def _delete_all_now(self) -> None:
        for row_id in await self.queue.pending_ids():
            row = await self.queue.get(row_id)
            if row is not None:
                await self._attempt(row)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away for a while: try again later
                log.exception("telegram: the deletion queue failed; trying again")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def run_due(self) -> None:
        """Act on every row whose time has come."""
        for row in await self.queue.due():
            if row.state == TELL:
                await self.queue.claim(row.id, CLAIM_SECONDS)
                if await self._tell(row, row.error or "Telegram would not delete it"):
                    await self.queue.mark([row.id], BY_HAND)
                else:
                    await self.queue.retry_later(row.id, backoff(row.attempts), "telling")
                continue
            await self._attempt(row)

    # ------------------------------------------------------------------ one row
    async def _attempt(self, row: Due) -> None:
        assert row.message_id is not None
        await self.queue.claim(row.id, CLAIM_SECONDS)  # one attempt at a time per row
        try:
            await self.bot.delete_message(row.chat_id, row.message_id)
        except BadRequest as exc:
            if "message to delete not found" in exc.message.lower():  # gone already
                await self.queue.done(row.id)
                return
            await self._give_up(row, exc.message)
            return
        except RetryAfter as exc:
            wait = exc._retry_after  # a timedelta; the public property warns
            await self._later(row, wait.total_seconds() if isinstance(wait, timedelta) else 5.0)
            return
        except (Forbidden, TelegramError) as exc:  # blocked by the user, an outage, a timeout
            log.info("telegram: could not delete message %s yet: %s", row.message_id, exc)
            await self._later(row, backoff(row.attempts), str(exc))
            return
        await self.queue.done(row.id)

    async def _later(self, row: Due, seconds: float, error: str = "retry after") -> None:
        """Try again later, unless Telegram's 48 hours run out first."""
        age = self.wall.now() - row.created_at.timestamp()
        if age + seconds >= DELETABLE_SECONDS:
            await self._give_up(row, f"not deleted within 48 hours ({error})")
            return
        await self.queue.retry_later(row.id, seconds, error)

    async def _give_up(self, row: Due, reason: str) -> None:
        log.warning("telegram: message %s in chat %s cannot be deleted: %s", row.message_id,
                    row.chat_id, reason)  # fmt: skip
        await self.queue.mark([row.id], TELL, reason, retry_in=BACKOFF_FIRST)
        if await self._tell(row, reason):
            await self.queue.mark([row.id], BY_HAND)

    async def _tell(self, row: Due, reason: str) -> bool:
        """Ask the user to delete the message by hand and tell the operator; False when the
        user could not be reached yet (try again later). A row without a message id is a
        message that may or may not have arrived: said so."""
        what = WHAT.get(row.what, "a message with a secret")
        if row.message_id is None:
            text = (
                f"⚠️ {what[0].upper()}{what[1:]} may be in this chat ({reason}). If you see "
                "it, please delete it by hand now: long-press it and choose Delete."
            )
        else:
            text = (
                f"⚠️ I could not delete {what} from this chat ({reason}). Please delete it by "
                "hand now: long-press it and choose Delete."
            )
        told = True
        try:
            await self.bot.send_message(row.chat_id, text)
        except Forbidden:  # the user blocked the bot: only the operator can still act
            pass
        except TelegramError as exc:
            log.info("telegram: could not ask chat %s to delete by hand: %s", row.chat_id, exc)
            told = False
        if told:
            with contextlib.suppress(TelegramError):
                await self.alert(
                    f"could not delete {what.replace('your', 'a user’s')} in chat {row.chat_id} "
                    f"({reason}); the user was asked to delete it by hand"
                )
        return told
