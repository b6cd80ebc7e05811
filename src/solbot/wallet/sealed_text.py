"""A short secret stored sealed under the master key: AES-256-GCM under one of its subkeys,
bound to its owner (a user's id, a webhook's id) and its purpose (`label`), so a sealed value
copied to another row or read for another purpose does not open. The second factor's TOTP
secret and a webhook's address (its token is in it) are sealed this way.

Layout: a version byte, the master key's id, a 12-byte nonce, the ciphertext with its tag."""

from __future__ import annotations

import secrets
from enum import Enum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from solbot.wallet.master import KEY_ID_BYTES, MasterKey

VERSION = 1
NONCE_BYTES = 12


class Unsealed(Enum):
    """Why a sealed value did not open (each caller words it for its own readers)."""

    UNREADABLE = "unreadable"
    OTHER_KEY = "sealed under another master key"
    DOES_NOT_OPEN = "does not open"


class SealError(Exception):
    def __init__(self, why: Unsealed) -> None:
        super().__init__(why.value)
        self.why = why


def seal(key: MasterKey, subkey: bytes, label: bytes, secret: str, owner: str) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    body = AESGCM(subkey).encrypt(nonce, secret.encode(), _aad(label, owner))
    return bytes([VERSION]) + key.key_id_bytes + nonce + body


def unseal(key: MasterKey, subkey: bytes, label: bytes, blob: bytes, owner: str) -> str:
    head = 1 + KEY_ID_BYTES
    if len(blob) < head + NONCE_BYTES or blob[0] != VERSION:
        raise SealError(Unsealed.UNREADABLE)
    if blob[1:head] != key.key_id_bytes:
        raise SealError(Unsealed.OTHER_KEY)
    nonce, body = blob[head : head + NONCE_BYTES], blob[head + NONCE_BYTES :]
    try:
        return AESGCM(subkey).decrypt(nonce, body, _aad(label, owner)).decode()
    except InvalidTag:
        raise SealError(Unsealed.DOES_NOT_OPEN) from None


def _aad(label: bytes, owner: str) -> bytes:
    return label + b"\x00" + owner.encode()
