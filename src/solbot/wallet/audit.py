"""The audit log of wallet operations: append-only, hash-chained, verifiable.

Each row records who (`actor`: "cli", "telegram:<id>", "engine"), what (`action`), whose wallet
(`user_id`), when, and details as JSON; never a secret (an entry whose text looks like one is
refused). Its `mac` is HMAC-SHA256, under the audit key derived from the master key, of the row's
canonical text and the previous row's `mac`. Rows are numbered by the writer (`seq` = head + 1)
under a lock, and the head (last `seq` and `mac`, itself MACed) is kept in `meta`, so
`verify` reports a row that was edited (its MAC fails), deleted (a gap, or a missing tail),
inserted or reordered (the chain breaks).

An append re-reads the database's current master key under the append lock and refuses to
write under any other (`MasterKeyChangedError`): a process still holding the key a rotation
retired (a running bot, a Telegram bot, a CLI started before) can never add a row the new key
cannot verify, which would make `verify` fail and every later rotation refuse.

The chain is only as secret as the master key: whoever holds it can rewrite history, which is
why the key lives outside the database. Rotating the master key re-chains every row under the
new key, in the same transaction that re-seals the wallets, after verifying the old chain.
What the chain alone cannot see (the whole log and its head deleted, or put back as they were
at an earlier moment) the cross-checks of `solbot.wallet.integrity` catch.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text

from solbot.clock import Clock
from solbot.errors import UserError
from solbot.store.tables import AuditRow, MetaEntry
from solbot.store.types import utc_from_timestamp
from solbot.wallet import keycheck
from solbot.wallet.master import MasterKey
from solbot.wallet.redact import contains_secret

HEAD_KEY = "audit_head"
GENESIS = "0" * 64
_LOCK_KEY = 0x50_1B_07_A0_D1_7C  # a fixed advisory lock id for appends on PostgreSQL


class Action:
    """The actions recorded (plain strings in the table)."""

    CREATE = "create"
    IMPORT = "import"
    EXPORT = "export"
    EXPORT_REFUSED = "export_refused"  # the key was not given out: the limit, or it did not open
    OPEN_FAILED = "open_failed"  # a sealed key did not open (altered, moved, another key)
    WITHDRAW = "withdraw"
    ROTATE = "rotate"
    PAUSE = "pause"
    RESUME = "resume"
    RISK = "risk"
    DECRYPTIONS = "decryptions"
    DECRYPT_ALERT = "decrypt_alert"
    RESTORE = "restore"
    IDENTITY = "identity"  # a user's identity changed (see `identity`); none does today
    IDENTITY_ADOPT = "identity_adopt"  # rows of an older database sealed (see `identity`)
    REARM = "rearm"
    CLOSE_REQUEST = "close_request"  # a user asked to sell a position now (Telegram, the web)
    WEB_END = "web_end"  # a user's dashboard sessions and links ended (access revoked)


class MasterKeyChangedError(UserError):
    """The database moved to another master key (a rotation) after this process took its key:
    nothing may be written under the old one."""


def row_text(
    seq: int, at: datetime, actor: str, action: str, user_id: str | None, details: str, key_id: str
) -> bytes:
    """The canonical bytes a row's MAC covers (with the previous MAC)."""
    stamp = at.isoformat(timespec="microseconds")
    return "\n".join((str(seq), stamp, actor, action, user_id or "", details, key_id)).encode()


def row_mac(key: bytes, previous: str, row: AuditRow) -> str:
    body = row_text(row.seq, row.at, row.actor, row.action, row.user_id, row.details, row.key_id)
    return hmac.new(key, previous.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def head_mac(key: bytes, seq: int, mac: str) -> str:
    return hmac.new(key, f"head\n{seq}\n{mac}".encode(), hashlib.sha256).hexdigest()


class AuditLog:
    """Appends to the log in the caller's transaction (so an operation and its record commit
    together)."""

    def __init__(self, session: Any, clock: Clock, key: MasterKey) -> None:
        self.session = session
        self.clock = clock
        self.key = key

    async def append(
        self, actor: str, action: str, user_id: str | None = None, **details: Any
    ) -> AuditRow:
        body = json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)
        if contains_secret(body) or contains_secret(actor):
            raise ValueError(f"audit entry {action!r} looks like it carries a secret; refused")
        await self.lock()
        current = await keycheck.current_key_id(self.session)
        if current is not None and current != self.key.key_id:
            raise MasterKeyChangedError(
                f"the database's master key is now {current}, not {self.key.key_id} (it was "
                "rotated while this ran): nothing was recorded; use the new "
                "MASTER_ENCRYPTION_KEY"
            )
        head = await self.session.get(MetaEntry, HEAD_KEY, populate_existing=True)
        seq, previous = (0, GENESIS) if head is None else _parse_head(head.value)
        at = utc_from_timestamp(self.clock.now())
        row = AuditRow(
            seq=seq + 1,
            at=at,
            actor=actor,
            action=action,
            user_id=user_id,
            details=body,
            key_id=self.key.key_id,
            mac="",
        )
        row.mac = row_mac(self.key.audit_key(), previous, row)
        self.session.add(row)
        value = _head_value(self.key, row.seq, row.mac)
        if head is None:
            self.session.add(MetaEntry(key=HEAD_KEY, value=value))
        else:
            head.value = value
        await self.session.flush()
        return row

    async def lock(self) -> None:
        """Serialise appends (and rotations, which take it first): SQLite's BEGIN IMMEDIATE
        already holds the write lock; PostgreSQL takes a transaction-scoped advisory lock."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})

    async def rechain(self, old: MasterKey) -> int:
        """Re-MAC every row under this log's key after checking it under `old` (rotation).
        Raises ValueError if the old chain does not verify: a rotation must not launder a
        tampered log."""
        await self.lock()
        problems = await verify(self.session, [old, self.key])
        if problems:
            raise ValueError(
                f"the audit log does not verify, so it was not re-chained: {problems[0]}"
            )
        rows = list(await self.session.scalars(select(AuditRow).order_by(AuditRow.seq)))
        previous = GENESIS
        for row in rows:
            row.key_id = self.key.key_id
            row.mac = row_mac(self.key.audit_key(), previous, row)
            previous = row.mac
        head = await self.session.get(MetaEntry, HEAD_KEY)
        if head is not None and rows:
            head.value = _head_value(self.key, rows[-1].seq, rows[-1].mac)
        await self.session.flush()
        return len(rows)


@dataclass(frozen=True)
class Problem:
    seq: int | None
    text: str

    def __str__(self) -> str:
        return self.text if self.seq is None else f"row {self.seq}: {self.text}"


async def verify(session: Any, keys: Iterable[MasterKey]) -> list[Problem]:
    """Every way the stored log differs from what was appended; empty when intact."""
    by_id = {key.key_id: key for key in keys}
    rows = list(await session.scalars(select(AuditRow).order_by(AuditRow.seq)))
    problems: list[Problem] = []
    previous, expected = GENESIS, 1
    for row in rows:
        if row.seq != expected:
            if row.seq > expected:
                gap = f"{expected}" if row.seq == expected + 1 else f"{expected}–{row.seq - 1}"
                problems.append(Problem(None, f"rows {gap} are missing (deleted)"))
            expected = row.seq
        key = by_id.get(row.key_id)
        if key is None:
            problems.append(Problem(row.seq, f"MACed under unknown master key {row.key_id}"))
        elif not hmac.compare_digest(row_mac(key.audit_key(), previous, row), row.mac):
            problems.append(Problem(row.seq, "edited, inserted or out of order (MAC mismatch)"))
        previous, expected = row.mac, row.seq + 1
    head = await session.get(MetaEntry, HEAD_KEY)
    if head is None:
        if rows:
            problems.append(Problem(None, "the log's head record is missing from meta"))
        return problems
    try:
        seq, mac, tag = _split_head(head.value)
    except ValueError:
        return [*problems, Problem(None, "the log's head record is unreadable")]
    key = by_id.get(rows[-1].key_id) if rows else next(iter(by_id.values()), None)
    if key is not None and not hmac.compare_digest(head_mac(key.audit_key(), seq, mac), tag):
        problems.append(Problem(None, "the log's head record was edited"))
    last = rows[-1].seq if rows else 0
    if seq > last:
        gap = f"{last + 1}" if seq == last + 1 else f"{last + 1}–{seq}"
        problems.append(Problem(None, f"rows {gap} are missing at the end (deleted)"))
    elif rows and (seq != last or mac != rows[-1].mac):
        problems.append(Problem(None, "rows were added after the head (not by solbot)"))
    return problems


def _head_value(key: MasterKey, seq: int, mac: str) -> str:
    return json.dumps({"seq": seq, "mac": mac, "tag": head_mac(key.audit_key(), seq, mac)})


def _split_head(value: str) -> tuple[int, str, str]:
    data = json.loads(value)
    return int(data["seq"]), str(data["mac"]), str(data["tag"])


def _parse_head(value: str) -> tuple[int, str]:
    seq, mac, _tag = _split_head(value)
    return seq, mac
