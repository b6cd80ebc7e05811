"""The Telegram bot: python-telegram-bot's `Application`, its handlers, and its lifecycle.

It polls Telegram (`getUpdates`) and handles one update at a time, inside `solbot run` (when
`TELEGRAM_BOT_TOKEN` is set) or alone (`solbot telegram`). `TELEGRAM_API_URL` points it at
another Bot API server: a self-hosted one, or the tests' local one.

Every update goes through `_guard`: a stranger is turned away, a command that needs a private
chat is refused in a group, a user over their command budget is asked to slow down, a
`UserError` becomes its one line, and anything else is logged and answered with an apology
(never with details, which could hold something private).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from solbot.errors import EnvironmentFaultError, UserError
from solbot.telegram import texts
from solbot.telegram.access import Access
from solbot.telegram.commands import Commands, looks_like_a_code
from solbot.telegram.notifier import Notifier
from solbot.telegram.operator import APPROVE_OR_REFUSE, OperatorCommands
from solbot.telegram.services import BotServices

log = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]

# command → (method of Commands, private chat only). Whatever shows or changes an account is
# private: in a group, members who are not even allowed users read along.
COMMANDS: dict[str, tuple[str, bool]] = {
    "start": ("start", True),
    "help": ("help", False),
    "balance": ("balance", True),
    "positions": ("positions", True),
    "trades": ("trades", True),
    "risk": ("risk", True),
    "pause": ("pause", True),
    "resume": ("resume", True),
    "pnl": ("pnl", True),
    "close": ("close_position", True),
    "settings": ("settings", True),
    "2fa": ("second_factor", True),
    "export": ("export", True),
    "whitelist": ("whitelist", True),
    "withdraw": ("withdraw", True),
    "web": ("web", True),
}
# The operator's commands (their private chat only): command → method of OperatorCommands.
OPERATOR_COMMANDS = {
    "users": "users",
    "pauseall": "pause_all",
    "resumeall": "resume_all",
    "stopentry": "stop_entry",
    "startentry": "start_entry",
    "revoke": "revoke",
}
# Commands whose arguments may carry a 2FA code: the message is deleted whatever the outcome
# (refused, malformed, rate-limited, sent in a group), before anything else is done.
CARRY_CODES = frozenset({"2fa", "export", "withdraw"})
_NOT_TYPED = filters.UpdateType.EDITED | filters.FORWARDED


def carries_code(text: str) -> bool:
    """Whether a message may hold a 2FA code: a code-carrying command with arguments (typed,
    edited or forwarded), or six digits on their own."""
    words = text.split()
    if not words:
        return False
    if words[0].startswith("/"):
        command = words[0][1:].split("@", 1)[0].lower()
        return command in CARRY_CODES and len(words) > 1
    return looks_like_a_code(text)


class TelegramBot:
    """The bot around an `Application`; `start()` begins polling, `stop()` ends it."""

    def __init__(self, services: BotServices, *, token: str, api_url: str) -> None:
        self.services = services
        cfg = services.settings
        self.access = Access(
            services.wall, cfg.telegram_allowed_ids, per_minute=cfg.telegram_commands_per_minute
        )
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder()
            .token(token)
            .base_url(f"{api_url.rstrip('/')}/bot")
            .base_file_url(f"{api_url.rstrip('/')}/file/bot")
            .build()
        )
        self.commands = Commands(services, self.application.bot)
        self.operator = OperatorCommands(services, self.application.bot, self.access)
        self.notifier = Notifier(services, self.application.bot, self.commands.alerts)
        # A command runs only from a message its sender typed: never from a forward (it would
        # run as the forwarder) nor from an edit (editing "/help" into "/pause").
        commands = self._guard(self.commands.not_a_command, False, secret=True)
        self.application.add_handler(MessageHandler(filters.COMMAND & _NOT_TYPED, commands))
        typed = filters.UpdateType.MESSAGE & ~filters.FORWARDED
        for name, (method, private) in COMMANDS.items():
            handler = self._guard(
                getattr(self.commands, method),
                private,
                secret=name in CARRY_CODES,
                welcome=name == "start",
            )
            self.application.add_handler(CommandHandler(name, handler, filters=typed))
        for name, method in OPERATOR_COMMANDS.items():
            handler = self._guard(getattr(self.operator, method), True, operator=True)
            self.application.add_handler(CommandHandler(name, handler, filters=typed))
        decide = self._guard(self.operator.decide_button, True, button=True, operator=True)
        self.application.add_handler(CallbackQueryHandler(decide, pattern=f"^{APPROVE_OR_REFUSE}"))
        self.application.add_handler(
            CallbackQueryHandler(self._guard(self.commands.button, True, button=True))
        )
        self.application.add_handler(
            MessageHandler(filters.COMMAND & typed, self._guard(self.commands.unknown, False))
        )
        plain = filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE & typed
        self.application.add_handler(
            MessageHandler(plain, self._guard(self.commands.plain_text, True, secret=True))
        )

    @property
    def running(self) -> bool:
        return bool(self.application.running)

    async def start(self) -> None:
        await self.application.initialize()
        for approved in await self.operator.admin.approved_ids():
            self.access.allow(approved)
        await self.commands.secrets.resume()  # before anyone is answered
        self.commands.secrets.start()
        self.commands.alerts.start()
        await self._set_menu()
        await self.application.start()
        assert self.application.updater is not None
        await self.application.updater.start_polling(poll_interval=0.0, timeout=2)
        self.notifier.start()
        log.info("telegram bot polling as @%s", self.application.bot.username)

    async def _set_menu(self) -> None:
        """The command menu Telegram shows beside the text field (`setMyCommands`)."""
        menu = [BotCommand(name, texts.MENU[name]) for name in texts.MENU]
        operator = self.operator.operator_id
        try:
            await self.application.bot.set_my_commands(menu)
            if operator is not None:  # the operator's own chat shows their commands too
                extra = [BotCommand(n, texts.OPERATOR_MENU[n]) for n in texts.OPERATOR_MENU]
                await self.application.bot.set_my_commands(
                    menu + extra, scope=BotCommandScopeChat(operator)
                )
        except TelegramError as exc:  # cosmetic: the commands work without it
            log.warning("telegram: could not set the command menu: %s", exc)

    async def stop(self) -> None:
        """Stop polling and close; harmless when never started or already stopped. Queued
        notifications get a few seconds to go out first."""
        if self.application.running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.notifier.flush(), timeout=5.0)
        await self.notifier.stop()
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            await self.application.stop()
        await self.commands.secrets.stop()
        await self.commands.alerts.stop()
        await self.application.shutdown()

    def _guard(
        self,
        handler: Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]],
        private: bool,
        *,
        button: bool = False,
        secret: bool = False,
        welcome: bool = False,
        operator: bool = False,
    ) -> Handler:
        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            user, chat = update.effective_user, update.effective_chat
            if user is None or chat is None:
                return
            reply = self.commands.reply_to(update)
            is_operator = self.operator.is_operator(user.id)
            if not (self.access.is_allowed(user.id) or is_operator):
                log.info("telegram: refused a stranger (%s)", user.id)
                if welcome and chat.type == "private" and self.operator.operator_id is not None:
                    await self.operator.stranger_start(update)  # ask the operator, once
                    return
                await reply(texts.STRANGER)
                return
            if operator and not is_operator:
                await reply(texts.OPERATOR_ONLY)
                return
            message = update.effective_message
            if secret and message is not None and carries_code(message.text or ""):
                await self.commands.secrets.delete_soon(chat.id, message.message_id, "code")
            if button and update.callback_query is not None:
                if chat.type == "private" and chat.id != user.id:  # not the owner's to press
                    await update.callback_query.answer(texts.NOT_YOURS, show_alert=True)
                    return
                await update.callback_query.answer()
            if private and chat.type != "private":
                await reply(texts.PRIVATE_ONLY)
                return
            if not self.access.take(user.id):
                await reply(texts.SLOW_DOWN)
                await self.commands.alert(
                    f"user {user.id} exceeded the command rate limit",
                    user=str(user.id),
                    kind="rate_limit",
                )
                return
            try:
                await handler(update, context)
            except EnvironmentFaultError as exc:  # the operator's to fix, not the friend's
                log.warning("telegram: a command of %s failed: %s", user.id, exc)
                await reply("Something went wrong on my side; the operator has been told.")
            except UserError as exc:
                await reply(texts.sentence(str(exc).splitlines()[0]))
            except Exception:
                log.exception("telegram: a command of %s failed", user.id)
                await reply("Something went wrong on my side; the operator has been told.")

        return guarded
