"""Backups: a consistent, portable snapshot of the whole database, and its restore.

A backup is one gzip-compressed JSON document: the format, the schema revision, when it was
made, and every row of every table, read in a single transaction (a snapshot: PostgreSQL's
REPEATABLE READ, SQLite's one read transaction), so it never holds half of an operation. Values
keep their exact form: atoms and prices as decimal strings, bytes in base64, times in ISO-8601.
The same file restores into SQLite or PostgreSQL, whichever the backup came from.

Sealed keys stay sealed: a backup is useless without the master key, and the master key is
never in it. The file is still written with mode 0600 and atomically (a temporary file, fsync,
rename), so a failed backup never replaces a good one.

A backup carries the id of the master key it was made under and an HMAC-SHA256, under that
key's backup subkey, over the canonical JSON of everything else in the document: an edited risk
limit, position, trade or audit row, or a changed date, makes `authentic` false. Backups of the
first format (`solbot-backup-v1`) had no MAC and are refused: nothing could tell whether they
were edited.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, Table, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from solbot.errors import UserError
from solbot.private_files import write_private
from solbot.store import schema
from solbot.store.db import create_engine
from solbot.store.tables import Base
from solbot.store.types import Atoms, Price, UtcDateTime
from solbot.store.world_mark import WORLD_KEY
from solbot.wallet.keycheck import CURRENT
from solbot.wallet.master import MasterKey

FORMAT = "solbot-backup-v2"
UNSIGNED_FORMATS = ("solbot-backup-v1",)


@dataclass(frozen=True)
class BackupInfo:
    revision: str
    created_at: str
    rows: dict[str, int]


def _tables() -> list[Table]:
    """Every table, parents before children (foreign keys)."""
    return list(Base.metadata.sorted_tables)


def _encode(column_type: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column_type, Atoms):
        return str(value)
    if isinstance(column_type, Price):
        return format(value, "f")
    if isinstance(column_type, UtcDateTime):
        return value.isoformat()
    if isinstance(column_type, LargeBinary):
        return base64.b64encode(value).decode()
    return value


def _decode(column_type: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column_type, Atoms):
        return int(value)
    if isinstance(column_type, Price):
        return Decimal(value)
    if isinstance(column_type, UtcDateTime):
        return datetime.fromisoformat(value)
    if isinstance(column_type, LargeBinary):
        return base64.b64decode(value)
    return value


def mac(key: MasterKey, document: dict[str, Any]) -> str:
    """The MAC of everything in `document` but its `mac`, over canonical JSON (what a JSON
    round trip keeps: the document holds only strings, integers, booleans and nulls)."""
    body = {name: value for name, value in document.items() if name != "mac"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key.backup_key(), text.encode(), hashlib.sha256).hexdigest()


def require_key(document: dict[str, Any], key: MasterKey) -> None:
    """Raise `UserError` unless `key` is the master key the backup was made under."""
    made_under = document.get("key_id")
    if made_under != key.key_id:
        raise UserError(
            f"the backup was made under master key {made_under}, but MASTER_ENCRYPTION_KEY is "
            f"key {key.key_id}: set the key it was made under"
        )


def authentic(document: dict[str, Any], key: MasterKey) -> bool:
    """True when the document is exactly what `create` wrote under `key`."""
    stored = document.get("mac")
    return isinstance(stored, str) and hmac.compare_digest(stored, mac(key, document))


async def create(url: str, path: Path, created_at: str, key: MasterKey) -> BackupInfo:
    """Write a backup of the database at `url` to `path`, MACed under `key` (the database's
    master key, checked by the caller and again in the snapshot); refuses to overwrite a
    file."""
    if path.exists():
        raise UserError(f"{path} exists; refusing to overwrite a backup (choose another name)")
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            revision = await conn.run_sync(schema.revision_of)
            if revision is None:
                raise UserError("the database has no solbot schema: nothing to back up")
            schema.require_head(revision)
            tables: dict[str, list[dict[str, Any]]] = {}
            for table in _tables():
                result = await conn.execute(select(table).order_by(*table.primary_key.columns))
                tables[table.name] = [
                    {c.name: _encode(c.type, row._mapping[c.name]) for c in table.columns}
                    for row in result
                ]
            await conn.rollback()
    finally:
        await engine.dispose()
    current = next((m["value"] for m in tables.get("meta", []) if m["key"] == CURRENT), None)
    if current not in (None, key.key_id):
        raise UserError(
            f"the database's master key changed to {current} while the backup was made (a "
            "rotation): run it again with the new key"
        )
    document = {
        "format": FORMAT,
        "revision": revision,
        "created_at": created_at,
        "key_id": key.key_id,
        "tables": tables,
    }
    document["mac"] = mac(key, document)
    write_private(path, gzip.compress(json.dumps(document).encode(), mtime=0))
    return BackupInfo(revision, created_at, {name: len(rows) for name, rows in tables.items()})


def world_of(document: dict[str, Any]) -> str | None:
    """The world a backup's database belonged to (None for one from before worlds)."""
    meta = document.get("tables", {}).get("meta", [])
    return next((m["value"] for m in meta if m["key"] == WORLD_KEY), None)


def read(path: Path) -> dict[str, Any]:
    """The backup document, or a one-line `UserError` saying what is wrong with the file."""
    try:
        raw = gzip.decompress(path.read_bytes())
        document = json.loads(raw)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except (OSError, EOFError, ValueError):
        raise UserError(f"{path} is not a solbot backup (not gzip-compressed JSON)") from None
    if isinstance(document, dict) and document.get("format") in UNSIGNED_FORMATS:
        raise UserError(
            f"{path} was made by an older solbot without a MAC, so edits to it cannot be "
            "detected: make a new backup (`solbot backup create`)"
        )
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise UserError(f"{path} is not a solbot backup ({FORMAT})")
    return document


async def restore(url: str, document: dict[str, Any]) -> BackupInfo:
    """Load a backup into the database at `url`, which must hold no solbot data. Everything
    happens in one transaction: on any error the database is left as it was. Checks nothing
    of the content: `solbot.backups` proves a backup whole before it is restored anywhere
    that matters."""
    revision = str(document["revision"])
    tables: dict[str, list[dict[str, Any]]] = document["tables"]
    known = {t.name for t in _tables()}
    unknown = sorted(set(tables) - known)
    if unknown:
        raise UserError(f"the backup has tables this solbot does not know: {', '.join(unknown)}")
    await schema.upgrade(url, revision)
    engine = create_engine(url, foreign_keys=False)
    try:
        async with engine.begin() as conn:
            await _require_empty(conn)
            for table in _tables():
                rows = tables.get(table.name, [])
                if not rows:
                    continue
                columns = {c.name: c.type for c in table.columns}
                values = [
                    {name: _decode(columns[name], value) for name, value in row.items()}
                    for row in rows
                ]
                await conn.execute(table.insert(), values)
    finally:
        await engine.dispose()
    await schema.upgrade(url)
    return BackupInfo(revision, str(document["created_at"]), {n: len(r) for n, r in tables.items()})


async def _require_empty(conn: AsyncConnection) -> None:
    """Every table there is empty: at an older backup's revision, the newer tables are not
    there yet (the upgrade after its rows makes them)."""
    present = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    for table in _tables():
        if table.name not in present:
            continue
        count = await conn.scalar(select(func.count()).select_from(table))
        if count:
            raise UserError(
                f"the target database is not empty ({table.name} has {count} rows); restore into "
                "a new database (set DATABASE_URL) so that nothing is overwritten"
            )
