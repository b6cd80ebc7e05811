"""The sealed form of a wallet's key: AES-256-GCM with the owner bound in.

    byte 0        format version (1)
    bytes 1–8     id of the master key that sealed it
    bytes 9–20    a random 96-bit nonce (never reused: 2**-32 collision odds after 2**32 seals)
    bytes 21–     ciphertext of the 32-byte ed25519 seed, then the 16-byte GCM tag

The associated data is `solbot-wallet-v1`, the user's id and the wallet's public key, so a
ciphertext copied into another user's row (or next to another address) fails to open, exactly
as a tampered one does. Only the seed is sealed; the 64-byte secret that wallets export is the
seed followed by the public key, which is stored in the clear anyway.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag

from solbot.wallet.master import KEY_ID_BYTES, MasterKey

VERSION = 1
LABEL = b"solbot-wallet-v1"
NONCE_BYTES = 12
SEED_BYTES = 32
TAG_BYTES = 16
LENGTH = 1 + KEY_ID_BYTES + NONCE_BYTES + SEED_BYTES + TAG_BYTES


class EnvelopeError(ValueError):
    """A sealed key that cannot be opened (wrong key, wrong owner, or altered). One line,
    never any key material."""


@dataclass(frozen=True, slots=True)
class Envelope:
    version: int
    key_id: str
    nonce: bytes
    ciphertext: bytes

    @classmethod
    def parse(cls, blob: bytes) -> Envelope:
        if len(blob) != LENGTH:
            raise EnvelopeError(f"sealed key is {len(blob)} bytes, expected {LENGTH}")
        if blob[0] != VERSION:
            raise EnvelopeError(f"sealed key has format version {blob[0]}, expected {VERSION}")
        key_id = blob[1 : 1 + KEY_ID_BYTES].hex()
        nonce = blob[1 + KEY_ID_BYTES : 1 + KEY_ID_BYTES + NONCE_BYTES]
        return cls(blob[0], key_id, nonce, blob[1 + KEY_ID_BYTES + NONCE_BYTES :])


def associated_data(user_id: str, pubkey: str) -> bytes:
    return b"\x00".join((LABEL, user_id.encode(), pubkey.encode()))


def seal(key: MasterKey, seed: bytes | bytearray, user_id: str, pubkey: str) -> bytes:
    """The envelope of a 32-byte seed for `user_id`'s wallet `pubkey`."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a wallet seed is {SEED_BYTES} bytes")
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = key.wallet_aead().encrypt(nonce, bytes(seed), associated_data(user_id, pubkey))
    return bytes([VERSION]) + key.key_id_bytes + nonce + sealed


def open_into(key: MasterKey, blob: bytes, user_id: str, pubkey: str, out: bytearray) -> None:
    """Decrypt the seed into `out` (32 bytes, which the caller overwrites when done)."""
    envelope = Envelope.parse(blob)
    if envelope.key_id != key.key_id:
        raise EnvelopeError(
            f"sealed under master key {envelope.key_id}, but the key given is {key.key_id}"
        )
    if len(out) != SEED_BYTES:
        raise ValueError(f"the output buffer must be {SEED_BYTES} bytes")
    try:
        key.wallet_aead().decrypt_into(
            envelope.nonce, envelope.ciphertext, associated_data(user_id, pubkey), out
        )
    except InvalidTag:
        raise EnvelopeError(
            "sealed key does not open for this user and wallet (altered, or moved from another "
            "user's row)"
        ) from None


def key_id_of(blob: bytes) -> str:
    return Envelope.parse(blob).key_id
