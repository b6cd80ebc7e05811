"""A signing key that cannot leak by accident.

`str(solders.Keypair)` is the whole base58 secret, so an f-string, a `%s` in a log call or an
exception message built from a keypair publishes it. `SigningKey` holds the keypair privately,
prints as its public key only, refuses pickling, and exposes exactly what signing needs; the
explicit export is a separate, named method.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from solbot.errors import UserError


class SigningKey:
    """A Solana keypair that shows only its public key."""

    __slots__ = ("_keypair", "_pubkey")

    def __init__(self, keypair: Keypair) -> None:
        self._keypair = keypair
        # `Keypair.pubkey()` derives the public key anew on every call (~30 µs); signing code
        # asks for it many times per transaction.
        self._pubkey = keypair.pubkey()

    def pubkey(self) -> Pubkey:
        return self._pubkey

    def sign_message(self, message: bytes) -> Signature:
        return self._keypair.sign_message(message)

    def export_base58(self) -> str:
        """The 64-byte secret as base58 (what Phantom and Solflare import). Explicit export only."""
        return str(self._keypair)

    def __repr__(self) -> str:
        return f"SigningKey(pubkey={self._pubkey})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SigningKey cannot be pickled")

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Keypair())


def load_signing_key(value: str) -> SigningKey:
    """A key from `WALLET_PRIVATE_KEY`: base58 of the 64-byte secret, or the path of a Solana
    CLI JSON key file. Errors never repeat the value (it may be a secret)."""
    text = value.strip()
    if not text:
        raise UserError("WALLET_PRIVATE_KEY is empty")
    path = Path(text).expanduser()
    looks_like_path = text.endswith(".json") or "/" in text or text.startswith("~")
    if looks_like_path:
        if not path.is_file():
            raise UserError("WALLET_PRIVATE_KEY names a key file that does not exist")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return SigningKey(Keypair.from_bytes(bytes(raw)))
        except (ValueError, TypeError):
            raise UserError(
                "the key file in WALLET_PRIVATE_KEY is not a Solana CLI key (a JSON array of 64 "
                "bytes)"
            ) from None
    try:
        return SigningKey(Keypair.from_base58_string(text))
    except (ValueError, TypeError):
        raise UserError(
            "WALLET_PRIVATE_KEY is neither base58 of a 64-byte secret key nor a key file path"
        ) from None


class WatchOnly:
    """An address without a key: what paper trading trades as. It signs nothing."""

    __slots__ = ("_pubkey",)

    def __init__(self, pubkey: Pubkey) -> None:
        self._pubkey = pubkey

    def pubkey(self) -> Pubkey:
        return self._pubkey

    def sign_message(self, message: bytes) -> NoReturn:
        raise PermissionError(f"{self._pubkey} is watch-only (paper trading): it signs nothing")

    def __repr__(self) -> str:
        return f"WatchOnly(pubkey={self._pubkey})"


PAPER_SEED = b"solbot-paper"
_SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")


def paper_address(name: str) -> Pubkey:
    """A stable address naming a paper account that has no wallet of its own.

    It is a program-derived address, off the ed25519 curve: no private key exists for it, so it
    can never be a wallet that signs (paper trading only needs a name for the balances)."""
    address, _bump = Pubkey.find_program_address([PAPER_SEED, name.encode()], _SYSTEM_PROGRAM)
    return address
