"""The commands that touch keys and money: `/2fa`, `/export`, `/whitelist`, `/withdraw`.

The rules (the seed's security checklist):
- `/export` and `/withdraw` need the second factor: set up (`/2fa`, confirmed by a first code)
  before the first use, and a fresh code each time (a code is good once).
- The key leaves only in `/export`'s message: protected (no forwarding, no saving) and deleted
  after `EXPORT_VISIBLE_SECONDS` through the durable queue of `telegram.deletions` (a kill or an
  outage delays the deletion, never forgets it); at most `EXPORTS_PER_DAY` a day; audited; the
  operator told. The QR code of `/2fa` (which holds the second factor's secret) is protected
  and deleted the same way, and so are the user's own messages carrying a code.
- Every timer here follows the wall clock (`BotServices.wall`), never the sim's.
- `/withdraw` goes only to whitelisted addresses past their time-lock, within the 24-hour
  limit (`withdrawal_policy`), after a confirmation button, as a real transfer on chain.
"""

from __future__ import annotations

import io
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pyotp
import segno
from solders.pubkey import Pubkey
from telegram import Bot, Update

from solbot.chain.port import Chain
from solbot.errors import UserError
from solbot.services.roster import limits_of
from solbot.services.second_factor import SecondFactor
from solbot.services.withdrawal_destinations import check_destination
from solbot.services.withdrawal_policy import Limits, Policy, Whitelists, first_use
from solbot.services.withdrawals import (
    LAMPORTS_PER_SOL,
    WithdrawalService,
    parse_sol,
    sol,
)
from solbot.store.states import WithdrawalState
from solbot.store.tables import UserRow
from solbot.store.types import utc_from_timestamp
from solbot.telegram import texts
from solbot.telegram.deletions import Alert, SecretMessages
from solbot.telegram.services import BotServices
from solbot.telegram.ui import keyboard

log = logging.getLogger(__name__)

QR_VISIBLE_SECONDS = 300.0
CONFIRM_SECONDS = 120.0
WITHDRAW_OK, WITHDRAW_NO = "wd:ok:", "wd:no:"


@dataclass
class _Pending:
    telegram_id: int
    username: str
    address: str
    amount: str
    expires: float


class Sensitive:
    """`/2fa`, `/export`, `/whitelist`, `/withdraw` and the withdrawal buttons."""

    def __init__(
        self, services: BotServices, bot: Bot, alert: Alert, secrets: SecretMessages
    ) -> None:
        self.s = services
        self.bot = bot
        self.alert = alert  # tell the operator
        self.secrets = secrets  # what must disappear from the chat, and when
        self._pending: dict[str, _Pending] = {}

    # ------------------------------------------------------------------ the second factor
    def _factor(self) -> SecondFactor:
        return SecondFactor(self.s.custody.require_key(), self.s.wall)

    async def second_factor(self, user: UserRow, update: Update, args: list[str]) -> None:
        chat = _chat(update)
        if len(args) > 1:
            raise UserError(texts.usage("2fa"))
        if not args:
            async with self.s.db.session() as s:
                uri = await self._factor().enrol(s, user.id, user.username)
            png = io.BytesIO()
            segno.make(uri, error="m").save(png, kind="png", scale=8, border=2)
            secret = pyotp.parse_uri(uri).secret
            typed = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
            await self.secrets.send(
                chat,
                "2fa",
                user.id,
                QR_VISIBLE_SECONDS,
                lambda: self.bot.send_photo(
                    chat,
                    photo=png.getvalue(),
                    caption=(
                        "Scan this with your authenticator app (Google Authenticator, Aegis, "
                        "1Password…).\n\n"
                        f"On this phone? Add an account by hand with this key: {typed} "
                        "(time-based, 6 digits), or open this link with the app:\n"
                        f"{uri}\n\n"
                        "Then send /2fa <code> to switch the second factor on. "
                        f"This message disappears in {QR_VISIBLE_SECONDS / 60:.0f} minutes."
                    ),
                    protect_content=True,
                ),
            )
            return
        was_on = SecondFactor.enrolled(user)
        await self.check_code(user, args[0], update)
        await self.bot.send_message(
            chat,
            "Your code is right."
            if was_on
            else "The second factor is on: /export and /withdraw will ask for a code.",
        )

    async def check_code(self, user: UserRow, code: str, update: Update) -> None:
        """Accept `code` or raise a one-line `UserError`. (The message carrying it is deleted
        by the bot's guard, whatever the command's outcome.)"""
        async with self.s.db.session() as s:
            verdict = await self._factor().verify(s, user.id, code)
        if verdict.locked_now:
            await self.alert(f"{user.username}: 5 wrong second-factor codes; locked for an hour")
        if not verdict.ok:
            raise UserError(f"Second factor: {verdict.reason}.")

    def _require_factor(self, user: UserRow, what: str) -> None:
        if not SecondFactor.enrolled(user):
            raise UserError(f"Set up the second factor first (/2fa): {what} needs it.")

    # ------------------------------------------------------------------ export
    async def export(self, user: UserRow, update: Update, args: list[str]) -> None:
        if len(args) != 1:
            raise UserError(texts.usage("export"))
        self._require_factor(user, "/export")
        cfg = self.s.settings
        assert update.effective_user is not None
        actor = self.s.actor(update.effective_user.id)
        await self.s.custody.check_exports(user, actor, cfg.exports_per_day)
        await self.check_code(user, args[0], update)
        key = await self.s.custody.export_key(
            user.username, "base58", actor=actor, per_day=cfg.exports_per_day
        )
        chat = _chat(update)
        await self.secrets.send(
            chat,
            "key",
            user.id,
            cfg.export_visible_seconds,
            lambda: self.bot.send_message(
                chat,
                f"Your private key (Phantom and Solflare import it). This message disappears in "
                f"{cfg.export_visible_seconds:.0f} s and cannot be forwarded:\n\n{key.reveal()}",
                protect_content=True,
            ),
        )
        await self.alert(f"{user.username} exported their private key")

    # ------------------------------------------------------------------ whitelist
    async def whitelist(self, user: UserRow, update: Update, args: list[str]) -> None:
        chat = _chat(update)
        self.s.custody.require_key()  # before anything is said or looked up
        timelock = self.s.settings.withdrawal_timelock_hours * 3600
        assert update.effective_user is not None
        actor = self.s.actor(update.effective_user.id)
        whitelists = Whitelists(self.s.custody)
        if not args:
            rows = await whitelists.entries(user)
            if not rows:
                await self.bot.send_message(
                    chat, "Your whitelist is empty. Add an address: /whitelist add <address>"
                )
                return
            now = utc_from_timestamp(self.s.wall.now())
            lines = ["Addresses you may withdraw to:"]
            for row in rows:
                state = (
                    "usable" if row.usable_from <= now else f"usable from {_when(row.usable_from)}"
                )
                label = f" ({row.label})" if row.label else ""
                lines.append(f"{row.address}{label}: {state}")
            await self.bot.send_message(chat, "\n".join(lines))
            return
        verb = args[0].lower()
        if verb == "add" and len(args) >= 2:
            label = " ".join(args[2:])[:64] or None
            target = await check_destination(self._chain(), args[1])  # a wallet, on chain
            row = await whitelists.add(user, str(target.address), label, timelock, actor=actor)
            await self.bot.send_message(
                chat,
                f"Added {row.address}. It can receive withdrawals from {_when(row.usable_from)} "
                f"(a {self.s.settings.withdrawal_timelock_hours:g}-hour safety delay).",
            )
            await self.alert(f"{user.username} added withdrawal address {row.address}")
            return
        if verb == "remove" and len(args) == 2:
            await whitelists.remove(user, args[1], actor=actor)
            await self.bot.send_message(chat, f"Removed {args[1]} from your whitelist.")
            return
        raise UserError(texts.usage("whitelist"))

    # ------------------------------------------------------------------ withdraw
    def _chain(self) -> Chain:
        if self.s.chain is None:
            raise UserError("withdrawals are not available here (no chain connection)")
        return self.s.chain

    def _service(self) -> WithdrawalService:
        return WithdrawalService(
            self.s.db,
            self.s.wall,
            self._chain(),
            self.s.custody,
            fee_reserve_lamports=0,
            wall=self.s.wall,
        )

    async def _policy(self, user: UserRow) -> Policy:
        assert self.s.chain is not None
        balance = await self.s.chain.balance(Pubkey.from_string(user.wallet_pubkey))
        price = None
        if self.s.settings.quote == "SOL":
            price = Decimal(1)
        elif self.s.sol_price is not None:
            price = await self.s.sol_price()
        limits = Limits(
            timelock_seconds=self.s.settings.withdrawal_timelock_hours * 3600,
            daily_limit_pct=Decimal(str(self.s.settings.withdrawal_daily_limit_pct)),
        )
        return Policy(self.s.wall, limits, sol_balance=balance, sol_price=price)

    async def withdraw(self, user: UserRow, update: Update, args: list[str]) -> None:
        if len(args) != 3:
            raise UserError(texts.usage("withdraw"))
        self._require_factor(user, "/withdraw")
        address, amount, code = args
        # Every check that can refuse comes before the code, so a refusal does not spend it.
        to = (await check_destination(self._chain(), address)).address
        lamports = parse_sol(amount)
        service = self._service()
        service.fee_reserve = int(limits_of(user).fee_reserve_sol * LAMPORTS_PER_SOL)
        await service.require_available(user, lamports)
        policy = await self._policy(user)
        async with self.s.db.session() as s:  # the rules, checked now for a quick answer
            await policy(s, user, to, lamports)
        await self.check_code(user, code, update)
        assert update.effective_user is not None
        token = secrets.token_urlsafe(9)
        self._pending[token] = _Pending(
            update.effective_user.id,
            user.username,
            str(to),
            amount,
            self.s.wall.now() + CONFIRM_SECONDS,
        )
        await self.bot.send_message(
            _chat(update),
            f"Send {sol(lamports)} SOL to {to}? This cannot be undone.",
            reply_markup=keyboard(
                [("Confirm", WITHDRAW_OK + token), ("Cancel", WITHDRAW_NO + token)]
            ),
        )

    async def withdraw_button(self, user: UserRow, update: Update, data: str) -> None:
        chat = _chat(update)
        token = data.split(":", 2)[2]
        pending = self._pending.get(token)
        assert update.effective_user is not None
        # Whose it is, before anything is touched: another's press must not cancel it.
        if pending is None or pending.telegram_id != update.effective_user.id:
            raise UserError("That withdrawal is no longer pending; send /withdraw again.")
        del self._pending[token]
        if data.startswith(WITHDRAW_NO):
            await self.bot.send_message(chat, "Withdrawal cancelled.")
            return
        if self.s.wall.now() > pending.expires:
            raise UserError("That confirmation expired; send /withdraw again.")
        service = self._service()
        service.fee_reserve = int(limits_of(user).fee_reserve_sol * LAMPORTS_PER_SOL)
        async with self.s.db.session() as s:
            new_address = await first_use(s, user.id, pending.address)
        policy = await self._policy(user)
        done = await service.request(
            pending.username,
            pending.address,
            pending.amount,
            actor=self.s.actor(pending.telegram_id),
            check=policy,
        )
        row = done.row
        if done.repeated:
            await self.bot.send_message(
                chat,
                f"The same withdrawal was just asked for; it is {row.state}, not sent again.",
            )
            return
        if new_address:
            await self.alert(f"{user.username} withdrew to a new address {pending.address}")
        if row.state == WithdrawalState.CONFIRMED.value:
            await self.bot.send_message(
                chat,
                f"Sent {sol(row.lamports)} SOL to {row.destination}.\nTransaction: {row.signature}",
            )
        else:
            await self.bot.send_message(chat, f"The withdrawal {row.state}: {row.error}")


def _chat(update: Update) -> int:
    assert update.effective_chat is not None
    return update.effective_chat.id


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
