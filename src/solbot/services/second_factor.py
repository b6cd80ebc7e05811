"""The second factor: TOTP (RFC 6238) codes from an authenticator app, done properly.

- The secret is stored sealed (AES-256-GCM under the master key's second-factor subkey, bound
  to the user), like a wallet key, and re-sealed by a key rotation.
- Enrolment is two steps: `enrol` makes a secret (the user scans its `otpauth://` URI as a QR
  code), and the first correct code confirms it. Until then it protects nothing.
- A code is accepted once: `pyotp.TOTP.verify` would accept the same code again within its
  window, which RFC 6238 forbids, so the last accepted time step is stored and a code of that
  step or an earlier one is refused as a replay.
- Five wrong codes in a row lock the factor for an hour (and the caller alerts the operator).
- Checks and updates run in one transaction with the user's row locked, so two requests cannot
  both spend one code.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp
from sqlalchemy import select

from solbot.clock import Clock
from solbot.errors import UserError
from solbot.store.tables import UserRow
from solbot.store.types import utc_from_timestamp
from solbot.wallet import sealed_text
from solbot.wallet.master import MasterKey

ISSUER = "solbot"
STEP_SECONDS = 30
MAX_FAILURES = 5
LOCK_SECONDS = 3600
_LABEL = b"solbot-totp-v1"


class SecondFactorError(UserError):
    """A code was refused (one line, safe to show the user)."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    replay: bool = False  # the right code, but already used once
    locked_now: bool = False  # this failure locked the factor: tell the user and the operator
    locked_until: datetime | None = None

    @property
    def reason(self) -> str:
        if self.ok:
            return "accepted"
        if self.locked_now and self.locked_until is not None:
            return (
                f"wrong code, the {MAX_FAILURES}th in a row: the second factor is locked until "
                f"{self.locked_until.strftime('%H:%M UTC')}"
            )
        if self.replay:
            return "that code was already used; wait for the next one"
        return "wrong code"


def seal(key: MasterKey, secret: str, user_id: str) -> bytes:
    return sealed_text.seal(key, key.second_factor_key(), _LABEL, secret, user_id)


_UNSEALED = {
    sealed_text.Unsealed.UNREADABLE: "the stored second factor is unreadable; ask the operator",
    sealed_text.Unsealed.OTHER_KEY: "the second factor was sealed under another master key",
    sealed_text.Unsealed.DOES_NOT_OPEN: (
        "the stored second factor does not open; ask the operator"
    ),
}


def unseal(key: MasterKey, blob: bytes, user_id: str) -> str:
    try:
        return sealed_text.unseal(key, key.second_factor_key(), _LABEL, blob, user_id)
    except sealed_text.SealError as exc:
        raise SecondFactorError(_UNSEALED[exc.why]) from None


class SecondFactor:
    """TOTP enrolment and verification for users, over their rows (the caller's session)."""

    def __init__(self, key: MasterKey, clock: Clock) -> None:
        self.key = key
        self.clock = clock

    @staticmethod
    def enrolled(user: UserRow) -> bool:
        """Confirmed: a secret, and a code of it accepted at least once."""
        return user.totp_secret is not None and user.totp_last_step is not None

    async def enrol(self, session: Any, user_id: str, account_name: str) -> str:
        """A new secret for the user (replacing an unconfirmed one); its `otpauth://` URI."""
        user = await _locked(session, user_id)
        if self.enrolled(user):
            raise SecondFactorError(
                "your second factor is already set up; to replace it, ask the operator"
            )
        secret = pyotp.random_base32()
        user.totp_secret = seal(self.key, secret, user.id)
        user.totp_last_step = None
        user.totp_failures = 0
        user.totp_locked_until = None
        await session.flush()
        return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=ISSUER)

    async def verify(self, session: Any, user_id: str, code: str) -> Verdict:
        """Check `code` for the user (enrolled or confirming enrolment); count a failure or
        remember the accepted step. Raises `SecondFactorError` when no code can be checked."""
        user = await _locked(session, user_id)
        if user.totp_secret is None:
            raise SecondFactorError("set up the second factor first: send /2fa")
        now = self.clock.now()
        if user.totp_locked_until is not None and utc_from_timestamp(now) < user.totp_locked_until:
            until = user.totp_locked_until.strftime("%H:%M UTC")
            raise SecondFactorError(
                f"Too many wrong codes: the second factor is locked until {until}"
            )
        text = code.strip()
        totp = pyotp.TOTP(unseal(self.key, user.totp_secret, user.id))
        step = None
        if len(text) == 6 and text.isdigit():
            for offset in (0, -1, 1):  # the current step, and one either side for clock drift
                moment = now + offset * STEP_SECONDS
                if secrets.compare_digest(totp.at(moment), text):
                    step = totp.timecode(utc_from_timestamp(moment))
                    break
        if step is not None and (user.totp_last_step is None or step > user.totp_last_step):
            user.totp_last_step = step
            user.totp_failures = 0
            await session.flush()
            return Verdict(True)
        user.totp_failures = (user.totp_failures or 0) + 1
        locked = user.totp_failures >= MAX_FAILURES
        until = None
        if locked:
            until = utc_from_timestamp(now) + timedelta(seconds=LOCK_SECONDS)
            user.totp_locked_until = until
            user.totp_failures = 0
        await session.flush()
        return Verdict(False, replay=step is not None, locked_now=locked, locked_until=until)


async def _locked(session: Any, user_id: str) -> UserRow:
    """The user's row, locked for this transaction (PostgreSQL `FOR UPDATE`; SQLite's
    `BEGIN IMMEDIATE` already holds the write lock)."""
    stmt = (
        select(UserRow)
        .where(UserRow.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    user = (await session.scalars(stmt)).one_or_none()
    if user is None:
        raise SecondFactorError("no such user")
    return user
