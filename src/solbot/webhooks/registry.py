"""The webhooks the operator set up (`solbot webhook add/list/remove`): the operator's own (every
user's events, and the alerts) and each user's (that user's events). An address carries its
endpoint's token (Discord's and Slack's do), so it is a secret: sealed under the master key
(bound to the webhook's id), never printed whole after it is given, never logged; listings
show a hint. Adding and removing are audited and need the master key."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.tables import UserRow
from solbot.store.types import utc_from_timestamp
from solbot.store.webhook_tables import WebhookDeliveryRow, WebhookRow
from solbot.wallet import keycheck
from solbot.wallet.audit import AuditLog
from solbot.wallet.master import MasterKey
from solbot.webhooks.addresses import check_address, hint_of, seal_address
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

    def wants(self, group: str) -> bool:
        return group in self.events


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
        url = check_address(url)
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

    async def remove(self, name: str, *, actor: str) -> None:
        """The webhook and what is still owed to it go; audited."""
        key = self.custody.key
        if key is None:
            raise UserError(NEEDS_KEY)
        async with self.db.session() as s:
            row = await s.scalar(select(WebhookRow).where(WebhookRow.name == name))
            if row is None:
                raise UserError(f"no webhook named {name!r} (`solbot webhook list`)")
            await s.execute(
                delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == row.id)
            )
            await s.execute(delete(WebhookRow).where(WebhookRow.id == row.id))
            await AuditLog(s, self.custody.clock, key).append(
                actor, "webhook_remove", row.user_id, name=name
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
    )
