"""Everything `solbot audit verify` checks: the audit chain, and what anchors it to the rest of
the database.

The chain (`audit.verify`) finds a row edited, inserted, reordered or deleted, and its MACed
head (the count of rows and the last row's MAC, `audit_head` in `meta`) finds a deleted tail.
What the chain alone cannot see is the log deleted whole with its head, or put back, head and
all, as it was at an earlier moment: both are consistent chains. So the log is anchored to what
must have rows in it, none of which an attacker without the master key can fake:

- a database with a registered master key has at least one row (the key is registered in the
  transaction that creates the first wallet and records it);
- every vault user has the `create` or `import` row that recorded them, every such row's user
  is still a vault user, and the user is the identity the row recorded (`identity`);
- every vault user's row carries the MAC of its identity;
- every withdrawal has the `withdraw` row that requested it, with the same user, destination
  and amount, and every such row's withdrawal still exists.

An earlier state of the whole database, every table put back together, is beyond any check
inside it: that is what restoring an old backup does, and why backups are kept under the
operator's eye (see `store.backup`).

Each kind of problem is one line (naming up to ten users or withdrawals).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from solbot.store.states import Custody
from solbot.store.tables import AuditRow, UserRow, WithdrawalRow
from solbot.wallet import audit, identity, keycheck
from solbot.wallet.audit import Action, Problem
from solbot.wallet.master import MasterKey

_SHOWN = 10


async def report(session: Any, key: MasterKey) -> tuple[int, list[Problem]]:
    """`solbot audit verify`: the audit log's row count and its `problems`, under `key` once it
    is known to be the database's (`keycheck`: a database with no key registered has nothing
    sealed, and says so)."""
    await keycheck.check(session, key)
    count = int(await session.scalar(select(func.count()).select_from(AuditRow)) or 0)
    return count, await problems(session, key)


async def problems(session: Any, key: MasterKey) -> list[Problem]:
    """Every way the database differs from what solbot wrote; empty when intact."""
    found = await audit.verify(session, [key])
    count = int(await session.scalar(select(func.count()).select_from(AuditRow)) or 0)
    vault = list(
        await session.scalars(
            select(UserRow)
            .where(UserRow.custody == Custody.VAULT.value)
            .order_by(UserRow.created_at, UserRow.username)
        )
    )
    current = await keycheck.current_key_id(session)
    if current is not None and count == 0:
        found.append(
            Problem(
                None,
                "the audit log is empty although this database has a master key registered "
                "(registered with the first wallet, which was recorded): the log was emptied",
            )
        )
    if current is None and vault:
        found.append(
            Problem(
                None,
                f"{len(vault)} vault wallet(s) but no master key registered in meta (deleted)",
            )
        )
    found += await _identities(session, key, vault)
    found += await _withdrawals(session)
    return found


async def _identities(session: Any, key: MasterKey, vault: list[UserRow]) -> list[Problem]:
    records = await identity.records(session)
    missing, differing, unsealed = [], [], []
    for user in vault:
        stated = records.get(user.id)
        if stated is None:
            missing.append(user.username)
        elif stated[1] != identity.Identity.of(user):
            differing.append(user.username)
        if user.identity_mac is not None and not identity.holds(key, user):
            unsealed.append(user.username)
        # No MAC yet but what the log recorded: adopted at the next key operation.
    out = []
    if missing:
        out.append(
            f"{_names(missing)}: no create or import row in the audit log (deleted, or the log "
            "was emptied or rolled back)"
        )
    if differing:
        out.append(
            f"{_names(differing)}: identity differs from what the audit log recorded (username, "
            "Telegram id or wallet swapped or edited in the database)"
        )
    if unsealed:
        out.append(
            f"{_names(unsealed)}: identity MAC does not verify (username, Telegram id or "
            "wallet swapped or edited in the database)"
        )
    in_vault = {user.id for user in vault}
    gone = [
        f"{stated.username} (row {row.seq})"
        for user_id, (row, stated) in records.items()
        if user_id not in in_vault
    ]
    if gone:
        out.append(
            f"{_names(gone)}: recorded in the audit log but no longer a vault user (deleted or "
            "edited)"
        )
    return [Problem(None, text) for text in out]


async def _withdrawals(session: Any) -> list[Problem]:
    audited: dict[str, AuditRow] = {}
    for row in await session.scalars(
        select(AuditRow).where(AuditRow.action == Action.WITHDRAW).order_by(AuditRow.seq)
    ):
        withdrawal = json.loads(row.details).get("withdrawal")
        if withdrawal is not None:
            audited[str(withdrawal)] = row
    missing, differing = [], []
    for withdrawal in await session.scalars(
        select(WithdrawalRow).order_by(WithdrawalRow.created_at)
    ):
        row = audited.pop(withdrawal.id, None)
        if row is None:
            missing.append(withdrawal.id)
        elif not _same(withdrawal, row):
            differing.append(withdrawal.id)
    out = []
    if missing:
        out.append(
            f"{_names(missing, 'withdrawal')}: no withdraw row in the audit log (deleted or "
            "rolled back)"
        )
    if differing:
        out.append(f"{_names(differing, 'withdrawal')}: differs from its audit row (edited)")
    if audited:
        gone = [f"{w} (row {row.seq})" for w, row in audited.items()]
        out.append(f"{_names(gone, 'withdrawal')}: audited but no longer in the database")
    return [Problem(None, text) for text in out]


def _same(withdrawal: WithdrawalRow, row: AuditRow) -> bool:
    details = json.loads(row.details)
    return (
        row.user_id == withdrawal.user_id
        and details.get("destination") == withdrawal.destination
        and details.get("lamports") == withdrawal.lamports
    )


def _names(items: Sequence[str], noun: str = "user") -> str:
    shown = ", ".join(items[:_SHOWN])
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    plural = "s" if len(items) > 1 else ""
    return f"{noun}{plural} {shown}{more}"
