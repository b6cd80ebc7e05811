"""What the operator does to the whole group: pause or resume everyone, stop or restart new
entries for everyone (exits keep running), and let newcomers in from Telegram. Every change is
audited, under the operator's actor name, like the per-user changes of `custody`.

The entry switch is a `meta` row (`entries_stopped`, the actor and time), so that it survives
restarts and reaches a running loop from another process: the roster reads it whenever the
loop looks at its users (each closed candle), and the engine plans no entries while it is on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import delete, select

from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.store.states import Custody
from solbot.store.tables import MetaEntry, TelegramAccessRow
from solbot.store.types import utc_from_timestamp
from solbot.store.users import Users
from solbot.store.web_access import WebAccess
from solbot.wallet import keycheck
from solbot.wallet.audit import Action, AuditLog

log = logging.getLogger(__name__)

ENTRIES_KEY = "entries_stopped"
PENDING, APPROVED, REFUSED = "pending", "approved", "refused"
OPERATOR_PAUSE = "paused by the operator for everyone"  # the reason /resumeall looks for


async def entries_stopped(session: object) -> bool:
    """Whether the operator stopped new entries for everyone."""
    return await session.get(MetaEntry, ENTRIES_KEY) is not None  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Asked:
    state: str  # the request's state after asking
    new: bool  # this was the first time: the operator is to be asked


class GroupAdmin:
    def __init__(self, custody: CustodyService) -> None:
        self.custody = custody
        self.db = custody.db
        self.clock = custody.clock

    # ------------------------------------------------------------------ everyone's trading
    async def set_all_active(self, active: bool, *, actor: str) -> list[str]:
        """Pause every vault user, or resume those the operator paused this way (a friend who
        paused themselves, or one paused from the CLI, stays paused); each audited as their
        own pause or resume. The names that changed."""
        async with self.db.session() as s:
            users = await Users(s, self.clock).all(custody=Custody.VAULT)
        names = [u.username for u in users if not active or u.paused_reason == OPERATOR_PAUSE]
        changed = []
        for name in names:
            if await self.custody.set_active(name, active, actor=actor, reason=OPERATOR_PAUSE):
                changed.append(name)
        return changed

    async def set_entries(self, stopped: bool, *, actor: str) -> bool:
        """Stop (or allow again) new entries for everyone; False when it already was so.
        Stopping is an emergency brake, like a pause: it works whatever the key's state, and
        is audited when the key is this database's (logged otherwise). Allowing entries again
        needs the key."""
        async with self.db.session() as s:
            unaudited = await self.custody.why_unauditable(s)
            if unaudited is not None and not stopped:
                raise UserError(unaudited)
            row = await s.get(MetaEntry, ENTRIES_KEY)
            if (row is not None) == stopped:
                return False
            if stopped:
                at = utc_from_timestamp(self.clock.now()).isoformat()
                s.add(MetaEntry(key=ENTRIES_KEY, value=json.dumps({"by": actor, "at": at})))
            else:
                await s.execute(delete(MetaEntry).where(MetaEntry.key == ENTRIES_KEY))
            action = "entries_stop" if stopped else "entries_start"
            if unaudited is None:
                await AuditLog(s, self.clock, self.custody.require_key()).append(actor, action)
            else:
                log.warning("%s by %s not audited: %s", action, actor, unaudited)
        return True

    # ------------------------------------------------------------------ newcomers
    async def ask(self, telegram_id: int, name: str) -> Asked:
        """A Telegram account asks to join; what state its request is in."""
        async with self.db.session() as s:
            row = await s.get(TelegramAccessRow, telegram_id)
            if row is not None:
                return Asked(row.state, False)
            s.add(
                TelegramAccessRow(
                    telegram_id=telegram_id,
                    name=name[:96],
                    state=PENDING,
                    asked_at=utc_from_timestamp(self.clock.now()),
                )
            )
        return Asked(PENDING, True)

    async def decide(
        self, telegram_id: int, approve: bool, *, actor: str, revoke: bool = False
    ) -> TelegramAccessRow:
        """The operator's answer to a request (or, with `revoke`, the withdrawal of an
        approval); audited."""
        key = self.custody.require_key()
        async with self.db.session() as s:
            await keycheck.check(s, key)
            row = await s.get(TelegramAccessRow, telegram_id, with_for_update=True)
            if row is None:
                raise UserError(f"nobody with Telegram id {telegram_id} asked to join")
            expected = APPROVED if revoke else PENDING
            if row.state != expected:  # answered once: a second press changes nothing
                raise UserError(f"{row.name} was {row.state} already")
            row.state = APPROVED if approve else REFUSED
            row.decided_at = utc_from_timestamp(self.clock.now())
            row.decided_by = actor
            action = "access_approve" if approve else "access_revoke" if revoke else "access_refuse"
            await AuditLog(s, self.clock, key).append(
                actor, action, telegram_id=telegram_id, name=row.name
            )
            if revoke:  # out of the dashboard at the same moment (its sessions, its links)
                user = await Users(s, self.clock).by_telegram_id(telegram_id)
                if user is not None:
                    ended = await WebAccess(s, self.clock).end(user.id)
                    await AuditLog(s, self.clock, key).append(
                        actor, Action.WEB_END, user.id, sessions=ended
                    )
            await s.flush()
            return row

    async def approved_ids(self) -> set[int]:
        async with self.db.session() as s:
            rows = await s.scalars(
                select(TelegramAccessRow.telegram_id).where(TelegramAccessRow.state == APPROVED)
            )
            return set(rows)
