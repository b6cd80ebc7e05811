"""The shared counts of key decryptions and the pauses after bursts (see
`wallet.decrypt_guard` for the policy): statements only, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import delete, func, select, text

from solbot.store.repository import Repository
from solbot.store.tables import DecryptCountRow, DecryptPauseRow
from solbot.store.types import utc_from_timestamp

ALL = "*"  # the scope of the overall count
_LOCK_KEY = 0x50_1B_07_DE_C1_7E  # a fixed advisory lock id on PostgreSQL


class DecryptCounts(Repository):
    """Rows of `decrypt_counts` (per scope and wall-clock second) and `decrypt_pauses`."""

    async def lock(self) -> None:
        """Serialise every reader-then-writer of the counts over the whole database, across
        processes: PostgreSQL takes a transaction-scoped advisory lock; on SQLite every
        transaction holds the write lock from its start (`BEGIN IMMEDIATE`, see `store.db`)."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})

    async def paused(self, now: float) -> dict[str, float]:
        """Every scope paused at `now`, with when its pause ends (a handful at most: read
        whole, cheaper than naming a group's users)."""
        rows = await self.session.execute(
            select(DecryptPauseRow.scope, DecryptPauseRow.until).where(
                DecryptPauseRow.until > utc_from_timestamp(now)
            )
        )
        return {scope: until.timestamp() for scope, until in rows}

    async def since(self, scopes: Sequence[str], first_second: int) -> dict[str, int]:
        """Each of `scopes`' decryptions counted in `first_second` and later."""
        rows = await self.session.execute(
            select(DecryptCountRow.scope, func.sum(DecryptCountRow.count))
            .where(DecryptCountRow.scope.in_(scopes), DecryptCountRow.second >= first_second)
            .group_by(DecryptCountRow.scope)
        )
        return {scope: int(total) for scope, total in rows}

    async def add(self, second: int, counts: Mapping[str, int]) -> None:
        """Count `counts` (per scope) in `second`: one statement for all of them."""
        if not counts:
            return
        table = DecryptCountRow.__table__
        stmt = self._insert(table)  # Core, not ORM: a plain executemany
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["scope", "second"],
                set_={"count": table.c.count + stmt.excluded.count},
            ),
            [{"scope": scope, "second": second, "count": n} for scope, n in counts.items()],
        )

    async def pause(self, scope: str, until: float, count: int) -> None:
        stmt = self._insert(DecryptPauseRow).values(
            scope=scope, until=utc_from_timestamp(until), count=count
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["scope"],
                set_={"until": stmt.excluded.until, "count": stmt.excluded.count},
            )
        )

    async def lift(self, scope: str) -> bool:
        """End `scope`'s pause; False when there was none."""
        result = await self.session.execute(
            delete(DecryptPauseRow).where(DecryptPauseRow.scope == scope)
        )
        return bool(result.rowcount)

    async def prune(self, before_second: int, now: float) -> None:
        """Forget counts older than `before_second` and pauses that have ended."""
        await self.session.execute(
            delete(DecryptCountRow).where(DecryptCountRow.second < before_second)
        )
        await self.session.execute(
            delete(DecryptPauseRow).where(DecryptPauseRow.until <= utc_from_timestamp(now))
        )
