"""Address lookup tables, read from the chain: every account a v0 message really loads.

A v0 message names some of its accounts by an index into an on-chain table instead of by
address. Which account that is, is what the table *on the chain* holds, whatever the party that
built the transaction says: Jupiter's `/build` answer lists the tables' contents
(`addressesByLookupTableAddress`) to save a round trip, and a message compiled against a list
that lies would load other accounts than the instructions we read name. So the accounts of a
message are resolved here from the tables' own bytes, the way the runtime resolves them.

A table only grows: an entry, once written, never changes for the table's life (a closed table
cannot be re-created at its address, which is derived from a slot that is no longer recent). So a
table read once is remembered, and read again only when an index lies past what we saw.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from solders.address_lookup_table_account import ID as LOOKUP_TABLE_PROGRAM
from solders.address_lookup_table_account import AddressLookupTable
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey

from solbot.chain.port import Chain

__all__ = ["LookupTableError", "LookupTables"]


class LookupTableError(ValueError):
    """A message names a lookup table, or an entry of one, that the chain does not hold."""


class LookupTables:
    """The tables a process has read, by address (at most `capacity`, least recently used
    forgotten first)."""

    def __init__(self, chain: Chain, capacity: int = 256) -> None:
        self._chain = chain
        self._capacity = capacity
        self._known: OrderedDict[Pubkey, tuple[Pubkey, ...]] = OrderedDict()

    async def account_keys(self, message: Message | MessageV0) -> list[Pubkey]:
        """Every account `message` loads, in the runtime's order: its static keys, then the
        writable entries of each table in turn, then the read-only ones."""
        lookups = getattr(message, "address_table_lookups", None) or []
        writable: list[Pubkey] = []
        readonly: list[Pubkey] = []
        for lookup in lookups:
            wanted = [*lookup.writable_indexes, *lookup.readonly_indexes]
            entries = await self._entries(lookup.account_key, max(wanted, default=-1) + 1)
            writable += [entries[i] for i in lookup.writable_indexes]
            readonly += [entries[i] for i in lookup.readonly_indexes]
        return [*message.account_keys, *writable, *readonly]

    async def _entries(self, table: Pubkey, needed: int) -> Sequence[Pubkey]:
        known = self._known.get(table)
        if known is None or len(known) < needed:
            known = await self._read(table)
        self._known[table] = known
        self._known.move_to_end(table)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)
        if len(known) < needed:
            raise LookupTableError(
                f"lookup table {table} holds {len(known)} address(es); the transaction uses "
                f"entry {needed - 1}"
            )
        return known

    async def _read(self, table: Pubkey) -> tuple[Pubkey, ...]:
        account = await self._chain.account(table)
        if account is None or account.owner != LOOKUP_TABLE_PROGRAM:
            raise LookupTableError(f"lookup table {table} is not on the chain")
        try:
            return tuple(AddressLookupTable.deserialize(account.data).addresses)
        except ValueError:
            raise LookupTableError(f"lookup table {table} is not a lookup table") from None
