"""Who may sign in to the dashboard, and as whom: the operator's API tokens, the one-time
links friends get on Telegram's `/web`, and the browser sessions either opens.

Every timer here (a link's ten minutes, a session's hours) follows the wall clock, never the
sim's accelerated one. Creating or revoking a token and every sign-in are audited like the
CLI's changes (a sign-in without an auditable master key is logged instead: signing in only
looks). Secrets are returned once to their caller and stored as digests (`web.secrets`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.clock import Clock
from solbot.errors import UserError
from solbot.group_admin import REFUSED
from solbot.services.custody import CustodyService
from solbot.store.states import Custody
from solbot.store.tables import TelegramAccessRow, UserRow
from solbot.store.types import utc_from_timestamp
from solbot.store.web_access import WebAccess
from solbot.store.web_tables import WebLinkRow, WebSessionRow, WebTokenRow
from solbot.wallet.audit import Action, AuditLog
from solbot.web import secrets
from solbot.web.telegram_login import FRESH_SECONDS, WidgetLogin

LINK_SECONDS = 600  # a sign-in link is good once, for ten minutes
SESSION_SECONDS = 12 * 3600
LAST_USE_EVERY = 60.0  # a token's last use is written at most once a minute
TOKEN_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


@dataclass(frozen=True)
class Principal:
    """Who a request comes from. `user_id` None: the operator. `session_id` None: a bearer
    token, which a browser never sends by itself (no CSRF check needed); a session's actions
    carry its CSRF value (`csrf_digest`)."""

    user_id: str | None
    username: str | None
    actor: str  # the name the audit log gives them
    session_id: str | None = None
    csrf_digest: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.user_id is None


@dataclass(frozen=True)
class OpenedSession:
    """A session just opened: the cookie's value and the CSRF value, each shown only now."""

    secret: str
    csrf: str
    principal: Principal
    expires_at: float


def operator_actor(token_name: str) -> str:
    return f"web:operator:{token_name}"


def user_actor(username: str) -> str:
    return f"web:{username}"


class Credentials:
    def __init__(self, custody: CustodyService, wall: Clock) -> None:
        self.custody = custody
        self.db = custody.db
        self.wall = wall

    # ------------------------------------------------------------------ operator tokens
    async def create_token(self, name: str, *, actor: str) -> tuple[WebTokenRow, str]:
        """A new operator token named `name` and its secret (shown once); audited."""
        if not TOKEN_NAME.fullmatch(name):
            raise UserError(
                f"invalid token name {name!r}: use 1 to 32 characters of A-Z, a-z, 0-9, _ . -"
            )
        key = self.custody.require_key()
        secret = secrets.new(secrets.OPERATOR_TOKEN)
        async with self.db.session() as s:
            if await s.scalar(select(WebTokenRow.id).where(WebTokenRow.name == name)):
                raise UserError(f"a token named {name!r} exists (`solbot web token list`)")
            row = WebTokenRow(
                id=str(uuid.uuid4()),
                name=name,
                digest=secrets.digest(secret),
                created_by=actor,
                created_at=self._now(),
            )
            s.add(row)
            await AuditLog(s, self.custody.clock, key).append(actor, "web_token_create", name=name)
        return row, secret

    async def tokens(self) -> list[WebTokenRow]:
        async with self.db.session() as s:
            return list(await s.scalars(select(WebTokenRow).order_by(WebTokenRow.created_at)))

    async def revoke_token(self, name: str, *, actor: str) -> bool:
        """Revoke a token and end the sessions opened with it; False if it already was."""
        key = self.custody.require_key()
        now = self._now()
        async with self.db.session() as s:
            row = await s.scalar(
                select(WebTokenRow).where(WebTokenRow.name == name).with_for_update()
            )
            if row is None:
                raise UserError(f"no token named {name!r} (`solbot web token list`)")
            if row.revoked_at is not None:
                return False
            row.revoked_at = now
            await s.execute(
                update(WebSessionRow)
                .where(WebSessionRow.token_id == row.id, WebSessionRow.ended_at.is_(None))
                .values(ended_at=now)
            )
            await AuditLog(s, self.custody.clock, key).append(actor, "web_token_revoke", name=name)
        return True

    async def bearer(self, secret: str) -> Principal | None:
        """The operator, if `secret` is a live token (its last use noted, at most once a
        minute: most requests only read)."""
        async with self.db.session(read_only=True) as s:
            row = await self._live_token(s, secret)
        if row is None:
            return None
        await self._note_use(row)
        return Principal(None, None, operator_actor(row.name))

    async def live_sessions(self) -> list[tuple[WebSessionRow, str]]:
        """Sessions not ended nor expired, newest first, each with whose it is (a username,
        or `operator:<token>`)."""
        now = self._now()
        async with self.db.session(read_only=True) as s:
            rows = await s.execute(
                select(WebSessionRow, UserRow.username, WebTokenRow.name)
                .outerjoin(UserRow, UserRow.id == WebSessionRow.user_id)
                .outerjoin(WebTokenRow, WebTokenRow.id == WebSessionRow.token_id)
                .where(WebSessionRow.ended_at.is_(None), WebSessionRow.expires_at > now)
                .order_by(WebSessionRow.created_at.desc())
            )
            return [(row, username or f"operator:{token}") for row, username, token in rows]

    async def end_user(self, username: str, *, actor: str) -> int:
        """End a user's browser sessions and spend their unused links (a lost phone, a
        shared computer); how many sessions ended. Audited."""
        key = self.custody.require_key()
        async with self.db.session() as s:
            user = await s.scalar(select(UserRow).where(UserRow.username == username))
            if user is None:
                raise UserError(f"no user {username!r} (`solbot users list`)")
            ended = await WebAccess(s, self.wall).end(user.id)
            await AuditLog(s, self.custody.clock, key).append(
                actor, Action.WEB_END, user.id, sessions=ended
            )
        return ended

    # ------------------------------------------------------------------ friends' links
    async def create_link(self, user_id: str) -> str:
        """A one-time sign-in link's secret for a user (from Telegram's `/web`)."""
        secret = secrets.new(secrets.SIGN_IN_LINK)
        now = self.wall.now()
        async with self.db.session() as s:
            await self._forget_old(s, now)
            s.add(
                WebLinkRow(
                    id=str(uuid.uuid4()),
                    user_id=user_id,
                    digest=secrets.digest(secret),
                    created_at=utc_from_timestamp(now),
                    expires_at=utc_from_timestamp(now + LINK_SECONDS),
                )
            )
        return secret

    # ------------------------------------------------------------------ the Telegram widget
    async def sign_in_telegram(self, login: WidgetLogin) -> OpenedSession | None:
        """A browser session for a friend the Telegram Login Widget vouched for (its hash
        checked by the caller), or None: not a friend of the bot, refused on Telegram, or
        this answer used already (it is spent here like a link, so a copied callback address
        signs nobody in twice)."""
        try:
            return await self._sign_in_telegram(login)
        except IntegrityError:  # the same answer, signed in with at the same moment: spent
            return None

    async def _sign_in_telegram(self, login: WidgetLogin) -> OpenedSession | None:
        now = self.wall.now()
        spent = secrets.digest(f"telegram-widget:{login.hash}")
        async with self.db.session() as s:
            await self._forget_old(s, now)
            user = await s.scalar(
                select(UserRow).where(
                    UserRow.telegram_id == login.telegram_id,
                    UserRow.custody == Custody.VAULT.value,
                )
            )
            if user is None:
                return None
            access = await s.get(TelegramAccessRow, login.telegram_id)
            if access is not None and access.state == REFUSED:
                return None
            if await s.scalar(select(WebLinkRow.id).where(WebLinkRow.digest == spent)):
                return None
            s.add(
                WebLinkRow(
                    id=str(uuid.uuid4()), user_id=user.id, digest=spent,
                    created_at=utc_from_timestamp(now),
                    expires_at=utc_from_timestamp(login.auth_date + FRESH_SECONDS),
                    used_at=utc_from_timestamp(now),
                )
            )  # fmt: skip
            await s.flush()  # two sign-ins with one answer: the second's insert fails here
            opened = self._open(s, Principal(user.id, user.username, user_actor(user.username)))
            await self.custody.audit_or_log(
                s, opened.principal.actor, "web_sign_in", user.id, via="telegram"
            )
        return opened

    # ------------------------------------------------------------------ sessions
    async def sign_in(self, secret: str) -> OpenedSession | None:
        """A browser session for a one-time link or an operator token; None when it is
        neither (unknown, used, expired, revoked). A link is used up here, atomically: of
        two sign-ins with the same link, one wins."""
        async with self.db.session() as s:
            await self._forget_old(s, self.wall.now())
            if secret.startswith(secrets.OPERATOR_TOKEN):
                token = await self._live_token(s, secret)
                if token is None:
                    return None
                await self._note_use(token, s)
                principal = Principal(None, None, operator_actor(token.name))
                opened = self._open(s, principal, token_id=token.id)
            else:
                user = await self._use_link(s, secret)
                if user is None:
                    return None
                opened = self._open(s, Principal(user.id, user.username, user_actor(user.username)))
            principal = opened.principal
            await self.custody.audit_or_log(s, principal.actor, "web_sign_in", principal.user_id)
        return opened

    async def session(self, secret: str) -> Principal | None:
        """Who a session cookie belongs to, while it lives (not ended, not expired, its token
        not revoked, its user still there and not refused on Telegram)."""
        now = self._now()
        stmt = (
            select(WebSessionRow, WebTokenRow, UserRow.username)
            .outerjoin(WebTokenRow, WebTokenRow.id == WebSessionRow.token_id)
            .outerjoin(UserRow, UserRow.id == WebSessionRow.user_id)
            .outerjoin(TelegramAccessRow, TelegramAccessRow.telegram_id == UserRow.telegram_id)
            .where(
                WebSessionRow.digest == secrets.digest(secret),
                WebSessionRow.ended_at.is_(None),
                WebSessionRow.expires_at > now,
                WebTokenRow.revoked_at.is_(None),
                or_(TelegramAccessRow.state.is_(None), TelegramAccessRow.state != REFUSED),
            )
        )
        async with self.db.session(read_only=True) as s:
            found = (await s.execute(stmt)).one_or_none()
        if found is None:
            return None
        row, token, username = found
        if row.user_id is None and token is not None:
            actor = operator_actor(token.name)
            await self._note_use(token)  # a browser's use of the token is its use too
        elif row.user_id is not None and username is not None:
            actor = user_actor(username)
        else:
            return None
        return Principal(row.user_id, username, actor, row.id, row.csrf_digest)

    async def sign_out(self, session_id: str) -> None:
        async with self.db.session() as s:
            await s.execute(
                update(WebSessionRow)
                .where(WebSessionRow.id == session_id, WebSessionRow.ended_at.is_(None))
                .values(ended_at=self._now())
            )

    # ------------------------------------------------------------------ helpers
    def _now(self) -> datetime:
        return utc_from_timestamp(self.wall.now())

    async def _live_token(self, s: AsyncSession, secret: str) -> WebTokenRow | None:
        if not secret.startswith(secrets.OPERATOR_TOKEN):
            return None
        return await s.scalar(
            select(WebTokenRow).where(
                WebTokenRow.digest == secrets.digest(secret), WebTokenRow.revoked_at.is_(None)
            )
        )

    async def _note_use(self, row: WebTokenRow, s: AsyncSession | None = None) -> None:
        now = self.wall.now()
        last = row.last_used_at
        if last is not None and now - last.timestamp() < LAST_USE_EVERY:
            return
        stmt = (
            update(WebTokenRow)
            .where(WebTokenRow.id == row.id)
            .values(last_used_at=utc_from_timestamp(now))
        )
        if s is not None:
            await s.execute(stmt)
            return
        async with self.db.session(durable=False) as own:  # a hint; losing it costs nothing
            await own.execute(stmt)

    async def _use_link(self, s: AsyncSession, secret: str) -> UserRow | None:
        if not secret.startswith(secrets.SIGN_IN_LINK):
            return None
        now = self._now()
        used = await s.execute(
            update(WebLinkRow)
            .where(
                WebLinkRow.digest == secrets.digest(secret),
                WebLinkRow.used_at.is_(None),
                WebLinkRow.expires_at > now,
            )
            .values(used_at=now)
            .returning(WebLinkRow.user_id)
        )
        user_id = used.scalar_one_or_none()
        user = None if user_id is None else await s.get(UserRow, user_id)
        if user is not None and user.telegram_id is not None:
            access = await s.get(TelegramAccessRow, user.telegram_id)
            if access is not None and access.state == REFUSED:
                return None  # revoked on Telegram: the link is spent, nobody signed in
        return user

    async def _forget_old(self, s: AsyncSession, now: float) -> None:
        """Links and sessions over for a day are of no use to anyone: removed as new ones come."""
        gone = utc_from_timestamp(now - 86_400)
        await s.execute(delete(WebLinkRow).where(WebLinkRow.expires_at < gone))
        await s.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < gone))

    def _open(
        self, s: AsyncSession, principal: Principal, *, token_id: str | None = None
    ) -> OpenedSession:
        secret, csrf = secrets.new(), secrets.new()
        now = self.wall.now()
        row = WebSessionRow(
            id=str(uuid.uuid4()),
            digest=secrets.digest(secret),
            csrf_digest=secrets.digest(csrf),
            user_id=principal.user_id,
            token_id=token_id,
            created_at=utc_from_timestamp(now),
            expires_at=utc_from_timestamp(now + SESSION_SECONDS),
        )
        s.add(row)
        opened = Principal(
            principal.user_id, principal.username, principal.actor, row.id, row.csrf_digest
        )
        return OpenedSession(secret, csrf, opened, now + SESSION_SECONDS)
