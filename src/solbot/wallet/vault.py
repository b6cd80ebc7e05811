"""The wallet vault: makes users' wallets, seals their keys, and signs with them just in time.

A key is decrypted inside `VaultSigner.sign_message` (and `Vault.export`) only: into a buffer
that is overwritten as soon as the keypair exists, then the keypair is dropped. Before signing,
the public key is derived again from the decrypted seed and compared with the stored one; a
mismatch refuses to sign (a row edited to point at someone else's sealed key must not sign as
them).

Every decryption passes the `DecryptGuard` (`wallet.decrypt_guard`): decryptions are limited
per user and over all users, counted in the database that every process shares, and reserved
before they happen (the trading loop reserves a whole group's in one transaction it already
has, so a signature costs no database work). A key that does not open is recorded for the
audit log (`DecryptGuard.failed`): a failed open is never silent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import NoReturn

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from solbot.execution.signing import UnusableKeyError
from solbot.wallet import envelope
from solbot.wallet.decrypt_guard import DecryptGuard
from solbot.wallet.master import MasterKey


class KeyMismatchError(UnusableKeyError):
    """The sealed key does not belong to the wallet it is stored with."""


class SealedKeyError(UnusableKeyError):
    """The sealed key does not open (another master key, altered, or moved between rows)."""


@dataclass(frozen=True, slots=True)
class SealedWallet:
    """A new wallet: its address and its sealed key (what the `users` row stores)."""

    pubkey: str
    sealed: bytes
    key_id: str


class RevealedKey:
    """A private key on its way to its owner: prints redacted; `reveal()` is the one way out."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text

    def reveal(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return "RevealedKey(<redacted>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a RevealedKey cannot be pickled")


class Vault:
    """Seals, opens and signs with users' keys under the master key."""

    def __init__(self, key: MasterKey, guard: DecryptGuard | None = None) -> None:
        """`guard` counts and limits decryptions; a vault without one only seals, re-seals
        and checks keys (rotation, backups) and refuses to sign or export."""
        self.key = key
        self._guard = guard

    @property
    def guard(self) -> DecryptGuard:
        if self._guard is None:
            raise RuntimeError("this vault has no decryption guard: it cannot sign or export")
        return self._guard

    # ------------------------------------------------------------------ making wallets
    def create(self, user_id: str) -> tuple[SealedWallet, RevealedKey]:
        """A fresh wallet for `user_id`: its sealed form, and its key to show the owner once."""
        return self.adopt(user_id, Keypair())

    def adopt(self, user_id: str, keypair: Keypair) -> tuple[SealedWallet, RevealedKey]:
        """Seal an existing keypair (an imported wallet) for `user_id`."""
        pubkey = str(keypair.pubkey())
        sealed = envelope.seal(self.key, keypair.secret(), user_id, pubkey)
        return SealedWallet(pubkey, sealed, self.key.key_id), RevealedKey(str(keypair))

    def reseal(self, old: MasterKey, user_id: str, pubkey: str, sealed: bytes) -> bytes:
        """The same seed sealed under this vault's key instead of `old` (key rotation)."""
        seed = bytearray(envelope.SEED_BYTES)
        try:
            envelope.open_into(old, sealed, user_id, pubkey, seed)
            _check_pubkey(seed, pubkey)
            return envelope.seal(self.key, seed, user_id, pubkey)
        finally:
            _wipe(seed)

    # ------------------------------------------------------------------ using them
    def signer(self, user_id: str, pubkey: str, sealed: bytes) -> VaultSigner:
        return VaultSigner(self, user_id, Pubkey.from_string(pubkey), sealed)

    def export(self, user_id: str, pubkey: str, sealed: bytes, fmt: str = "base58") -> RevealedKey:
        """The 64-byte secret as wallets import it: base58 (Phantom, Solflare) or the Solana
        CLI's JSON array. A decryption like any other: counted and limited."""
        if fmt not in ("base58", "json"):
            raise ValueError(f"unknown key format {fmt!r}: use base58 or json")
        with self._opened(user_id, pubkey, sealed) as keypair:
            if fmt == "base58":
                return RevealedKey(str(keypair))
            return RevealedKey(json.dumps(list(bytes(keypair))))

    def check(self, user_id: str, pubkey: str, sealed: bytes) -> None:
        """Prove the sealed key opens and belongs to `pubkey` (backups, rotation); uncounted."""
        seed = bytearray(envelope.SEED_BYTES)
        try:
            envelope.open_into(self.key, sealed, user_id, pubkey, seed)
            _check_pubkey(seed, pubkey)
        finally:
            _wipe(seed)

    def _opened(self, user_id: str, pubkey: str, sealed: bytes) -> _Opened:
        guard = self.guard
        guard.admit(user_id)
        return _Opened(self.key, guard, user_id, pubkey, sealed)


class _Opened:
    """`with` block holding a decrypted keypair; the seed buffer is wiped on entry's end. A
    key that does not open (or is not this wallet's) is reported to the guard."""

    def __init__(
        self, key: MasterKey, guard: DecryptGuard, user_id: str, pubkey: str, sealed: bytes
    ) -> None:
        self._args = (key, sealed, user_id, pubkey)
        self._guard = guard
        self._keypair: Keypair | None = None

    def __enter__(self) -> Keypair:
        key, sealed, user_id, pubkey = self._args
        seed = bytearray(envelope.SEED_BYTES)
        try:
            envelope.open_into(key, sealed, user_id, pubkey, seed)
            self._keypair = _check_pubkey(seed, pubkey)
        except envelope.EnvelopeError as exc:
            error = SealedKeyError(f"the wallet of user {user_id} cannot be opened: {exc}")
            self._guard.failed(user_id, str(error))
            raise error from None
        except KeyMismatchError as exc:
            self._guard.failed(user_id, str(exc))
            raise
        finally:
            _wipe(seed)
        return self._keypair

    def __exit__(self, *_: object) -> None:
        self._keypair = None


class VaultSigner:
    """A user's wallet as a `Signer`: decrypts for each signature and keeps nothing."""

    __slots__ = ("_pubkey", "_sealed", "_vault", "user_id")

    def __init__(self, vault: Vault, user_id: str, pubkey: Pubkey, sealed: bytes) -> None:
        self._vault = vault
        self.user_id = user_id
        self._pubkey = pubkey
        self._sealed = sealed

    def pubkey(self) -> Pubkey:
        return self._pubkey

    @property
    def meter(self) -> DecryptGuard:
        """What reserves this signer's decryptions (`execution.signing.reserve_signatures`)."""
        return self._vault.guard

    def sign_message(self, message: bytes) -> Signature:
        with self._vault._opened(self.user_id, str(self._pubkey), self._sealed) as keypair:
            return keypair.sign_message(message)

    def __repr__(self) -> str:
        return f"VaultSigner(user={self.user_id}, pubkey={self._pubkey})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a VaultSigner cannot be pickled")


def _check_pubkey(seed: bytearray, pubkey: str) -> Keypair:
    keypair = Keypair.from_seed(seed)
    if str(keypair.pubkey()) != pubkey:
        raise KeyMismatchError(
            f"the sealed key belongs to {keypair.pubkey()}, not to the stored wallet {pubkey}: "
            "refusing to sign"
        )
    return keypair


def _wipe(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))
