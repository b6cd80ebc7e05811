"""Who the trading loop trades for, kept in step with the database while it runs.

The roster holds one `Account` per tradable user: the operator's own wallet (an `external` user
whose key comes from the environment or the sim, never stored) and every user whose wallet is in
the vault. `refresh` re-reads the `users` table (the loop calls it on every closed candle), so a
`solbot pause`, `resume`, `set-risk` or `add-user` from another process takes effect within a
candle, and tells the loop what changed so users can be told.

Each account's circuit breakers keep their memory in `meta` (`risk:<user id>`), restored when the
account is loaded, so neither a restart nor a refresh can reset a tripped breaker.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from solders.pubkey import Pubkey

from solbot.chain.port import Chain, holdings
from solbot.clock import Clock
from solbot.custody import CustodyService
from solbot.domain import RiskLimits, TokenInfo
from solbot.engine import Account
from solbot.execution.signing import Signer
from solbot.risk import RiskGate, tier, with_overrides
from solbot.store.db import Database
from solbot.store.states import Custody
from solbot.store.tables import MetaEntry, UserRow
from solbot.store.users import Users, UserSettings

log = logging.getLogger(__name__)

OPERATOR = "operator"  # the external user id of the operator's own wallet


@dataclass(frozen=True, slots=True)
class Notice:
    """Something about a user the loop should tell (and the notifier pass on)."""

    user_id: str
    kind: str  # "paused", "resumed", "risk", "added", "no_key", "decrypt_alert"
    text: str


def limits_of(user: UserSettings) -> RiskLimits:
    return with_overrides(
        tier(user.risk_tier),
        float(user.max_position_size_pct) if user.max_position_size_pct is not None else None,
        float(user.max_daily_loss_pct) if user.max_daily_loss_pct is not None else None,
    )


class Roster:
    """The accounts of the loop; see the module docstring."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        chain: Chain,
        quote: TokenInfo,
        custody: CustodyService | None,
        operator: Signer | None = None,
        operator_limits: RiskLimits | None = None,
        on_new_wallet: Callable[[UserRow], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.chain = chain
        self.quote = quote
        self.custody = custody
        self.operator = operator
        self.operator_limits = operator_limits
        self.on_new_wallet = on_new_wallet
        self.accounts: list[Account] = []
        self._seen: dict[str, tuple[object, ...]] = {}  # user id -> what the account was built from
        self._no_key_told: set[str] = set()

    # ------------------------------------------------------------------ loading
    async def refresh(self) -> list[Notice]:
        """Bring the accounts in line with the `users` table; what changed, to tell. Only the
        settings columns are read for users already loaded; whole rows for new ones."""
        current = {a.user_id: a for a in self.accounts}
        async with self.db.session() as s:
            users = Users(s, self.clock)
            settings = await users.settings()
            new = [u.id for u in settings if u.id not in current]
            rows = {row.id: row for row in await users.by_ids(new)} if new else {}
        notices: list[Notice] = []
        accounts: list[Account] = []
        for user in settings:
            account = current.get(user.id)
            if account is None:
                row = rows.get(user.id)
                signer = None if row is None else self._signer(row, notices)
                if row is None or signer is None:
                    continue
                account = await self._load(row, signer)
                if self._seen:  # not the first load: someone was added while running
                    notices.append(Notice(user.id, "added", f"{user.username} joined"))
            else:
                notices.extend(self._update(account, user))
            self._seen[user.id] = _fingerprint(user)
            accounts.append(account)
        self.accounts = accounts
        return notices

    def _signer(self, user: UserRow, notices: list[Notice]) -> Signer | None:
        if user.custody == Custody.EXTERNAL.value:
            return self.operator if user.id == OPERATOR else None
        if self.custody is None or self.custody.key is None:
            if user.id not in self._no_key_told:
                self._no_key_told.add(user.id)
                notices.append(
                    Notice(
                        user.id,
                        "no_key",
                        f"{user.username} is not traded: MASTER_ENCRYPTION_KEY is not set",
                    )
                )
            return None
        return self.custody.signer(user)

    async def _load(self, user: UserRow, signer: Signer) -> Account:
        if user.custody == Custody.VAULT.value and self.on_new_wallet is not None:
            await self.on_new_wallet(user)
        limits = self._limits(user)
        cash = await holdings(self.chain, signer.pubkey(), Pubkey.from_string(self.quote.mint))
        gate = RiskGate(limits, float(Decimal(cash).scaleb(-self.quote.decimals)), self.clock.now())
        async with self.db.session() as s:
            saved = await s.get(MetaEntry, f"risk:{user.id}")
        if saved is not None:
            gate.restore(json.loads(saved.value))
        return Account(
            user.id,
            signer,
            gate,
            reserve=limits.fee_reserve_sol if self.quote.symbol == "SOL" else 0.0,
            active=user.is_active,
            saved_gate=gate.state(),
            username=user.username,
        )

    def _update(self, account: Account, user: UserSettings) -> list[Notice]:
        notices: list[Notice] = []
        if account.active != user.is_active:
            account.active = user.is_active
            if user.is_active:
                notices.append(Notice(user.id, "resumed", f"{user.username}: trading resumed"))
            else:
                why = f" ({user.paused_reason})" if user.paused_reason else ""
                notices.append(
                    Notice(
                        user.id,
                        "paused",
                        f"{user.username}: trading paused{why}; open positions are still managed",
                    )
                )
        if _fingerprint(user)[1:] != self._seen.get(user.id, ())[1:]:
            limits = self._limits(user)
            account.gate.set_limits(limits)
            account.reserve = limits.fee_reserve_sol if self.quote.symbol == "SOL" else 0.0
            notices.append(Notice(user.id, "risk", f"{user.username}: risk now {user.risk_tier}"))
        return notices

    def _limits(self, user: UserSettings) -> RiskLimits:
        if user.id == OPERATOR and self.operator_limits is not None:
            return self.operator_limits
        return limits_of(user)

    # ------------------------------------------------------------------ the vault's records
    async def flush(self, actor: str = "engine") -> list[Notice]:
        """Write the vault's decryption counts, burst alerts and keys that did not open since
        the last flush to the audit log; the alerts, as notices for the operator."""
        if self.custody is None or self.custody.key is None or self.custody._vault is None:
            return []
        names = {a.user_id: a.username for a in self.accounts}
        async with self.db.session() as s:
            await self.custody.audit_vault_records(s, actor, names=names)
        alerts, self.custody.untold_alerts = self.custody.untold_alerts, []
        notices = []
        for alert in alerts:
            who = "all wallets" if alert.user_id is None else names.get(alert.user_id, "?")
            notices.append(
                Notice(
                    alert.user_id or "",
                    "decrypt_alert",
                    f"{alert.count} key decryptions for {who} within "
                    f"{alert.window_seconds:g} s: signing paused",
                )
            )
        return notices


def _fingerprint(user: UserSettings) -> tuple[object, ...]:
    return (
        user.is_active,
        user.risk_tier,
        user.max_position_size_pct,
        user.max_daily_loss_pct,
    )


def names(accounts: Sequence[Account]) -> dict[str, str]:
    return {a.user_id: a.username for a in accounts}
