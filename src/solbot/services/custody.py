"""User and wallet operations, shared by the CLI and the Telegram bot.

Each operation validates its input, checks the master key, changes the database and writes its
audit row in one transaction, so an operation either happened and is recorded, or did neither.
Bad input raises `UserError` (one line, nothing changed). Keys leave only through `RevealedKey`
(which prints redacted) and only from `create_user` (once) and `export_key`.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from solders.keypair import Keypair
from sqlalchemy import func, select

from solbot.clock import Clock
from solbot.errors import UserError
from solbot.execution.signing import SigningError
from solbot.services import second_factor
from solbot.store.db import Database
from solbot.store.holds import OrderHolds
from solbot.store.states import Custody, RiskTier
from solbot.store.tables import AuditRow, OrderHoldRow, UserRow
from solbot.store.types import utc_from_timestamp
from solbot.store.users import UserExistsError, Users, check_username
from solbot.wallet import identity, keycheck
from solbot.wallet.audit import Action, AuditLog
from solbot.wallet.decrypt_guard import (
    DecryptAlert,
    DecryptGuard,
    DecryptLimits,
    SigningPausedError,
)
from solbot.wallet.envelope import EnvelopeError
from solbot.wallet.master import ENV_OLD, MasterKey
from solbot.wallet.vault import RevealedKey, Vault, VaultSigner
from solbot.webhooks import addresses

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RiskChange:
    tier: RiskTier | None = None
    max_position_size_pct: Decimal | None = None
    max_daily_loss_pct: Decimal | None = None


@dataclass(frozen=True)
class Paused:
    """What `CustodyService.pause` did: `changed` False when the user already was paused;
    `unaudited` is why the pause went to the log instead of the audit log (None: audited)."""

    changed: bool
    unaudited: str | None


class CustodyService:
    """Operations on users and their wallets. `key` may be None for operations that never
    touch a key (listing, pausing, risk); the others raise a `UserError` asking for it."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        key: MasterKey | None,
        vault: Vault | None = None,
        *,
        limits: DecryptLimits | None = None,
        key_problem: str | None = None,
    ):
        """`limits` bound the decryptions of the vault made here (`Settings.decrypt_limits`);
        they are counted in `db`, shared with every other process on it. `key_problem` says
        why `key` is None when the environment's key was unusable (a pause reports it)."""
        self.db = db
        self.clock = clock
        self.key = key
        self.key_problem = key_problem
        self.limits = limits
        self._vault = vault
        self.untold_alerts: list[DecryptAlert] = []  # audited, not yet told (`Roster.flush`)

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            self._vault = Vault(self.require_key(), DecryptGuard(self.limits))
        return self._vault

    def require_key(self) -> MasterKey:
        if self.key is None:
            raise UserError(
                "MASTER_ENCRYPTION_KEY is not set: this needs the master key "
                "(`solbot gen-master-key` makes one for a new installation)"
            )
        return self.key

    # ------------------------------------------------------------------ wallets
    async def create_user(
        self,
        username: str,
        *,
        actor: str,
        tier: RiskTier | str = RiskTier.MODERATE,
        telegram_id: int | None = None,
    ) -> tuple[UserRow, RevealedKey]:
        """A new user with a fresh wallet; the key comes back once, to show its owner."""
        return await self._add(username, None, actor=actor, tier=tier, telegram_id=telegram_id)

    async def import_user(
        self, username: str, secret: str, *, actor: str, tier: RiskTier | str = RiskTier.MODERATE
    ) -> UserRow:
        """A new user whose wallet already exists: `secret` is base58 of the 64-byte key or the
        Solana CLI JSON array. The error never repeats it."""
        user, _key = await self._add(
            username, parse_secret(secret), actor=actor, tier=tier, telegram_id=None
        )
        return user

    async def _add(
        self,
        username: str,
        keypair: Keypair | None,
        *,
        actor: str,
        tier: RiskTier | str,
        telegram_id: int | None,
    ) -> tuple[UserRow, RevealedKey]:
        name = _username(username)
        key = self.require_key()
        tier = _tier(tier)
        async with self.db.session() as s:
            await keycheck.check(s, key, register=True)
            users = Users(s, self.clock)
            if await users.by_username(name) is not None:
                raise UserError(f"user {name!r} already exists")
            user_id = _new_id()
            if keypair is None:
                sealed, revealed = self.vault.create(user_id)
            else:
                sealed, revealed = self.vault.adopt(user_id, keypair)
            who = identity.Identity(user_id, name, telegram_id, sealed.pubkey)
            try:
                user = await users.create(
                    user_id=user_id,
                    username=name,
                    wallet_pubkey=sealed.pubkey,
                    custody=Custody.VAULT,
                    encrypted_private_key=sealed.sealed,
                    master_key_id=sealed.key_id,
                    risk_tier=tier,
                    telegram_id=telegram_id,
                    identity_mac=identity.mac(key, who),
                )
            except UserExistsError as exc:
                raise UserError(str(exc)) from None
            action = Action.CREATE if keypair is None else Action.IMPORT
            await AuditLog(s, self.clock, key).append(
                actor, action, user.id, key_id=sealed.key_id, **who.details()
            )
        return user, revealed

    async def export_key(
        self, username: str, fmt: str, *, actor: str, per_day: int | None = None
    ) -> RevealedKey:
        """The user's private key in a wallet's import format; audited before it is returned.

        The decryption is reserved and the export audited in one transaction. A refusal (the
        limit, a pause) or a key that does not open is audited too, then raised: a failed
        open is never silent. `per_day`: at most that many exports through `actor`'s channel
        (its prefix, `telegram:`) in 24 hours, refused before anything is decrypted."""
        if fmt not in ("base58", "json"):
            raise UserError(f"unknown key format {fmt!r}: use base58 or json")
        key = self.require_key()
        vault = self.vault
        failure: str | None = None
        async with self.db.session() as s:
            await self.ready(s)
            user = await self._vault_user(Users(s, self.clock), username)
            if per_day is not None:
                await self._within_exports(s, user, actor, per_day)
            try:
                identity.require(key, user)  # a swapped or edited row: refused, audited
            except identity.IdentityError as exc:
                failure = str(exc)
            else:
                reservation = await vault.guard.reserve(s, [user.id])
                try:
                    with reservation:
                        revealed = vault.export(user.id, user.wallet_pubkey, _sealed(user), fmt)
                except SigningPausedError as exc:
                    failure = f"export refused: {exc}"
                except (EnvelopeError, SigningError) as exc:
                    failure = f"cannot open the stored key: {exc}"
                await self.audit_vault_records(s, actor, counts=False)
            await AuditLog(s, self.clock, key).append(
                actor,
                Action.EXPORT if failure is None else Action.EXPORT_REFUSED,
                user.id,
                username=user.username,
                format=fmt,
                **({} if failure is None else {"reason": failure}),
            )
        if failure is not None:
            raise UserError(failure)
        return revealed

    async def check_exports(self, user: UserRow, actor: str, per_day: int) -> None:
        """`export_key`'s daily limit, asked before anything else (the Telegram shell asks it
        before it takes a second-factor code that the limit would waste)."""
        async with self.db.session() as s:
            await self._within_exports(s, user, actor, per_day)

    async def _within_exports(self, session: Any, user: UserRow, actor: str, per_day: int) -> None:
        channel = actor.split(":", 1)[0] + ":%"
        since = utc_from_timestamp(self.clock.now() - 86_400)
        count = await session.scalar(
            select(func.count())
            .select_from(AuditRow)
            .where(
                AuditRow.user_id == user.id,
                AuditRow.action == Action.EXPORT,
                AuditRow.actor.like(channel),
                AuditRow.at >= since,
            )
        )
        if int(count or 0) >= per_day:
            raise UserError(f"You can export {per_day} times a day; try again later.")

    def signer(self, user: UserRow) -> VaultSigner:
        """The user's wallet as a signer (decrypts per signature), once the row proves to be
        the identity sealed with it (`identity.IdentityError` otherwise)."""
        if user.custody != Custody.VAULT.value:
            raise UserError(f"user {user.username!r} has no wallet in the vault")
        identity.require(self.require_key(), user)
        return self.vault.signer(user.id, user.wallet_pubkey, _sealed(user))

    async def ready(self, session: object) -> None:
        """Before a key operation, in its transaction: the master key is this database's, and
        rows of an older database without an identity MAC are adopted (`identity.adopt`)."""
        key = self.require_key()
        await keycheck.check(session, key)
        await identity.adopt(session, key, self.clock)

    async def verified(self, user: UserRow) -> UserRow:
        """`user` once it proves to be the identity sealed with it (re-read after `ready` if
        it had no MAC yet; `identity.IdentityError` otherwise): what a withdrawal or the
        Telegram bot acts on."""
        key = self.require_key()
        if identity.holds(key, user):
            return user
        async with self.db.session() as s:
            await self.ready(s)
            fresh = await Users(s, self.clock).get(user.id)
        if fresh is None:
            raise UserError(f"user {user.username!r} no longer exists")
        identity.require(key, fresh)
        return fresh

    # ------------------------------------------------------------------ settings
    async def set_active(
        self, username: str, active: bool, *, actor: str, reason: str | None = None
    ) -> bool:
        """Pause or resume a user's trading; False when it already was so. Resuming needs the
        master key (it is audited); pausing never does (see `pause`)."""
        if not active:
            return (await self.pause(username, actor=actor, reason=reason)).changed
        async with self.db.session() as s:
            users = Users(s, self.clock)
            user = await self.user(username, users)
            self.require_key()
            changed = await users.set_active(user.id, True, reason)
            if changed:
                await self.audit(s, actor, Action.RESUME, user, reason=reason)
        return changed

    async def pause(self, username: str, *, actor: str, reason: str | None = None) -> Paused:
        """Stop opening positions for a user, in an emergency too: whatever the key's state
        (none, another database's, a sealed key that does not open, signing paused after a
        burst), since it touches no key. Audited when the master key is this database's;
        otherwise logged, and `Paused.unaudited` says why."""
        async with self.db.session() as s:
            users = Users(s, self.clock)
            user = await self.user(username, users)
            unaudited = await self.why_unauditable(s)
            changed = await users.set_active(user.id, False, reason)
            if changed and unaudited is None:
                await self.audit(s, actor, Action.PAUSE, user, reason=reason)
            elif changed:
                log.warning(
                    "pause of %s by %s (reason: %s) not audited: %s",
                    user.username,
                    actor,
                    reason or "none given",
                    unaudited,
                )
        return Paused(changed, unaudited)

    async def audit_or_log(
        self, session: object, actor: str, action: str, user_id: str | None, **details: object
    ) -> bool:
        """Audit an action that goes on without the key (a close, a sign-in): an audit row in
        the caller's transaction when this key can write one, else a warning in the log."""
        problem = await self.why_unauditable(session)
        if problem is not None:
            log.warning("%s by %s not audited: %s", action, actor, problem)
            return False
        await AuditLog(session, self.clock, self.require_key()).append(
            actor, action, user_id, **details
        )
        return True

    async def why_unauditable(self, session: object) -> str | None:
        """Why audit rows cannot be written with this service's key; None when they can."""
        if self.key is None:
            return self.key_problem or "MASTER_ENCRYPTION_KEY is not set"
        try:
            await keycheck.check(session, self.key)
        except UserError as exc:
            return str(exc).removesuffix("; nothing was changed")
        return None

    async def set_risk(self, username: str, change: RiskChange, *, actor: str) -> UserRow:
        if change == RiskChange():
            raise UserError("give --tier or a limit to change (--max-position-pct, ...)")
        self.require_key()  # a risk change is audited
        async with self.db.session() as s:
            users = Users(s, self.clock)
            user = await self.user(username, users)
            try:
                await users.set_risk(
                    user.id,
                    tier=change.tier,
                    max_position_size_pct=change.max_position_size_pct,
                    max_daily_loss_pct=change.max_daily_loss_pct,
                    clear_overrides=change.tier is not None
                    and change.max_position_size_pct is None
                    and change.max_daily_loss_pct is None,
                )
            except ValueError as exc:
                raise UserError(str(exc)) from None
            await self.audit(
                s,
                actor,
                Action.RISK,
                user,
                tier=change.tier.value if change.tier else None,
                max_position_size_pct=change.max_position_size_pct,
                max_daily_loss_pct=change.max_daily_loss_pct,
            )
            fresh = await users.get(user.id)
        assert fresh is not None
        return fresh

    async def set_fee(self, username: str, pct: Decimal | None, *, actor: str) -> UserRow:
        """Set a user's performance fee in percent (`None`: back to the setting's); audited."""
        if pct is not None and (not pct.is_finite() or not Decimal(0) <= pct < Decimal(100)):
            raise UserError(f"--pct must be at least 0 and below 100, got {pct}")
        self.require_key()
        async with self.db.session() as s:
            users = Users(s, self.clock)
            user = await self.user(username, users)
            row = await users.get(user.id)
            assert row is not None
            row.fee_pct = pct
            await self.audit(s, actor, "fee", user, fee_pct=None if pct is None else str(pct))
            await s.flush()
            return row

    async def rearm(self, username: str, token: str | None, *, actor: str) -> list[OrderHoldRow]:
        """Lift the holds on a user's failing orders (`solbot.quarantine`): a quarantine or a
        back-off, of one token or (`token` None) all of them, the whole-user one included. The
        failure count starts over; a running loop sees it at its next tick. Audited (it lets
        orders be made again), so it needs the master key; the holds lifted, none if there
        were none (then nothing is audited)."""
        self.require_key()
        async with self.db.session() as s:
            users = Users(s, self.clock)
            user = await self.user(username, users)
            cleared = await OrderHolds(s, self.clock).clear(user.id, token)
            if cleared:
                await self.audit(
                    s,
                    actor,
                    Action.REARM,
                    user,
                    token=token,
                    holds=[
                        {"token": h.token, "side": h.side, "failures": h.failures} for h in cleared
                    ],
                )
        return cleared

    # ------------------------------------------------------------------ the master key
    async def rotate(self, old: MasterKey, *, actor: str) -> int:
        """Re-seal every vault wallet under this service's key (the new one) instead of `old`,
        re-MAC every identity (each checked under `old` first), re-chain the audit log under
        it, and make it the database's key: all in one transaction, holding the audit lock, so
        an interrupted rotation leaves everything under the old key and simply runs again.
        A process still holding `old` stops at its next audit append or key check (`audit`,
        `roster`). Returns how many wallets were re-sealed."""
        new = self.require_key()
        if old == new:
            raise UserError("the old and the new master key are the same key")
        async with self.db.session() as s:
            log_ = AuditLog(s, self.clock, new)
            await log_.lock()  # one rotation at a time; appends wait, then see the new key
            current = await keycheck.current_key_id(s)
            if current == new.key_id:
                raise UserError(
                    f"the database already uses the new key ({new.key_id}): nothing to rotate"
                )
            await keycheck.check(s, old, name=ENV_OLD)
            await identity.adopt(s, old, self.clock)
            users = Users(s, self.clock)
            vault = Vault(new)  # re-seals only
            count = 0
            for user in await users.all(custody=Custody.VAULT):
                try:
                    identity.require(old, user)
                except UserError as exc:
                    raise UserError(f"{exc}; nothing was changed") from None
                if user.master_key_id != old.key_id:
                    raise UserError(
                        f"user {user.username!r} is sealed under key {user.master_key_id}, "
                        f"neither the old ({old.key_id}) nor the new one; nothing was changed"
                    )
                try:
                    sealed = vault.reseal(old, user.id, user.wallet_pubkey, _sealed(user))
                except (EnvelopeError, SigningError) as exc:
                    raise UserError(f"{user.username}: {exc}; nothing was changed") from None
                await users.reseal(
                    user.id,
                    old_key_id=old.key_id,
                    encrypted_private_key=sealed,
                    master_key_id=new.key_id,
                )
                identity.seal(new, user)
                count += 1
            for user in await users.all():  # second factors are sealed under the key too
                if user.totp_secret is not None:
                    secret = second_factor.unseal(old, user.totp_secret, user.id)
                    user.totp_secret = second_factor.seal(new, secret, user.id)
            await addresses.reseal_all(s, old, new)  # and webhooks' addresses
            try:
                await log_.rechain(old)
            except ValueError as exc:
                raise UserError(f"{exc}; nothing was changed") from None
            await keycheck.switch(s, old, new)
            await log_.append(
                actor, Action.ROTATE, None, old_key=old.key_id, new_key=new.key_id, wallets=count
            )
        self._vault = None
        return count

    async def verify_wallets(self) -> list[str]:
        """Prove every vault wallet opens under the key and is the wallet it is stored as (the
        backup drill); the problems, none when all is well. Decrypts without counting."""
        key = self.require_key()
        problems = []
        async with self.db.session() as s:
            await keycheck.check(s, key)
            for user in await Users(s, self.clock).all(custody=Custody.VAULT):
                try:
                    Vault(key).check(user.id, user.wallet_pubkey, _sealed(user))
                except (EnvelopeError, SigningError) as exc:
                    problems.append(f"{user.username}: {exc}")
        return problems

    # ------------------------------------------------------------------ reading
    async def user(self, username: str, users: Users | None = None) -> UserRow:
        name = _username(username)
        if users is None:
            async with self.db.session() as s:
                return await self.user(name, Users(s, self.clock))
        found = await users.by_username(name)
        if found is None:
            raise UserError(f"no user named {name!r} (`solbot list-users` shows them)")
        return found

    async def users(self) -> list[UserRow]:
        async with self.db.session() as s:
            return await Users(s, self.clock).all()

    # ------------------------------------------------------------------ helpers
    async def _vault_user(self, users: Users, username: str) -> UserRow:
        user = await self.user(username, users)
        if user.custody != Custody.VAULT.value:
            raise UserError(
                f"user {user.username!r} trades the operator's own wallet, which solbot does not "
                "store: there is no key to export"
            )
        return user

    async def audit(
        self, session: object, actor: str, action: str, user: UserRow, **details: object
    ) -> None:
        """One audit row for `user`, in the caller's transaction, after checking the master key
        is this database's (audit rows carry its MAC): the callers require the key, except a
        pause, which checks first (`pause`)."""
        key = self.require_key()
        await keycheck.check(session, key)
        await AuditLog(session, self.clock, key).append(
            actor,
            action,
            user.id,
            username=user.username,
            **{k: v for k, v in details.items() if v is not None},
        )

    # ------------------------------------------------------------------ the vault's records
    async def audit_vault_records(
        self,
        session: object,
        actor: str,
        *,
        counts: bool = True,
        names: Mapping[str, str] | None = None,
    ) -> None:
        """Write what the vault's guard saw since last time to the audit log, in `session`:
        the decryption counts (with `counts`), each burst alert, each key that did not open.
        The alerts wait in `untold_alerts` for whoever tells the operator (the loop). Nothing
        without a key or a vault."""
        if self.key is None or self._vault is None or self._vault._guard is None:
            return
        records = self._vault.guard.take_records(counts=counts)
        names = names or {}
        audit = AuditLog(session, self.clock, self.key)
        if records.counts:
            await audit.append(
                actor,
                Action.DECRYPTIONS,
                None,
                counts={names.get(k, k): v for k, v in sorted(records.counts.items())},
            )
        for alert in records.alerts:
            await audit.append(
                actor,
                Action.DECRYPT_ALERT,
                alert.user_id,
                count=alert.count,
                window_seconds=alert.window_seconds,
                paused_until=alert.paused_until,
            )
        for user_id, reason in records.failures:
            await audit.append(actor, Action.OPEN_FAILED, user_id, reason=reason)
        self.untold_alerts.extend(records.alerts)

    async def record_vault_records(self, actor: str) -> None:
        """`audit_vault_records` (without the counts) in a transaction of its own, for a path
        that signs outside one (a withdrawal whose key did not open)."""
        if self.key is None:
            return
        async with self.db.session() as s:
            await keycheck.check(s, self.key)
            await self.audit_vault_records(s, actor, counts=False)


def parse_secret(text: str) -> Keypair:
    """A keypair from base58 of its 64 bytes or a Solana CLI JSON array; errors never quote."""
    value = text.strip()
    if not value:
        raise UserError("the private key is empty")
    try:
        if value.startswith("["):
            return Keypair.from_bytes(bytes(json.loads(value)))
        return Keypair.from_base58_string(value)
    except (ValueError, TypeError):
        raise UserError(
            "not a Solana private key: expected base58 of the 64-byte secret or a JSON array of "
            "64 numbers (the Solana CLI key file)"
        ) from None


def parse_pct(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserError(f"{name} must be a number, got {text!r}") from None
    if not value.is_finite() or not Decimal(0) < value <= Decimal(100):
        raise UserError(f"{name} must be above 0 and at most 100, got {text}")
    return value


def _username(name: str) -> str:
    try:
        return check_username(name)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _tier(tier: RiskTier | str) -> RiskTier:
    try:
        return RiskTier(tier)
    except ValueError:
        names = ", ".join(t.value for t in RiskTier)
        raise UserError(f"unknown risk tier {tier!r}: use {names}") from None


def _sealed(user: UserRow) -> bytes:
    if user.encrypted_private_key is None:
        raise UserError(f"user {user.username!r} has no sealed key")
    return user.encrypted_private_key


def _new_id() -> str:
    return str(uuid.uuid4())
