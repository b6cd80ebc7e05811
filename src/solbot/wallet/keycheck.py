"""Which master key a database belongs to, checked before anything is written.

`meta` holds `master_key:current` (the id of the key every vault wallet is sealed under) and
`master_key:check:<id>` (that key's check value, see `master`). The first command that seals a
wallet registers its key; from then on every command that needs the key compares first and
stops with one line if it is another key, so nothing is ever sealed under a key the rest of the
database does not use.
"""

from __future__ import annotations

from typing import Any

from solbot.errors import UserError
from solbot.store.tables import MetaEntry
from solbot.wallet.master import ENV, MasterKey

CURRENT = "master_key:current"


def _check_key(key_id: str) -> str:
    return f"master_key:check:{key_id}"


async def current_key_id(session: Any) -> str | None:
    row = await session.get(MetaEntry, CURRENT, populate_existing=True)
    return None if row is None else str(row.value)


async def check(session: Any, key: MasterKey, *, register: bool = False, name: str = ENV) -> None:
    """Raise `UserError` unless `key` is this database's master key. With `register`, a
    database that has none yet adopts `key` (in the caller's transaction)."""
    current = await current_key_id(session)
    if current is None:
        if register:
            await _upsert(session, CURRENT, key.key_id)
            await _upsert(session, _check_key(key.key_id), key.check_value())
            await session.flush()
        return
    if current != key.key_id:
        raise UserError(
            f"{name} (key id {key.key_id}) is not this database's master key (key id "
            f"{current}); nothing was changed"
        )
    stored = await session.get(MetaEntry, _check_key(key.key_id), populate_existing=True)
    if stored is None or not key.matches(stored.value):
        raise UserError(
            f"{name} does not match the check value stored for key id {key.key_id}; "
            "nothing was changed"
        )


async def switch(session: Any, old: MasterKey, new: MasterKey) -> None:
    """Make `new` the current key (end of a rotation); the old check value is kept so that a
    backup sealed under the old key can still be recognised."""
    await check(session, old)
    await _upsert(session, CURRENT, new.key_id)
    await _upsert(session, _check_key(new.key_id), new.check_value())
    await session.flush()


async def _upsert(session: Any, key: str, value: str) -> None:
    row = await session.get(MetaEntry, key)
    if row is None:
        session.add(MetaEntry(key=key, value=value))
    else:
        row.value = value
