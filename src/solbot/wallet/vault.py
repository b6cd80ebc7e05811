"""The wallet vault: makes users' wallets, seals their keys, and signs with them just in time.

A key is decrypted inside `VaultSigner.sign_message` (and `Vault.export`) only: into a buffer
that is overwritten as soon as the keypair exists, then the keypair is dropped. Before signing,
the public key is derived again from the decrypted seed and compared with the stored one; a
mismatch refuses to sign (a row edited to point at someone else's sealed key must not sign as
them).

Every decryption passes the `DecryptGuard`: a sliding window of decryptions per user and over
all users. A burst beyond either limit pauses signing (that user's, or everyone's) for a while
and raises an alert, because many wallets being decrypted at once is what an attacker draining a
custodial bot looks like. The trading loop signs each user about once per closed candle, far
below the limits; the limits are settings.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from solbot.clock import Clock
from solbot.execution.signing import SigningError, UnusableKeyError
from solbot.wallet import envelope
from solbot.wallet.master import MasterKey


class SigningPausedError(SigningError):
    """Signing is paused after a burst of decryptions (one user's, or everyone's)."""


class KeyMismatchError(UnusableKeyError):
    """The sealed key does not belong to the wallet it is stored with."""


class SealedKeyError(UnusableKeyError):
    """The sealed key does not open (another master key, altered, or moved between rows)."""


@dataclass(frozen=True, slots=True)
class DecryptLimits:
    """At most `per_user` decryptions of one user's key and `overall` of all keys within any
    `window_seconds`; beyond, signing pauses for `pause_seconds`."""

    per_user: int = 30
    overall: int = 50_000
    window_seconds: float = 60.0
    pause_seconds: float = 900.0


@dataclass(frozen=True, slots=True)
class DecryptAlert:
    """A limit was exceeded: `user_id` None means the overall limit (every wallet paused)."""

    user_id: str | None
    count: int
    window_seconds: float
    paused_until: float


class DecryptGuard:
    """Sliding-window counts of decryptions; pauses and alerts on bursts."""

    def __init__(
        self,
        clock: Clock,
        limits: DecryptLimits,
        on_alert: Callable[[DecryptAlert], None] | None = None,
    ) -> None:
        self.clock = clock
        self.limits = limits
        self.on_alert = on_alert or (lambda _a: None)
        self._recent: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._paused_until: dict[str | None, float] = {}
        self.counts: Counter[str] = Counter()  # decryptions per user since `take_counts`

    def admit(self, user_id: str) -> None:
        """Count one decryption of `user_id`'s key, or raise `SigningPausedError`."""
        now = self.clock.now()
        for scope in (None, user_id):
            until = self._paused_until.get(scope, 0.0)
            if now < until:
                who = "every wallet" if scope is None else f"user {user_id}"
                raise SigningPausedError(
                    f"signing is paused for {who} until {until:.0f} after a burst of key "
                    "decryptions; the operator was alerted"
                )
        horizon = now - self.limits.window_seconds
        mine = self._recent.setdefault(user_id, deque())
        for window in (mine, self._all):
            while window and window[0] <= horizon:
                window.popleft()
        if len(self._all) >= self.limits.overall:
            self._trip(None, len(self._all) + 1, now)
        if len(mine) >= self.limits.per_user:
            self._trip(user_id, len(mine) + 1, now)
        mine.append(now)
        self._all.append(now)
        self.counts[user_id] += 1

    def _trip(self, scope: str | None, count: int, now: float) -> NoReturn:
        until = now + self.limits.pause_seconds
        self._paused_until[scope] = until
        self.on_alert(DecryptAlert(scope, count, self.limits.window_seconds, until))
        who = "all wallets" if scope is None else f"user {scope}"
        raise SigningPausedError(
            f"{count} key decryptions for {who} within {self.limits.window_seconds:g} s: "
            "signing paused and the operator alerted"
        )

    def resume(self, user_id: str | None = None) -> None:
        """Lift a pause (the operator's decision after looking into the alert)."""
        self._paused_until.pop(user_id, None)

    def take_counts(self) -> dict[str, int]:
        """Decryptions per user since the last call (for the audit log), and reset."""
        counts = dict(self.counts)
        self.counts.clear()
        return counts


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

    def __init__(
        self,
        key: MasterKey,
        clock: Clock,
        *,
        limits: DecryptLimits | None = None,
        on_alert: Callable[[DecryptAlert], None] | None = None,
    ) -> None:
        self.key = key
        self.guard = DecryptGuard(clock, limits or DecryptLimits(), on_alert)

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
        self.guard.admit(user_id)
        return _Opened(self.key, user_id, pubkey, sealed)


class _Opened:
    """`with` block holding a decrypted keypair; the seed buffer is wiped on entry's end."""

    def __init__(self, key: MasterKey, user_id: str, pubkey: str, sealed: bytes) -> None:
        self._args = (key, sealed, user_id, pubkey)
        self._keypair: Keypair | None = None

    def __enter__(self) -> Keypair:
        key, sealed, user_id, pubkey = self._args
        seed = bytearray(envelope.SEED_BYTES)
        try:
            envelope.open_into(key, sealed, user_id, pubkey, seed)
            self._keypair = _check_pubkey(seed, pubkey)
        except envelope.EnvelopeError as exc:
            raise SealedKeyError(f"the wallet of user {user_id} cannot be opened: {exc}") from None
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
