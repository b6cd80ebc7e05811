"""What the Telegram bot works with: the same services the CLI uses, plus the chain for balances
and withdrawals, and the latest prices when it runs inside `solbot run`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from solbot.chain.port import Chain
from solbot.clock import Clock, WallClock
from solbot.config import Settings
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.states import Custody
from solbot.store.tables import UserRow
from solbot.store.users import Users
from solbot.wallet.identity import IdentityError


@dataclass
class BotServices:
    settings: Settings
    db: Database
    clock: Clock  # the trading clock: the sim's when it runs accelerated
    custody: CustodyService
    chain: Chain | None = None
    prices: Callable[[], dict[str, Decimal]] | None = None  # symbol → USD, from the loop
    # Quote units per SOL now, for the withdrawal limit (None: unknown; then only SOL counts).
    sol_price: Callable[[], Awaitable[Decimal | None]] | None = None
    # Security timers (2FA windows, time-locks, the 24-hour limit, command budgets,
    # confirmations, deletions) follow the wall clock, never the sim's accelerated one.
    wall: Clock = field(default_factory=WallClock)

    async def user_of(self, telegram_id: int) -> UserRow | None:
        """The user of a Telegram account. With the master key, a vault row must prove to be
        that identity (`identity.IdentityError` otherwise): a Telegram id moved to another
        row in the database must not make that row's wallet answer this chat."""
        async with self.db.session() as s:
            user = await Users(s, self.clock).by_telegram_id(telegram_id)
        if user is None:
            return None
        if user.custody != Custody.VAULT.value:  # only onboarding gives a Telegram id
            raise IdentityError(
                f"user {user.username!r} has a Telegram id but no wallet in the vault (edited "
                "in the database): refused"
            )
        if self.custody.key is None:
            return user  # nothing here can open a key; every key operation checks again
        return await self.custody.verified(user)

    def actor(self, telegram_id: int) -> str:
        return f"telegram:{telegram_id}"
