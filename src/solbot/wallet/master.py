"""The master key: where it comes from, how it is named, and how a wrong one is caught.

`MASTER_ENCRYPTION_KEY` is 64 hex characters (32 bytes) in the environment, and nowhere else:
never in a file solbot writes, never in the database, never in a log. Subkeys are derived from
it with HKDF-SHA256, one per purpose, so that no two uses ever share a key:

- the wallet key (AES-256-GCM over each user's 32-byte seed, `envelope`),
- the audit key (HMAC-SHA256 chaining the audit log, `audit`),
- the second-factor key (AES-256-GCM over TOTP secrets, the Telegram issue),
- the identity key (HMAC-SHA256 binding a user's id, name, Telegram id and wallet, `identity`),
- the backup key (HMAC-SHA256 over a whole backup, `store.backup`).

The key id (8 bytes, shown as 16 hex characters) and the key-check value are derived the same
way. The check value is stored in `meta` under the key id; a command that needs the master key
compares it before writing anything, so a mistyped or swapped key stops at once with one line
instead of sealing new wallets under a key nobody has. Neither reveals the key (HKDF is
one-way).
"""

from __future__ import annotations

import hmac
import os
import secrets
from typing import NoReturn

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from solbot.errors import UserError

ENV = "MASTER_ENCRYPTION_KEY"
ENV_OLD = "MASTER_ENCRYPTION_KEY_OLD"
KEY_BYTES = 32
KEY_ID_BYTES = 8

_WALLET = b"solbot wallet key v1"
_AUDIT = b"solbot audit key v1"
_TOTP = b"solbot second factor key v1"
_IDENTITY = b"solbot identity key v1"
_BACKUP = b"solbot backup key v1"
_WEBHOOK = b"solbot webhook key v1"
_KEY_ID = b"solbot key id v1"
_CHECK = b"solbot key check v1"


def _derive(key: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


class MasterKey:
    """32 secret bytes that print as their key id only."""

    __slots__ = ("_identity_key", "_key", "_wallet_aead", "key_id", "key_id_bytes")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a master key is {KEY_BYTES} bytes")
        self._key = bytes(key)
        self.key_id_bytes = _derive(self._key, _KEY_ID, KEY_ID_BYTES)
        self.key_id = self.key_id_bytes.hex()
        self._wallet_aead: AESGCM | None = None
        self._identity_key: bytes | None = None

    @classmethod
    def from_hex(cls, text: str, name: str = ENV) -> MasterKey:
        """Parse the environment's form; the error never repeats the value."""
        value = text.strip()
        if len(value) != 2 * KEY_BYTES:
            raise UserError(
                f"{name} must be {2 * KEY_BYTES} hex characters (32 bytes), got {len(value)} "
                "characters; `solbot gen-master-key` prints a fresh one"
            )
        try:
            return cls(bytes.fromhex(value))
        except ValueError:
            raise UserError(f"{name} is not hexadecimal (0-9, a-f)") from None

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    def hex(self) -> str:
        """The key in the environment's form. Only `solbot gen-master-key` prints it."""
        return self._key.hex()

    def wallet_key(self) -> bytes:
        return _derive(self._key, _WALLET)

    def wallet_aead(self) -> AESGCM:
        """AES-256-GCM under the wallet key, made once (every signature opens a seal)."""
        if self._wallet_aead is None:
            self._wallet_aead = AESGCM(self.wallet_key())
        return self._wallet_aead

    def audit_key(self) -> bytes:
        return _derive(self._key, _AUDIT)

    def second_factor_key(self) -> bytes:
        return _derive(self._key, _TOTP)

    def identity_key(self) -> bytes:
        """Derived once: the loop checks an identity for every wallet it loads."""
        if self._identity_key is None:
            self._identity_key = _derive(self._key, _IDENTITY)
        return self._identity_key

    def backup_key(self) -> bytes:
        return _derive(self._key, _BACKUP)

    def webhook_key(self) -> bytes:
        """Seals webhook addresses (a Discord or Slack address carries its token)."""
        return _derive(self._key, _WEBHOOK)

    def check_value(self) -> str:
        return _derive(self._key, _CHECK).hex()

    def matches(self, check_value: str) -> bool:
        return hmac.compare_digest(self.check_value(), check_value)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a MasterKey cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MasterKey) and hmac.compare_digest(self._key, other._key)

    def __hash__(self) -> int:
        return hash(self.key_id)


def from_environment(name: str = ENV, environ: dict[str, str] | None = None) -> MasterKey | None:
    """The master key named `name` in the environment, or None when it is not set."""
    value = (environ if environ is not None else os.environ).get(name, "")
    if not value.strip():
        return None
    return MasterKey.from_hex(value, name)


def require(name: str = ENV, environ: dict[str, str] | None = None) -> MasterKey:
    """The master key, or a one-line `UserError` saying how to provide one."""
    key = from_environment(name, environ)
    if key is None:
        raise UserError(
            f"{name} is not set: export the 64-hex-character master key "
            "(`solbot gen-master-key` makes one; keep it outside the data dir)"
        )
    return key
