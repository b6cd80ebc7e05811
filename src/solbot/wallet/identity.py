"""A user's identity, bound to their sealed key and to the audit log.

The envelope binds a sealed key to its user id and wallet address, but nothing bound the *name*
(what `export-key -u bob` looks up) or the Telegram id (what the bot looks up) to them: swapping
two usernames in the database made bob's export print alice's key. The identity MAC closes that:
HMAC-SHA256, under the master key's identity subkey, over the user id, username, Telegram id and
wallet address, stored with the row (`users.identity_mac`) and checked before a row is used for
a key operation (export, signing for the loop, withdrawal) and by `audit verify`. Without the
master key nobody can make a MAC that fits an edited or swapped row.

The audit log records each identity as it was created (the `create` or `import` row carries the
username, wallet and Telegram id), so `audit verify` also notices an old row and its old MAC put
back after a legitimate change. Rows without a MAC (a database from before the column existed,
or a column emptied by an attacker) are adopted only when the audit log verifies and the row is
exactly what the log recorded: adoption can never bless an edited row, so emptying the column
gains an attacker nothing but a refusal.

The rule for code that changes an identity (none does today: a user gets their Telegram id when
created, and pause, risk and notification settings are not identity): change the row,
`seal(key, row)` and append an `identity` audit row with the new values, in one transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from solbot.clock import Clock
from solbot.errors import UserError
from solbot.store.states import Custody
from solbot.store.tables import AuditRow, UserRow
from solbot.wallet import audit
from solbot.wallet.audit import Action, AuditLog
from solbot.wallet.master import MasterKey

_LABEL = b"solbot identity v1"
RECORDS = (Action.CREATE, Action.IMPORT, Action.IDENTITY)  # audit rows that state an identity


class IdentityError(UserError):
    """A user row that is not the identity sealed with it: refused, never acted on."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a row says the user is."""

    user_id: str
    username: str
    telegram_id: int | None
    wallet: str

    @classmethod
    def of(cls, user: UserRow) -> Identity:
        return cls(user.id, user.username, user.telegram_id, user.wallet_pubkey)

    def details(self) -> dict[str, Any]:
        """What an audit row records of it (the user id is the row's own column)."""
        return {"username": self.username, "wallet": self.wallet, "telegram_id": self.telegram_id}


def mac(key: MasterKey, identity: Identity) -> str:
    telegram = "" if identity.telegram_id is None else str(identity.telegram_id)
    parts = (identity.user_id, identity.username, telegram, identity.wallet)
    text = b"\x00".join((_LABEL, *(p.encode() for p in parts)))
    return hmac.new(key.identity_key(), text, hashlib.sha256).hexdigest()


def seal(key: MasterKey, user: UserRow) -> None:
    """Store the MAC of the row's identity with it (in the caller's transaction)."""
    user.identity_mac = mac(key, Identity.of(user))


def holds(key: MasterKey, user: UserRow) -> bool:
    """True when the row carries the MAC of exactly its own identity."""
    stored = user.identity_mac
    return stored is not None and hmac.compare_digest(stored, mac(key, Identity.of(user)))


def require(key: MasterKey, user: UserRow) -> None:
    """Raise `IdentityError` (one line) unless the row is the identity sealed with it."""
    if holds(key, user):
        return
    if user.identity_mac is None:
        why = "has no identity MAC and is not what the audit log recorded at its creation"
    else:
        why = "does not match its identity MAC (username, Telegram id or wallet edited or swapped)"
    raise IdentityError(
        f"user {user.username!r} {why}: refusing to use its key; `solbot audit verify` "
        "reports the tampering"
    )


def recorded(row: AuditRow) -> Identity | None:
    """The identity an audit row states (`RECORDS`), or None if it states none. Rows written
    before the Telegram id was recorded: a Telegram onboarding (`actor` telegram:<id>) gave the
    user that id, any other creation gave none."""
    if row.action not in RECORDS or row.user_id is None:
        return None
    details = json.loads(row.details)
    if "telegram_id" in details:
        telegram = details["telegram_id"]
    elif row.action == Action.CREATE and row.actor.startswith("telegram:"):
        telegram = int(row.actor.removeprefix("telegram:"))
    else:
        telegram = None
    return Identity(
        row.user_id,
        str(details.get("username")),
        None if telegram is None else int(telegram),
        str(details.get("wallet")),
    )


async def records(session: Any) -> dict[str, tuple[AuditRow, Identity]]:
    """The last identity the audit log states for each user id, with the row stating it."""
    rows = await session.scalars(
        select(AuditRow).where(AuditRow.action.in_(RECORDS)).order_by(AuditRow.seq)
    )
    found: dict[str, tuple[AuditRow, Identity]] = {}
    for row in rows:
        identity = recorded(row)
        if identity is not None:
            found[identity.user_id] = (row, identity)
    return found


async def adopt(session: Any, key: MasterKey, clock: Clock, actor: str = "solbot") -> int:
    """Seal the vault rows that have no identity MAC yet, each only if it is exactly the
    identity the audit log recorded for it and the log verifies; one audit row says how many.
    Returns how many were adopted (the others stay refused). One query when there is nothing to
    do, so key operations call it first."""
    unsealed = (
        select(UserRow)
        .where(UserRow.custody == Custody.VAULT.value, UserRow.identity_mac.is_(None))
        .execution_options(populate_existing=True)
    )
    if (await session.scalars(unsealed.limit(1))).first() is None:
        return 0
    log = AuditLog(session, clock, key)
    await log.lock()  # two processes adopting at once: the second finds nothing left
    missing = list(await session.scalars(unsealed))
    if not missing or await audit.verify(session, [key]):
        return 0  # a log that does not verify proves nothing about anyone
    known = await records(session)
    adopted = []
    for user in missing:
        stated = known.get(user.id)
        if stated is not None and stated[1] == Identity.of(user):
            seal(key, user)
            adopted.append(user.username)
    if adopted:
        await log.append(
            actor, Action.IDENTITY_ADOPT, None, users=len(adopted), usernames=adopted[:50]
        )
    await session.flush()
    return len(adopted)
