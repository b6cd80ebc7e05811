"""Who the trading loop trades for, kept in step with the database while it runs.

The roster holds one `Account` per tradable user: the operator's own wallet (an `external` user
whose key comes from the environment or the sim, never stored) and every user whose wallet is in
the vault. `refresh` re-reads the `users` table (the loop calls it on every closed candle), so a
`solbot pause`, `resume`, `set-risk` or `add-user` from another process takes effect within a
candle, and tells the loop what changed so users can be told.

Each account's circuit breakers keep their memory in `meta` (`risk:<user id>`), restored when the
account is loaded, so neither a restart nor a refresh can reset a tripped breaker.

A vault row is traded only once it proves to be the identity sealed with it
(`wallet.identity`); a row swapped or edited in the database is refused, and the operator told
once. Before every tick `before_tick` compares the database's master key with the one this
process holds: after a rotation from another process (`solbot rotate-master-key`) the loop stops
signing for every vault wallet, with one alert, instead of writing audit rows the new key cannot
verify. (Refusing the rotation while a bot runs would need a liveness lease that a killed bot
leaves behind, blocking the very rotation an operator makes when the old key leaked.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from solders.pubkey import Pubkey

from solbot.accounts import Account, load_gate
from solbot.chain.port import Chain, holdings
from solbot.clock import Clock
from solbot.domain import RiskLimits, TokenInfo
from solbot.events import ENTRIES_ALLOWED, ENTRIES_STOPPED
from solbot.execution.signing import Signer
from solbot.group_admin import entries_stopped
from solbot.risk import RiskGate, tier, with_overrides
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.store.states import Custody
from solbot.store.tables import UserRow
from solbot.store.users import Users, UserSettings
from solbot.wallet import identity, keycheck
from solbot.wallet.audit import MasterKeyChangedError
from solbot.wallet.identity import IdentityError

log = logging.getLogger(__name__)

OPERATOR = "operator"  # the external user id of the operator's own wallet


@dataclass(frozen=True, slots=True)
class Notice:
    """Something about a user the loop should tell (and the notifier pass on)."""

    user_id: str
    kind: str  # "paused", "resumed", "risk", "added", "no_key", "decrypt_alert",
    # "identity_refused", "key_rotated", "entries" (the operator's switch: no user)
    text: str  # about the user, without their name (the event carries it)
    username: str = ""


def limits_of(user: UserSettings) -> RiskLimits:
    return with_overrides(
        tier(user.risk_tier),
        float(user.max_position_size_pct) if user.max_position_size_pct is not None else None,
        float(user.max_daily_loss_pct) if user.max_daily_loss_pct is not None else None,
    )


def user_limits(user: UserSettings, operator_limits: RiskLimits | None) -> RiskLimits:
    """The breakers a user trades under: the operator's from the settings (the tier and the
    seed's overrides: `Settings.operator_limits`), everyone else's from their row."""
    if user.id == OPERATOR and operator_limits is not None:
        return operator_limits
    return limits_of(user)


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
        self._refused_told: set[str] = set()
        self._vault: set[str] = set()  # user ids of the accounts signed by the vault
        self.retired_by: str | None = None  # the master key id that replaced ours, once seen
        self.entries_stopped = False  # the operator's switch (`group_admin`), read on refresh
        self._untold: list[Notice] = []  # see `load`

    # ------------------------------------------------------------------ loading
    async def load(self) -> None:
        """The accounts, before the loop exists (its banner lists them); what there is to tell
        (a key that does not open, entries stopped) waits for the first `refresh` the loop
        tells, rather than being lost."""
        self._untold = await self.refresh()

    async def refresh(self) -> list[Notice]:
        """Bring the accounts in line with the `users` table; what changed, to tell (with what
        `load` kept). Only the settings columns are read for users already loaded; whole rows
        for new ones."""
        current = {a.user_id: a for a in self.accounts}
        async with self.db.session() as s:
            users = Users(s, self.clock)
            settings = await users.settings()
            if self.retired_by is not None:  # the vault's wallets stay stopped
                settings = [u for u in settings if u.custody != Custody.VAULT.value]
            new = [u.id for u in settings if u.id not in current]
            rows = {row.id: row for row in await users.by_ids(new)} if new else {}
            stopped = await entries_stopped(s)
        if self._adoptable(rows.values()) and await self._adopt():
            async with self.db.session() as s:
                rows = {row.id: row for row in await Users(s, self.clock).by_ids(new)}
        notices: list[Notice] = []
        if stopped != self.entries_stopped:  # for everyone: no user id
            notices.append(Notice("", "entries", ENTRIES_STOPPED if stopped else ENTRIES_ALLOWED))
            self.entries_stopped = stopped
        accounts: list[Account] = []
        first_load = not self._seen
        for user in settings:
            account = current.get(user.id)
            if account is None:
                row = rows.get(user.id)
                signer = None if row is None else self._signer(row, notices)
                if row is None or signer is None:
                    continue
                account = await self._load(row, signer)
                if not first_load:  # someone was added while running
                    notices.append(Notice(user.id, "added", "joined", user.username))
            else:
                notices.extend(self._update(account, user))
            self._seen[user.id] = _fingerprint(user)
            accounts.append(account)
        self.accounts = accounts
        untold, self._untold = self._untold, []
        return [*untold, *notices]

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
                        "not traded: MASTER_ENCRYPTION_KEY is not set",
                        user.username,
                    )
                )
            return None
        try:
            signer = self.custody.signer(user)
        except IdentityError as exc:
            if user.id not in self._refused_told:
                self._refused_told.add(user.id)
                notices.append(
                    Notice(user.id, "identity_refused", f"not traded: {exc}", user.username)
                )
            return None
        self._vault.add(user.id)
        return signer

    async def _adopt(self) -> bool:
        """Seal the identities of an older database's rows (`identity.adopt`); True if any."""
        assert self.custody is not None
        key = self.custody.key
        assert key is not None
        try:
            async with self.db.session() as s:
                return await identity.adopt(s, key, self.clock, actor="engine") > 0
        except MasterKeyChangedError:
            return False  # `before_tick` stops the vault's wallets at the next tick

    def _adoptable(self, rows: Iterable[UserRow]) -> bool:
        """Vault rows without an identity MAC among `rows` (from an older database), when
        this process holds the key to adopt them."""
        if self.custody is None or self.custody.key is None:
            return False
        return any(r.custody == Custody.VAULT.value and r.identity_mac is None for r in rows)

    # ------------------------------------------------------------------ the master key
    async def before_tick(self) -> list[Notice]:
        """Before anything is signed this tick: is the database's master key still the one
        this process holds? One primary-key read per tick, none once stopped or keyless."""
        if self.custody is None or self.custody.key is None or self.retired_by is not None:
            return []
        async with self.db.session() as s:
            current = await keycheck.current_key_id(s)
        if current is None or current == self.custody.key.key_id:
            return []
        return self._retire(current)

    def _retire(self, current: str) -> list[Notice]:
        """Stop signing for every vault wallet: drop their accounts, keep the operator's."""
        self.retired_by = current
        stopped = [a for a in self.accounts if a.user_id in self._vault]
        self.accounts = [a for a in self.accounts if a.user_id not in self._vault]
        self._vault.clear()
        text = (
            f"the master key was rotated to key id {current} while this bot held the old one: "
            f"signing stopped for {len(stopped)} vault wallet(s), whose positions are not "
            "managed until `solbot run` restarts with the new MASTER_ENCRYPTION_KEY"
        )
        log.error("%s", text)
        return [Notice("", "key_rotated", text)]

    async def _load(self, user: UserRow, signer: Signer) -> Account:
        if user.custody == Custody.VAULT.value and self.on_new_wallet is not None:
            await self.on_new_wallet(user)
        limits = self._limits(user)
        cash = await holdings(self.chain, signer.pubkey(), Pubkey.from_string(self.quote.mint))
        gate = RiskGate(limits, float(Decimal(cash).scaleb(-self.quote.decimals)), self.clock.now())
        account = Account(
            user.id,
            signer,
            gate,
            reserve=limits.fee_reserve_sol if self.quote.symbol == "SOL" else 0.0,
            active=user.is_active,
            username=user.username,
        )
        await load_gate(self.db, account)
        return account

    def _update(self, account: Account, user: UserSettings) -> list[Notice]:
        notices: list[Notice] = []
        if account.active != user.is_active:
            account.active = user.is_active
            if user.is_active:
                notices.append(Notice(user.id, "resumed", "trading resumed", user.username))
            else:
                why = f" ({user.paused_reason})" if user.paused_reason else ""
                notices.append(
                    Notice(
                        user.id,
                        "paused",
                        f"trading paused{why}; open positions are still managed",
                        user.username,
                    )
                )
        if _fingerprint(user)[1:] != self._seen.get(user.id, ())[1:]:
            limits = self._limits(user)
            account.gate.set_limits(limits)
            account.reserve = limits.fee_reserve_sol if self.quote.symbol == "SOL" else 0.0
            notices.append(Notice(user.id, "risk", f"risk now {user.risk_tier}", user.username))
        return notices

    def _limits(self, user: UserSettings) -> RiskLimits:
        return user_limits(user, self.operator_limits)

    # ------------------------------------------------------------------ the vault's records
    async def flush(self, actor: str = "engine") -> list[Notice]:
        """Write the vault's decryption counts, burst alerts and keys that did not open since
        the last flush to the audit log; the alerts, as notices for the operator. After a
        rotation by another process they cannot be (the new key could not verify rows MACed
        under ours): logged instead, and the vault's wallets stop."""
        try:
            return await self._flush(actor)
        except MasterKeyChangedError:
            log.warning("decryption counts not audited: the master key was rotated")
            return await self.before_tick()

    async def _flush(self, actor: str) -> list[Notice]:
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
