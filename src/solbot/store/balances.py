"""What a wallet is worth in the books: paper trading's balances (`PaperBalances`) and the
equity points of the curve (`Equity`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from solbot.store.repository import Repository
from solbot.store.tables import EquityRow, PaperBalanceRow
from solbot.store.types import canonical_price, check_atoms, utc_from_timestamp


class InsufficientPaperFundsError(Exception):
    """A paper fill would take more than the paper account holds."""


class PaperBalances(Repository):
    """The balances of paper-trading accounts: what the wallet would hold, in atoms."""

    async def get(self, owner: str, mint: str) -> int:
        row = await self.session.get(PaperBalanceRow, (owner, mint), populate_existing=True)
        return 0 if row is None else row.atoms

    async def all(self, owner: str) -> dict[str, int]:
        stmt = select(PaperBalanceRow).where(PaperBalanceRow.owner == owner)
        rows = await self.session.scalars(stmt.execution_options(populate_existing=True))
        return {row.mint: row.atoms for row in rows}

    async def fund_once(self, owner: str, mint: str, atoms: int) -> bool:
        """Give a new paper account its starting balance; False (and nothing changes) when the
        account already holds anything, so a restart never tops it up."""
        if await self.all(owner):
            return False
        self.session.add(
            PaperBalanceRow(
                owner=owner, mint=mint, atoms=check_atoms(atoms), updated_at=self._now()
            )
        )
        await self.session.flush()
        return True

    async def swap(self, owner: str, *, pay_mint: str, pay: int, get_mint: str, get: int) -> None:
        """Move `pay` atoms out and `get` atoms in, as a fill does, in the caller's transaction.

        The rows are read with `FOR UPDATE` (PostgreSQL; SQLite's BEGIN IMMEDIATE already holds
        the write lock), so two fills of one account cannot both spend the same balance.
        """
        held = await self._locked(owner, pay_mint)
        if held is None or held.atoms < check_atoms(pay):
            have = 0 if held is None else held.atoms
            raise InsufficientPaperFundsError(
                f"paper account holds {have} atoms of {pay_mint}, the fill needs {pay}"
            )
        now = self._now()
        held.atoms = held.atoms - pay
        held.updated_at = now
        received = await self._locked(owner, get_mint)
        if received is None:
            self.session.add(
                PaperBalanceRow(owner=owner, mint=get_mint, atoms=check_atoms(get), updated_at=now)
            )
        else:
            received.atoms = check_atoms(received.atoms + get)
            received.updated_at = now
        await self.session.flush()

    async def _locked(self, owner: str, mint: str) -> PaperBalanceRow | None:
        stmt = (
            select(PaperBalanceRow)
            .where(PaperBalanceRow.owner == owner, PaperBalanceRow.mint == mint)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).one_or_none()


class Equity(Repository):
    """Points of users' equity curves (portfolio value in the quote asset)."""

    async def record(self, at: int, values: dict[str, Decimal]) -> None:
        """One point per user at `at` (Unix seconds); a point already there is kept."""
        if not values:
            return
        when = utc_from_timestamp(at)
        rows = [
            {"user_id": user_id, "at": when, "value": canonical_price(value)}
            for user_id, value in values.items()
        ]
        stmt = self._insert(EquityRow).on_conflict_do_nothing(index_elements=["user_id", "at"])
        await self.session.execute(stmt, rows)

    async def curve(
        self, user_id: str, since: float | None = None
    ) -> list[tuple[datetime, Decimal]]:
        stmt = select(EquityRow.at, EquityRow.value).where(EquityRow.user_id == user_id)
        if since is not None:
            stmt = stmt.where(EquityRow.at >= utc_from_timestamp(since))
        result = await self.session.execute(stmt.order_by(EquityRow.at))
        return [(at, value) for at, value in result]
