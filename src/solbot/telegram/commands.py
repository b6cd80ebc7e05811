"""The commands friends send, each a thin shell over the services the CLI uses too.

Replies are plain text, short, and never carry a key: the only message that ever holds one is
`/export`'s, which is protected and deleted (see there).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

from solders.pubkey import Pubkey
from sqlalchemy import select
from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from solbot.errors import UserError
from solbot.fee_sweeps import owed, units
from solbot.fees import FeeBook
from solbot.funding import deposits
from solbot.services.closing import NoOpenPositionError, request_close
from solbot.services.custody import RiskChange
from solbot.services.roster import limits_of
from solbot.store.balances import Equity
from solbot.store.positions import Positions, Trades
from solbot.store.states import RiskTier
from solbot.store.tables import TradeRow, UserRow
from solbot.store.users import Users
from solbot.telegram import texts
from solbot.telegram.alerts import OperatorAlerts
from solbot.telegram.charts import equity_png
from solbot.telegram.deletions import SecretMessages
from solbot.telegram.sensitive import WITHDRAW_NO, WITHDRAW_OK, Sensitive
from solbot.telegram.services import BotServices
from solbot.telegram.ui import keyboard
from solbot.telegram.wallet_value import wallet_value
from solbot.web.credentials import LINK_SECONDS, Credentials

log = logging.getLogger(__name__)

Reply = Callable[..., Awaitable[object]]
ACCEPT_TERMS = "terms:accept"
SWITCH = "set:"
SWITCHES = {
    "notify_trade": "Trades opened",
    "notify_exit": "Positions closed",
    "notify_breaker": "Circuit breakers",
    "notify_daily": "Daily summary",
}


class Commands:
    def __init__(self, services: BotServices, bot: Bot) -> None:
        self.s = services
        self.bot = bot
        self.alerts = OperatorAlerts(
            bot, services.settings.telegram_operator_chat_id, services.wall
        )
        self.secrets = SecretMessages(services.db, services.wall, bot, self.alert)
        self.sensitive = Sensitive(services, bot, self.alert, self.secrets)

    # ------------------------------------------------------------------ plumbing
    def reply_to(self, update: Update) -> Reply:
        chat = update.effective_chat

        async def reply(text: str, **kwargs: object) -> object:
            if chat is None:
                return None
            return await self.bot.send_message(chat.id, text, **kwargs)  # type: ignore[arg-type]

        return reply

    async def alert(self, text: str, *, user: str = "", kind: str = "") -> None:
        """Tell the operator (TELEGRAM_OPERATOR_CHAT_ID) about something suspicious; repeats
        of a kind are grouped (`telegram.alerts`)."""
        await self.alerts.alert(text, user=user, kind=kind)

    async def _user(self, update: Update) -> UserRow:
        assert update.effective_user is not None
        user = await self.s.user_of(update.effective_user.id)
        if user is None:
            raise UserError(texts.NO_WALLET)
        return user

    # ------------------------------------------------------------------ onboarding
    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        reply = self.reply_to(update)
        assert update.effective_user is not None
        user = await self.s.user_of(update.effective_user.id)
        if user is not None:
            await reply(
                f"Welcome back! Your wallet: {user.wallet_pubkey}\n/balance shows what it holds."
            )
            return
        text = texts.disclosure(self.s.settings.performance_fee_pct)
        await reply(text, reply_markup=keyboard([(texts.ACCEPT, ACCEPT_TERMS)]))

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        if query.data == ACCEPT_TERMS or query.data.startswith((WITHDRAW_OK, WITHDRAW_NO)):
            await _remove_buttons(query)  # good once: a second press finds nothing to press
        if query.data == ACCEPT_TERMS:
            await self._accept_terms(update)
            return
        if query.data.startswith(SWITCH):
            await self._toggle(update, query.data.removeprefix(SWITCH))
            return
        if query.data.startswith((WITHDRAW_OK, WITHDRAW_NO)):
            await self.sensitive.withdraw_button(await self._user(update), update, query.data)
            return
        raise UserError("That button has expired; send the command again.")

    async def _accept_terms(self, update: Update) -> None:
        reply = self.reply_to(update)
        assert update.effective_user is not None
        telegram_id = update.effective_user.id
        user = await self.s.user_of(telegram_id)
        if user is None:
            user, _key = await self.s.custody.create_user(
                f"tg_{telegram_id}", actor=self.s.actor(telegram_id), telegram_id=telegram_id
            )  # the key is not sent: /export is the one way to see it
            async with self.s.db.session() as s:
                await Users(s, self.s.clock).accept_terms(user.id)
            await self.alert(f"new user {user.username} ({telegram_id}) created a wallet")
        cfg = self.s.settings
        wanted = deposits(cfg.quote, cfg.min_trade_cash_for(cfg.quote), limits_of(user))
        await reply(
            "Your wallet is ready:\n"
            f"{user.wallet_pubkey}\n\n"
            "Deposit to start trading:\n"
            + "".join(f"• {deposit.line()}\n" for deposit in wanted)
            + "\nSet up /2fa before you need /export or /withdraw. /help shows everything."
        )

    # ------------------------------------------------------------------ keys and money
    async def second_factor(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.sensitive.second_factor(await self._user(update), update, context.args or [])

    async def export(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.sensitive.export(await self._user(update), update, context.args or [])

    async def whitelist(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.sensitive.whitelist(await self._user(update), update, context.args or [])

    async def withdraw(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.sensitive.withdraw(await self._user(update), update, context.args or [])

    # ------------------------------------------------------------------ results
    async def pnl(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if context.args:
            raise UserError(texts.usage("pnl"))
        user = await self._user(update)
        now = self.s.clock.now()
        quote = self.s.settings.quote
        midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0)
        periods = [
            ("Today", midnight.timestamp()),
            ("7 days", now - 7 * 86_400),
            ("30 days", now - 30 * 86_400),
            ("All time", None),
        ]
        async with self.s.db.session() as s:
            trades = list(
                await s.scalars(
                    select(TradeRow).where(TradeRow.user_id == user.id, TradeRow.pnl.is_not(None))
                )
            )
            open_ = await Positions(s, self.s.clock).all_open(user.id)
            curve = await Equity(s, self.s.clock).curve(user.id, now - 30 * 86_400)
        lines = [f"Realised PnL ({quote}):"]
        for label, since in periods:
            total = sum(
                (t.pnl or Decimal(0))
                for t in trades
                if since is None or t.timestamp.timestamp() >= since
            )
            lines.append(f"{label}: {total:+,.2f}")
        prices = self.s.prices() if self.s.prices is not None else {}
        decimals = {t.symbol: t.decimals for t in self.s.settings.token_map().values()}
        priced = [p for p in open_ if p.token in prices]
        if priced:
            unrealised = sum(
                Decimal(p.quantity).scaleb(-decimals[p.token]) * prices[p.token]
                - Decimal(p.cost).scaleb(-decimals[quote])
                for p in priced
            )
            lines.append(f"Open positions now: {unrealised:+,.2f} (unrealised)")
        fees = await FeeBook(self.s.db, self.s.clock, self.s.settings.performance_fee_pct).state(
            user
        )
        if fees.pct > 0 or fees.accrued > 0:
            async with self.s.db.session() as s:
                paid = await owed(s, user.id, decimals[quote])
            lines.append(
                f"Performance fee: {fees.pct:g} % of realised profit above your high-water mark "
                f"({fees.high_water:+,.2f} {quote}); accrued so far: {fees.accrued:,.2f} {quote}, "
                f"paid {units(paid.paid, decimals[quote]):,.2f}, "
                f"owed {units(paid.due + paid.in_flight, decimals[quote]):,.2f}"
            )
        png = equity_png(curve, quote, f"{user.username}: value, last 30 days")
        assert update.effective_chat is not None
        await self.bot.send_photo(update.effective_chat.id, photo=png, caption="\n".join(lines))

    async def close_position(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []
        if len(args) != 1:
            raise UserError(texts.usage("close"))
        user = await self._user(update)
        assert update.effective_user is not None
        try:
            token = await request_close(
                self.s.custody,
                user,
                args[0],
                actor=self.s.actor(update.effective_user.id),
                poll_seconds=self.s.settings.poll_seconds,
                wall=self.s.wall,
            )
        except NoOpenPositionError as exc:  # the rule's words, and where to look in this chat
            raise UserError(f"{str(exc).removesuffix('.')} (/positions lists them).") from None
        await self.reply_to(update)(
            f"Closing your {token} position at the next tick; you will be told when it is sold."
        )

    # ------------------------------------------------------------------ notifications
    async def settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = await self._user(update)
        await self.reply_to(update)("Notifications (tap to switch):", reply_markup=_switches(user))

    async def _toggle(self, update: Update, field: str) -> None:
        if field not in SWITCHES:
            raise UserError("That button has expired; send /settings again.")
        user = await self._user(update)
        async with self.s.db.session() as s:
            row = await Users(s, self.s.clock).get(user.id)
            assert row is not None
            setattr(row, field, not getattr(row, field))
            user = row
        query = update.callback_query
        if query is not None and query.message is not None:
            await self.bot.edit_message_reply_markup(
                query.message.chat.id, query.message.message_id, reply_markup=_switches(user)
            )

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.reply_to(update)(texts.HELP)

    async def not_a_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A forwarded or edited message that reads like a command: say why it did not run."""
        edited = update.edited_message is not None
        await self.reply_to(update)(texts.EDITED if edited else texts.FORWARDED)

    async def plain_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A hint; a bare code typed on its own was deleted by the guard already."""
        message = update.effective_message
        if message is not None and looks_like_a_code(message.text or ""):
            await self.reply_to(update)(texts.BARE_CODE)
            return
        await self.reply_to(update)(texts.PLAIN_TEXT)

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.reply_to(update)("I don't know that command. /help lists them.")

    # ------------------------------------------------------------------ looking
    async def balance(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = await self._user(update)
        cfg = self.s.settings
        quote = cfg.token(cfg.quote)
        lines = [f"Wallet {user.wallet_pubkey}"]
        if self.s.chain is not None:  # every asset in the wallet, valued in the quote asset
            lines += (await wallet_value(self.s, Pubkey.from_string(user.wallet_pubkey))).lines()
        else:
            lines.append(f"Value: {user.portfolio_value:,.2f} {quote.symbol} (last marked)")
        async with self.s.db.session() as s:
            positions = await Positions(s, self.s.clock).all_open(user.id)
        lines.append(f"Open positions: {len(positions)}")
        state = "active" if user.is_active else "paused"
        lines.append(f"Risk: {user.risk_tier}; trading {state}")
        await self.reply_to(update)("\n".join(lines))

    async def positions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = await self._user(update)
        async with self.s.db.session() as s:
            open_ = await Positions(s, self.s.clock).all_open(user.id)
        if not open_:
            await self.reply_to(update)("No open positions.")
            return
        decimals = {t.symbol: t.decimals for t in self.s.settings.token_map().values()}
        prices = self.s.prices() if self.s.prices is not None else {}
        quote = self.s.settings.quote
        lines = ["Open positions:"]
        for p in open_:
            quantity = Decimal(p.quantity).scaleb(-decimals.get(p.token, 0))
            line = f"{p.token}: {quantity:,.4f} bought at {p.entry_price:.6g} {quote}"
            now = prices.get(p.token)
            if now is not None:
                change = (now / p.entry_price - 1) * 100
                line += f", now {now:.6g} {quote} ({change:+.1f}%)"
            if p.stop_loss is not None:
                line += f", stop {p.stop_loss:.6g}"
            if p.take_profit is not None:
                line += f", target {p.take_profit:.6g}"
            lines.append(line)
        await self.reply_to(update)("\n".join(lines))

    async def trades(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []
        if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= 50)):
            raise UserError(texts.usage("trades") + " (N from 1 to 50)")
        count = int(args[0]) if args else 10
        user = await self._user(update)
        async with self.s.db.session() as s:
            rows = await Trades(s, self.s.clock).for_user(user.id, count)
        if not rows:
            await self.reply_to(update)("No trades yet.")
            return
        decimals = {t.symbol: t.decimals for t in self.s.settings.token_map().values()}
        quote = self.s.settings.quote
        lines = [f"Last {len(rows)} trades:"]
        for t in rows:
            quantity = Decimal(t.quantity).scaleb(-decimals.get(t.token, 0))
            pnl = "" if t.pnl is None else f", PnL {t.pnl:+.2f} {quote}"
            when = t.timestamp.strftime("%m-%d %H:%M")
            verb = "bought" if t.side == "buy" else "sold"
            price = f"{t.price:.6g} {quote}"
            lines.append(f"{when} {verb} {quantity:,.4f} {t.token} at {price}{pnl}")
        await self.reply_to(update)("\n".join(lines))

    async def web(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A one-time link to the dashboard, signed in as this user. The secret is in the
        address's fragment (a browser never sends it to a server: no access log keeps it), the
        message is protected and previewless (Telegram's preview fetcher would open the link
        first), and it is deleted from the chat when the link expires."""
        if context.args:
            raise UserError(texts.usage("web"))
        user = await self._user(update)
        secret = await Credentials(self.s.custody, self.s.wall).create_link(user.id)
        url = f"{self.s.settings.web_address}/signin#{secret}"
        chat = update.effective_chat
        assert chat is not None
        minutes = LINK_SECONDS // 60
        await self.secrets.send(
            chat.id,
            "web",
            user.id,
            LINK_SECONDS,
            lambda: self.bot.send_message(
                chat.id,
                f"Your dashboard, signed in as {user.username}:\n{url}\n\nGood once, for "
                f"{minutes} minutes; this message disappears then. Don't share it.",
                protect_content=True,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            ),
        )

    # ------------------------------------------------------------------ settings
    async def risk(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        args = context.args or []
        tiers = [t.value for t in RiskTier]
        if len(args) != 1 or args[0].lower() not in tiers:
            raise UserError(texts.usage("risk"))
        user = await self._user(update)
        assert update.effective_user is not None
        changed = await self.s.custody.set_risk(
            user.username,
            RiskChange(tier=RiskTier(args[0].lower())),
            actor=self.s.actor(update.effective_user.id),
        )
        await self.reply_to(update)(f"Risk tier is now {changed.risk_tier}.")

    async def pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if context.args:
            raise UserError(texts.usage("pause"))
        user = await self._user(update)
        assert update.effective_user is not None
        changed = await self.s.custody.set_active(
            user.username, False, actor=self.s.actor(update.effective_user.id), reason="telegram"
        )
        await self.reply_to(update)(
            "Paused: no new positions; open ones are still managed."
            if changed
            else "Already paused."
        )

    async def resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if context.args:
            raise UserError(texts.usage("resume"))
        user = await self._user(update)
        assert update.effective_user is not None
        changed = await self.s.custody.set_active(
            user.username, True, actor=self.s.actor(update.effective_user.id)
        )
        await self.reply_to(update)("Trading resumed." if changed else "Not paused.")


def looks_like_a_code(text: str) -> bool:
    digits = text.replace(" ", "")
    return len(digits) == 6 and digits.isdigit()


async def _remove_buttons(query: CallbackQuery) -> None:
    with contextlib.suppress(TelegramError):  # already gone, or too old to edit: no matter
        await query.edit_message_reply_markup(reply_markup=None)


def _switches(user: UserRow) -> InlineKeyboardMarkup:
    return keyboard(
        *[
            [(f"{'✅' if getattr(user, field) else '❌'} {label}", SWITCH + field)]
            for field, label in SWITCHES.items()
        ]
    )
