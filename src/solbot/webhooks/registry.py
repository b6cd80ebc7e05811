"""The webhooks: the operator's own (every user's events, and the alerts) and each user's (that
user's events), added by the operator (`solbot webhook add/list/remove`) or, a user's own, from
the dashboard. What the dashboard adds posts to the public internet only (`public_only`: a
friend must not make the bot post to this machine or its network). An address carries its
endpoint's token (Discord's and Slack's do), so it is a secret: sealed under the master key
(bound to the webhook's id), never printed whole after it is given, never logged; listings
show a hint. Adding and removing are audited and need the master key."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.tables import UserRow
from solbot.store.types import utc_from_timestamp
from solbot.store.webhook_tables import WebhookDeliveryRow, WebhookRow
from solbot.wallet import keycheck
from solbot.wallet.audit import AuditLog
from solbot.wallet.master import MasterKey
from solbot.webhooks import formats, sender
from solbot.webhooks.addresses import check_address, hint_of, open_address, seal_address
from solbot.webhooks.formats import GROUPS, USER_GROUPS, HookKind, kind_of

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
NEEDS_KEY = (
    "webhooks need the master key (MASTER_ENCRYPTION_KEY): their addresses carry tokens and "
    "are stored sealed"
)


@dataclass(frozen=True)
class Hook:
    id: str
    name: str
    user_id: str | None  # None: the operator's
    username: str | None
    kind: HookKind
    hint: str
    events: frozenset[str]
    sealed: bytes
    created_by: str = ""

    def wants(self, group: str) -> bool:
        return group in self.events

    @property
    def public_only(self) -> bool:
        """Added from the dashboard: posted to the public internet only."""
        return from_dashboard(self.created_by)


MAX_FROM_DASHBOARD = 5  # webhooks a user may add from the dashboard


def from_dashboard(actor: str) -> bool:
    return actor.startswith("web:")


def parse_events(text: str | None, for_user: bool) -> frozenset[str]:
    allowed = USER_GROUPS if for_user else tuple(GROUPS)
    if text is None:
        return frozenset(allowed)
    wanted = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(wanted - set(allowed))
    if unknown or not wanted:
        raise UserError(
            f"unknown event group(s) {', '.join(unknown) or '(none)'}: choose from "
            f"{', '.join(allowed)}" + (" (alerts are the operator's)" if for_user else "")
        )
    return wanted


class Webhooks:
    def __init__(self, custody: CustodyService) -> None:
        self.custody = custody
        self.db = custody.db

    async def add(
        self,
        name: str,
        url: str,
        *,
        actor: str,
        username: str | None = None,
        kind: HookKind | None = None,
        events: str | None = None,
    ) -> Hook:
        if not NAME.fullmatch(name):
            raise UserError(
                f"invalid webhook name {name!r}: 1 to 32 characters of a-z, 0-9, _ and -"
            )
        url = check_address(url, public=from_dashboard(actor))
        groups = parse_events(events, for_user=username is not None)
        key = self.custody.key
        if key is None:
            raise UserError(NEEDS_KEY)
        try:
            return await self._add(name, url, actor, username, kind, groups, key)
        except IntegrityError:  # the same name added at the same moment elsewhere
            raise UserError(f"a webhook named {name!r} exists (`solbot webhook list`)") from None

    async def _add(
        self,
        name: str,
        url: str,
        actor: str,
        username: str | None,
        kind: HookKind | None,
        groups: frozenset[str],
        key: MasterKey,
    ) -> Hook:
        async with self.db.session() as s:
            await keycheck.check(s, key, register=True)  # the key the database keeps
            if await s.scalar(select(WebhookRow.id).where(WebhookRow.name == name)):
                raise UserError(f"a webhook named {name!r} exists (`solbot webhook list`)")
            user_id = None
            if username is not None:
                user_id = await s.scalar(select(UserRow.id).where(UserRow.username == username))
                if user_id is None:
                    raise UserError(f"no user {username!r} (`solbot users list`)")
            if from_dashboard(actor):
                await _room_for_one_more(s, user_id)
            hook_id = str(uuid.uuid4())
            row = WebhookRow(
                id=hook_id,
                name=name,
                user_id=user_id,
                kind=(kind or kind_of(url)).value,
                url_sealed=seal_address(key, hook_id, url),
                url_hint=hint_of(url)[:80],
                events=",".join(sorted(groups)),
                created_by=actor,
                created_at=utc_from_timestamp(self.custody.clock.now()),
            )
            s.add(row)
            await s.flush()
            await AuditLog(s, self.custody.clock, key).append(
                actor, "webhook_add", user_id, name=name, kind=row.kind, events=row.events
            )
        return _hook(row, username)

    async def all(self) -> list[Hook]:
        return await load(self.db)

    async def named(self, name: str) -> Hook:
        for hook in await self.all():
            if hook.name == name:
                return hook
        raise UserError(f"no webhook named {name!r} (`solbot webhook list`)")

    async def of_user(self, username: str) -> list[Hook]:
        return [hook for hook in await self.all() if hook.username == username]

    async def remove(self, name: str, *, actor: str, username: str | None = None) -> None:
        """The webhook and what is still owed to it go; audited. With `username`, only one of
        that user's (a friend's from the dashboard: another's is "no webhook" to them)."""
        key = self.custody.key
        if key is None:
            raise UserError(NEEDS_KEY)
        async with self.db.session() as s:
            row = await s.scalar(select(WebhookRow).where(WebhookRow.name == name))
            if row is not None and username is not None:
                owner = await s.scalar(select(UserRow.username).where(UserRow.id == row.user_id))
                row = row if owner == username else None
            if row is None:
                raise UserError(f"no webhook named {name!r} (`solbot webhook list`)")
            await s.execute(
                delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == row.id)
            )
            await s.execute(delete(WebhookRow).where(WebhookRow.id == row.id))
            await AuditLog(s, self.custody.clock, key).append(
                actor, "webhook_remove", row.user_id, name=name
            )


async def send_test(
    custody: CustodyService, hook: Hook, world: str, *, public_only: bool = False
) -> sender.Answer:
    """A test message to `hook` now, from this process; what its endpoint answered.
    `public_only` for a friend asking (their answer shows what the endpoint said: never one
    on this machine or its network, whoever added it)."""
    url = open_address(custody.require_key(), hook.id, hook.name, hook.sealed)
    text = f"a test from solbot ({world}): this webhook works"
    body = formats.body(hook.kind, "test", hook.username, text, datetime.now(UTC), "")
    async with sender.client(public_only=public_only or hook.public_only) as http:
        return await sender.post(http, url, json.dumps(body, ensure_ascii=False))


async def _room_for_one_more(s: AsyncSession, user_id: str | None) -> None:
    if user_id is None:
        raise UserError("the operator's own webhooks are added with `solbot webhook add`")
    # The user's row locked first: two adds at once count one after the other (PostgreSQL
    # reads committed rows only; SQLite's writers are one at a time already).
    await s.execute(select(UserRow.id).where(UserRow.id == user_id).with_for_update())
    added = await s.scalar(
        select(func.count())
        .select_from(WebhookRow)
        .where(WebhookRow.user_id == user_id, WebhookRow.created_by.startswith("web:"))
    )
    if (added or 0) >= MAX_FROM_DASHBOARD:
        raise UserError(
            f"{MAX_FROM_DASHBOARD} webhooks added from the dashboard already: remove one first"
        )


async def load(db: Database) -> list[Hook]:
    """Every webhook, in the order they were added."""
    async with db.session(read_only=True) as s:
        rows = await s.execute(
            select(WebhookRow, UserRow.username)
            .outerjoin(UserRow, UserRow.id == WebhookRow.user_id)
            .order_by(WebhookRow.created_at, WebhookRow.name)
        )
        return [_hook(row, username) for row, username in rows]


def _hook(row: WebhookRow, username: str | None) -> Hook:
    return Hook(
        id=row.id,
        name=row.name,
        user_id=row.user_id,
        username=username,
        kind=HookKind(row.kind),
        hint=row.url_hint,
        events=frozenset(row.events.split(",")),
        sealed=row.url_sealed,
        created_by=row.created_by,
    )
