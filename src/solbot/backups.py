"""Backups as the operator uses them: proven whole before they are trusted, and restored only
then, with the restore itself in the audit log.

`drill` restores a backup into a scratch SQLite database and checks it the way `solbot audit
verify` checks a live one, plus every sealed key: the backup's MAC (`store.backup`), every vault
wallet opening under the master key to the address stored with it, the audit chain and what
anchors it (`wallet.integrity`: identities, creation and withdrawal records). `restore` runs
the drill first and touches the target only when it found nothing, so a refused restore leaves
the target exactly as it was; then it appends a `restore` row to the restored log.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from solbot.clock import Clock
from solbot.config import Settings
from solbot.errors import UserError
from solbot.fee_sweeps import HELD_KEY
from solbot.private_files import private_dir
from solbot.services.custody import CustodyService
from solbot.store import backup, schema, world_mark
from solbot.store.db import Database
from solbot.store.tables import MetaEntry
from solbot.wallet import integrity, keycheck
from solbot.wallet.audit import Action, AuditLog
from solbot.wallet.master import MasterKey
from solbot.worlds import World


async def create(settings: Settings, file: Path, key: MasterKey, clock: Clock) -> backup.BackupInfo:
    """`solbot backup create`: a snapshot of the settings' database into `file` (0600, in a
    folder made 0700), MACed under `key` once it is known to be the database's (`keycheck`: a
    database with no key registered has nothing sealed) and the schema current."""
    await schema.prepare(settings.database, settings.world, settings.world_hints())
    db = Database(settings.database)
    try:
        async with db.session() as s:
            await keycheck.check(s, key)
    finally:
        await db.dispose()
    await schema.check_current(settings.database, settings.world, settings.world_hints())
    when = datetime.fromtimestamp(clock.now(), UTC).isoformat(timespec="seconds")
    private_dir(file.expanduser().parent)
    return await backup.create(settings.database, file, when, key)


def altered(file: Path) -> str:
    return f"{file} was altered after it was made (its MAC does not verify)"


async def drill(
    file: Path, document: dict[str, Any], key: MasterKey, clock: Clock
) -> tuple[backup.BackupInfo | None, list[str]]:
    """Every problem of the backup, none when it is whole; `UserError` if `key` is not the
    master key it was made under. The configured database is not touched."""
    backup.require_key(document, key)
    if not backup.authentic(document, key):
        return None, [altered(file)]
    with tempfile.TemporaryDirectory(prefix="solbot-verify-") as folder:
        url = f"sqlite:///{Path(folder) / 'scratch.db'}"
        info = await backup.restore(url, document)
        db = Database(url)
        try:
            problems = await CustodyService(db, clock, key).verify_wallets()
            async with db.session() as s:
                problems += [str(p) for p in await integrity.problems(s, key)]
        finally:
            await db.dispose()
    return info, problems


async def restore(
    url: str,
    file: Path,
    document: dict[str, Any],
    key: MasterKey,
    clock: Clock,
    actor: str,
    world: World,
) -> backup.BackupInfo:
    """Restore a backup that the drill finds whole into the (empty) database at `url` of
    `world`, and audit it; `UserError` naming the first problem otherwise, with nothing
    changed. A backup of another world is refused; one from before worlds becomes `world`'s
    (restoring it there is the operator's word for it)."""
    held = backup.world_of(document)
    if held is not None and held != world.name:
        raise UserError(
            f"{file} is a backup of the {held} world, not {world}: restore it with the settings "
            f"of {held} (SOLBOT_NETWORK, --paper); nothing was restored"
        )
    info, problems = await drill(file, document, key, clock)
    if problems:
        more = f" ({len(problems)} problems: `solbot backup verify` lists them)"
        raise UserError(f"{problems[0]}{more if len(problems) > 1 else ''}; nothing was restored")
    assert info is not None
    info = await backup.restore(url, document)
    db = Database(url)
    try:
        async with db.session() as s:
            await keycheck.check(s, key)
            if held is None:
                s.add(MetaEntry(key=world_mark.WORLD_KEY, value=world.name))
            # A fee paid after the backup was made is not in it: paying what it says is owed
            # would pay that fee again. Automatic payments wait for the operator's word.
            s.add(MetaEntry(key=HELD_KEY, value=f"{file.name}, made {info.created_at}"))
            await AuditLog(s, clock, key).append(
                actor,
                Action.RESTORE,
                None,
                backup=file.name,
                made=info.created_at,
                revision=info.revision,
                rows=sum(info.rows.values()),
                mac=str(document["mac"])[:16],
            )
    finally:
        await db.dispose()
    return info
