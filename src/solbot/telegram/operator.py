"""The operator runs the group from Telegram: lets newcomers in, lists the users, pauses or
resumes everyone, and stops or restarts new entries for everyone (exits keep running).

The operator is the Telegram account of `TELEGRAM_OPERATOR_CHAT_ID` (a private chat's id is
its user's id), in their private chat with the bot. Each change is audited under the actor
`telegram:<operator id>` through `group_admin`, the same service a CLI would use.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal

from sqlalchemy import select
from telegram import Bot, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from solbot.errors import UserError
from solbot.group_admin import PENDING, GroupAdmin, entries_stopped
from solbot.store.tables import TelegramAccessRow, UserRow
from solbot.store.users import Users
from solbot.telegram import texts
from solbot.telegram.access import Access
from solbot.telegram.services import BotServices
from solbot.telegram.ui import keyboard

APPROVE, REFUSE = "acc:ok:", "acc:no:"
APPROVE_OR_REFUSE = "acc:"


class OperatorCommands:
    def __init__(self, services: BotServices, bot: Bot, access: Access) -> None:
        self.s = services
        self.bot = bot
        self.access = access
        self.admin = GroupAdmin(services.custody)

    @property
    def operator_id(self) -> int | None:
        return self.s.settings.telegram_operator_chat_id

    def is_operator(self, telegram_id: int) -> bool:
        return self.operator_id is not None and telegram_id == self.operator_id

    def _actor(self, update: Update) -> str:
        assert update.effective_user is not None
        return self.s.actor(update.effective_user.id)

    async def _say(self, update: Update, text: str) -> None:
        """Send `text`, in pieces when it is longer than a Telegram message (a big group)."""
        assert update.effective_chat is not None
        for piece in pieces(text):
            await self.bot.send_message(update.effective_chat.id, piece)

    # ------------------------------------------------------------------ newcomers
    async def stranger_start(self, update: Update) -> None:
        """`/start` from an id nobody allowed: ask the operator, once; say where it stands."""
        user = update.effective_user
        assert user is not None
        name = " ".join(
            p for p in (user.full_name, f"@{user.username}" if user.username else "") if p
        )
        asked = await self.admin.ask(user.id, name or str(user.id))
        if asked.new and self.operator_id is not None:
            await self.bot.send_message(
                self.operator_id,
                f"{name or 'Someone'} (Telegram id {user.id}) asks to use solbot.",
                reply_markup=keyboard(
                    [("Approve", f"{APPROVE}{user.id}"), ("Refuse", f"{REFUSE}{user.id}")]
                ),
            )
        if asked.state == PENDING:
            await self._say(update, texts.ASKED_OPERATOR)
        else:  # refused (an approved one is allowed and never comes here)
            await self._say(update, texts.STRANGER)

    async def decide_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The operator pressed Approve or Refuse under a request (the guard checked who)."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        with contextlib.suppress(TelegramError):  # decided once: the buttons go
            await query.edit_message_reply_markup(reply_markup=None)
        await self.decide(update, query.data)

    async def decide(self, update: Update, data: str) -> None:
        approve = data.startswith(APPROVE)
        telegram_id = int(data.removeprefix(APPROVE if approve else REFUSE))
        row = await self.admin.decide(telegram_id, approve, actor=self._actor(update))
        if approve:
            self.access.allow(telegram_id)
            with contextlib.suppress(TelegramError):  # they may have blocked the bot since
                await self.bot.send_message(telegram_id, texts.LET_IN)
            await self._say(update, f"{row.name} can use solbot now.")
        else:
            await self._say(update, f"{row.name} was refused.")

    async def revoke(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/revoke <Telegram id>`: take back an approval given from Telegram."""
        args = context.args or []
        if len(args) != 1 or not args[0].isdigit():
            raise UserError("Usage: /revoke <Telegram id> (from /users)")
        telegram_id = int(args[0])
        if telegram_id in self.s.settings.telegram_allowed_ids:
            raise UserError(
                f"{telegram_id} is in TELEGRAM_ALLOWED_IDS: remove it there and restart"
            )
        row = await self.admin.decide(telegram_id, False, actor=self._actor(update), revoke=True)
        self.access.revoke(telegram_id)
        await self._say(
            update,
            f"{row.name} can no longer use the bot. Their wallet keeps trading until you "
            "pause it (solbot pause).",
        )

    # ------------------------------------------------------------------ the group
    async def users(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        quote = self.s.settings.quote
        async with self.s.db.session() as s:
            rows: list[UserRow] = await Users(s, self.s.clock).all()
            requests = list(await s.scalars(select(TelegramAccessRow)))
            stopped = await entries_stopped(s)
        lines = [f"{len(rows)} user(s):"]
        for u in rows:
            state = "active" if u.is_active else "paused"
            who = f" (Telegram {u.telegram_id})" if u.telegram_id is not None else ""
            value = Decimal(u.portfolio_value)
            lines.append(f"{u.username}{who}: {state}, {u.risk_tier}, {value:,.2f} {quote}")
        waiting = [r for r in requests if r.state == PENDING]
        if waiting:
            lines.append("Waiting for your answer: " + ", ".join(r.name for r in waiting))
        if stopped:
            lines.append("New entries are stopped for everyone (/startentry).")
        await self._say(update, "\n".join(lines))

    async def pause_all(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        changed = await self.admin.set_all_active(False, actor=self._actor(update))
        await self._say(update, _changed("Paused", changed, "everyone was paused already"))

    async def resume_all(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        changed = await self.admin.set_all_active(True, actor=self._actor(update))
        await self._say(update, _changed("Resumed", changed, "nobody was paused by /pauseall"))

    async def stop_entry(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        done = await self.admin.set_entries(True, actor=self._actor(update))
        await self._say(
            update,
            "No new entries for anyone from the next candle; open positions are still "
            "managed and exit as usual. /startentry allows them again."
            if done
            else "New entries were stopped already.",
        )

    async def start_entry(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        done = await self.admin.set_entries(False, actor=self._actor(update))
        await self._say(
            update,
            "New entries are allowed again." if done else "New entries were not stopped.",
        )


def pieces(text: str, limit: int = 4000) -> list[str]:
    """`text` cut at line ends into messages under Telegram's 4,096 characters."""
    out: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # one enormous line: cut it where it must be
            out.append(line[:limit])
            line = line[limit:]
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    return [*out, current] if current else out


def _changed(verb: str, names: list[str], none: str) -> str:
    if not names:
        return f"Nothing to do: {none}."
    return f"{verb} {len(names)} user(s): {', '.join(names)}."
