"""The users repository: who the bot trades for, their wallets and their settings.

Like the other repositories it is bound to one session, so a user's creation and its audit row
(or a key rotation and its audit rows) commit together or not at all.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from solbot.store.repository import ROWS_PER_STATEMENT, Repository, chunks
from solbot.store.states import Custody, RiskTier
from solbot.store.tables import UserRow
from solbot.store.types import canonical_price, utc_from_timestamp

USERNAME = re.compile(r"^[a-z0-9_]{3,32}$")


class UserExistsError(ValueError):
    """The username or the wallet already belongs to a user."""


def check_username(name: str) -> str:
    """A valid username (3–32 of a–z, 0–9 and _), or ValueError saying what is allowed."""
    if not USERNAME.fullmatch(name):
        raise ValueError(f"invalid username {name!r}: use 3 to 32 characters of a-z, 0-9 and _")
    return name


class UserSettings(Protocol):
    """The columns of a user the trading loop follows while it runs (a row of `_SETTINGS`;
    `UserRow` has them too)."""

    id: str
    username: str
    custody: str
    is_active: bool
    paused_reason: str | None
    risk_tier: str
    max_position_size_pct: Decimal | None
    max_daily_loss_pct: Decimal | None


SETTINGS_COLUMNS = (  # a `UserSettings`: what the loop (and the dashboard) read of a user
    UserRow.id,
    UserRow.username,
    UserRow.custody,
    UserRow.is_active,
    UserRow.paused_reason,
    UserRow.risk_tier,
    UserRow.max_position_size_pct,
    UserRow.max_daily_loss_pct,
)
_SETTINGS = select(*SETTINGS_COLUMNS).order_by(UserRow.created_at, UserRow.username)
_BY_IDS = (
    select(UserRow)
    .where(UserRow.id.in_(bindparam("ids", expanding=True)))
    .execution_options(populate_existing=True)
)


class Users(Repository):
    async def create(
        self,
        *,
        username: str,
        wallet_pubkey: str,
        custody: Custody | str,
        encrypted_private_key: bytes | None = None,
        master_key_id: str | None = None,
        risk_tier: RiskTier | str = RiskTier.MODERATE,
        user_id: str | None = None,
        telegram_id: int | None = None,
        identity_mac: str | None = None,
    ) -> UserRow:
        """Insert a user; `UserExistsError` if the name, wallet or Telegram id is taken (the
        insert runs in a savepoint, so the caller's transaction stays usable). A vault user
        comes with the MAC of its identity (`solbot.wallet.identity`)."""
        now = self._now()
        row = UserRow(
            id=user_id or str(uuid.uuid4()),
            username=check_username(username),
            wallet_pubkey=wallet_pubkey,
            custody=Custody(custody).value,
            encrypted_private_key=encrypted_private_key,
            master_key_id=master_key_id,
            risk_tier=RiskTier(risk_tier).value,
            portfolio_value=Decimal(0),
            is_active=True,
            telegram_id=telegram_id,
            identity_mac=identity_mac,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            if await self.by_username(username) is not None:
                raise UserExistsError(f"user {username!r} already exists") from None
            if await self.by_wallet(wallet_pubkey) is not None:
                raise UserExistsError(f"wallet {wallet_pubkey} already belongs to a user") from None
            raise
        return row

    async def ensure_external(self, user_id: str, username: str, wallet_pubkey: str) -> UserRow:
        """The row of a user whose key solbot does not hold (the operator's own wallet, or the
        sim's funded one), created on first use. Raises ValueError if the row names another
        wallet: its positions are that wallet's, and another key cannot trade them."""
        row = await self.get(user_id)
        if row is None:
            return await self.create(
                user_id=user_id,
                username=username,
                wallet_pubkey=wallet_pubkey,
                custody=Custody.EXTERNAL,
            )
        if row.wallet_pubkey.startswith("unknown:"):
            await self.bind_wallet(user_id, wallet_pubkey)
            row.wallet_pubkey = wallet_pubkey
        elif row.wallet_pubkey != wallet_pubkey:
            raise ValueError(
                f"user {row.username!r} trades wallet {row.wallet_pubkey}, but the key given is "
                f"for {wallet_pubkey}; its positions belong to the first wallet"
            )
        return row

    async def get(self, user_id: str) -> UserRow | None:
        return await self._one(UserRow.id == user_id)

    async def by_username(self, username: str) -> UserRow | None:
        return await self._one(UserRow.username == username)

    async def by_wallet(self, wallet_pubkey: str) -> UserRow | None:
        return await self._one(UserRow.wallet_pubkey == wallet_pubkey)

    async def by_telegram_id(self, telegram_id: int) -> UserRow | None:
        return await self._one(UserRow.telegram_id == telegram_id)

    async def all(self, *, custody: Custody | None = None) -> list[UserRow]:
        """Every user, in creation order (the order listings show)."""
        stmt = select(UserRow).order_by(UserRow.created_at, UserRow.username)
        if custody is not None:
            stmt = stmt.where(UserRow.custody == custody.value)
        return list(await self.session.scalars(stmt.execution_options(populate_existing=True)))

    async def settings(self) -> list[UserSettings]:
        """Every user's trading settings (`UserSettings`), in creation order: what the loop
        re-reads on every closed candle, without loading whole rows (keys and all) for
        thousands of users."""
        return list(await self.session.execute(_SETTINGS))  # type: ignore[arg-type]

    async def by_ids(self, user_ids: list[str]) -> list[UserRow]:
        """The users with these ids (any order)."""
        found: list[UserRow] = []
        for chunk in chunks(user_ids, ROWS_PER_STATEMENT):
            found.extend(await self.session.scalars(_BY_IDS, {"ids": list(chunk)}))
        return found

    async def set_active(self, user_id: str, active: bool, reason: str | None = None) -> bool:
        """Pause or resume trading for a user; False if nothing changed (already so)."""
        return await self._update(
            user_id,
            UserRow.is_active.is_(not active),
            is_active=active,
            paused_reason=None if active else reason,
        )

    async def set_risk(
        self,
        user_id: str,
        *,
        tier: RiskTier | str | None = None,
        max_position_size_pct: Decimal | None = None,
        max_daily_loss_pct: Decimal | None = None,
        clear_overrides: bool = False,
    ) -> bool:
        """Change a user's tier and/or override single limits of it. Choosing a tier with
        `clear_overrides` drops earlier overrides, so the tier's presets apply whole."""
        values: dict[str, Any] = {}
        if tier is not None:
            values["risk_tier"] = RiskTier(tier).value
        if clear_overrides:
            values["max_position_size_pct"] = None
            values["max_daily_loss_pct"] = None
        for name, pct in (
            ("max_position_size_pct", max_position_size_pct),
            ("max_daily_loss_pct", max_daily_loss_pct),
        ):
            if pct is not None:
                if not Decimal(0) < pct <= Decimal(100):
                    raise ValueError(f"{name} must be above 0 and at most 100, got {pct}")
                values[name] = canonical_price(pct)
        if not values:
            raise ValueError("nothing to change")
        return await self._update(user_id, **values)

    async def accept_terms(self, user_id: str) -> bool:
        """Record that the user accepted the risk disclosure (first time only)."""
        return await self._update(
            user_id, UserRow.accepted_terms_at.is_(None), accepted_terms_at=self._now()
        )

    async def set_portfolio_value(self, user_id: str, value: Decimal) -> None:
        await self._update(user_id, portfolio_value=canonical_price(value))

    async def set_portfolio_values(
        self, values: dict[str, Decimal], cash: dict[str, tuple[int | None, float | None]]
    ) -> None:
        """Many users' last marked values, with the quote asset each wallet held then and when
        that was (each its own: a user not valued at this tick keeps the time of their last
        mark), in one executemany (once per closed candle)."""
        if not values:
            return
        table = UserRow.__table__
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                portfolio_value=bindparam("b_value", type_=table.c.portfolio_value.type),
                cash_atoms=bindparam("b_cash", type_=table.c.cash_atoms.type),
                marked_at=bindparam("b_marked", type_=table.c.marked_at.type),
                updated_at=self._now(),
            )
        )
        params = []
        for user_id, value in values.items():
            atoms, at = cash.get(user_id, (None, None))
            marked = None if at is None else utc_from_timestamp(at)
            params.append(
                {
                    "b_id": user_id,
                    "b_value": canonical_price(value),
                    "b_cash": atoms,
                    "b_marked": marked,
                }
            )
        await self.session.execute(stmt, params)

    async def bind_wallet(self, user_id: str, wallet_pubkey: str) -> bool:
        """Fill in an adopted external user's wallet (a placeholder `unknown:*` until known)."""
        return await self._update(
            user_id, UserRow.wallet_pubkey.like("unknown:%"), wallet_pubkey=wallet_pubkey
        )

    async def reseal(
        self, user_id: str, *, old_key_id: str, encrypted_private_key: bytes, master_key_id: str
    ) -> bool:
        """Replace a vault wallet's sealed key (rotation); only if it is still sealed under
        `old_key_id`, so a rotation that resumes never re-seals a wallet twice."""
        return await self._update(
            user_id,
            UserRow.master_key_id == old_key_id,
            encrypted_private_key=encrypted_private_key,
            master_key_id=master_key_id,
        )

    async def _one(self, *where: Any) -> UserRow | None:
        stmt = select(UserRow).where(*where).execution_options(populate_existing=True)
        return (await self.session.scalars(stmt)).one_or_none()

    async def _update(self, user_id: str, *where: Any, **values: Any) -> bool:
        values["updated_at"] = self._now()
        stmt = (
            update(UserRow)
            .where(UserRow.id == user_id, *where)
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        result = cast(CursorResult[Any], await self.session.execute(stmt))
        return result.rowcount == 1
