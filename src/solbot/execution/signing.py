"""Signing transactions that someone else built (Jupiter, a market maker), in our slot only.

A swap transaction from Jupiter may need more than one signature: on a request-for-quote route
the market maker is the fee payer (account 0) and signs at execution, the user is another
required signer. solders' `VersionedTransaction(message, [keypair])` insists on every signer at
once and fails with "not enough signers" there. And the bytes a Solana signature covers are the
message's *versioned* serialisation (`solders.message.to_bytes_versioned`: a v0 message carries a
version prefix that `bytes(message)` leaves out); signing `bytes(message)` gives a signature the
runtime rejects. So `sign_own_slot` signs the versioned bytes, puts the signature at the signer's
index among the message's required signers, and keeps every other slot as it came (a maker's
signature, or the all-zero placeholder of a slot filled later).

Signers are a protocol so that keys never have to leave the wallet vault: a solders `Keypair`
satisfies it, and so does the vault's signer, which decrypts a key just for `sign_message`.
Such a signer is *metered*: its decryptions are limited across processes and must be reserved
in the database first (`reserve_signatures`, in a transaction the caller already has; see
`wallet.decrypt_guard`). Plain keys need no reservation and cost nothing there.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, ExitStack
from typing import Any, Protocol, cast, runtime_checkable

from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

__all__ = [
    "MeteredSigner",
    "Reserved",
    "Signer",
    "SigningError",
    "metered",
    "reserve_signatures",
    "reserve_signatures_apart",
    "sign_own_slot",
    "signer_index",
    "verifies",
]


@runtime_checkable
class Signer(Protocol):
    """Something that signs with one Ed25519 key without handing the key out."""

    def pubkey(self) -> Pubkey: ...

    def sign_message(self, message: bytes) -> Signature: ...


class SigningError(ValueError):
    """The transaction cannot carry this signer's signature (one line, never key material)."""


class UnusableKeyError(SigningError):
    """The signer can never sign, whatever the transaction: its key does not open or is not
    this wallet's. Not the order's fault but the user's whole trading's: the loop holds every
    order of that user (`solbot.quarantine`) instead of retrying each position."""


class SignatureMeter(Protocol):
    """Grants metered signers their signatures (the vault's `DecryptGuard`)."""

    async def reserve(
        self, session: Any, user_ids: Iterable[str]
    ) -> AbstractContextManager[object]: ...


class MeteredSigner(Signer, Protocol):
    """A signer whose signatures must be reserved first (see the module docstring)."""

    user_id: str

    @property
    def meter(self) -> SignatureMeter: ...


class Reserved:
    """The reservations of one operation: `with reserved:` makes them usable for the signing
    inside (and for the tasks started inside); unused ones lapse at the end."""

    def __init__(self, reservations: Sequence[AbstractContextManager[object]] = ()) -> None:
        self._reservations = reservations
        self._stack: ExitStack | None = None

    def __enter__(self) -> Reserved:
        stack = ExitStack()
        for reservation in self._reservations:
            stack.enter_context(reservation)
        self._stack = stack
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


async def reserve_signatures(session: Any, signers: Iterable[Signer]) -> Reserved:
    """Reserve one signature for each of `signers` (listed twice, twice) in `session`, the
    caller's transaction. Signers without a meter (plain keys) need none: no statement runs
    when none of them has one."""
    wanted: dict[int, tuple[SignatureMeter, list[str]]] = {}
    for signer in metered(signers):
        wanted.setdefault(id(signer.meter), (signer.meter, []))[1].append(signer.user_id)
    return Reserved([await meter.reserve(session, users) for meter, users in wanted.values()])


async def reserve_signatures_apart(db: Any, signers: Sequence[Signer]) -> Reserved:
    """`reserve_signatures` in a short transaction of its own on `db` (a `Database`), for a
    path that has none at hand; opened only when a signer needs it."""
    if not metered(signers):
        return Reserved()
    async with db.session(durable=False) as session:
        return await reserve_signatures(session, signers)


def metered(signers: Iterable[Signer]) -> list[MeteredSigner]:
    """The signers whose signatures must be reserved (a duck-typed check: an `isinstance`
    against the protocol costs ~18 µs a signer)."""
    return [cast(MeteredSigner, s) for s in signers if getattr(s, "meter", None) is not None]


def signer_index(tx: VersionedTransaction, pubkey: Pubkey) -> int:
    """The slot of `pubkey` among the message's required signers.

    Only the first `num_required_signatures` account keys sign; a key found later in the list is
    an ordinary account, and signing for it would be meaningless.
    """
    message = tx.message
    required = message.header.num_required_signatures
    keys = message.account_keys[:required]
    for index, key in enumerate(keys):
        if key == pubkey:
            return index
    raise SigningError(
        f"{pubkey} is not among the {required} required signer(s) of this transaction"
    )


def sign_own_slot(tx: VersionedTransaction, signer: Signer) -> VersionedTransaction:
    """A copy of `tx` with `signer`'s signature in its slot and every other slot unchanged.

    The new signature is checked against the signer's public key before it is used: a vault
    that signed with the wrong key, or a signer that hashed the wrong bytes, is caught here
    rather than by the network after a round trip.
    """
    message = tx.message
    pubkey = signer.pubkey()
    index = signer_index(tx, pubkey)
    signatures = list(tx.signatures)
    required = message.header.num_required_signatures
    if len(signatures) != required:
        raise SigningError(
            f"transaction carries {len(signatures)} signature slot(s) for {required} "
            "required signer(s)"
        )
    payload = to_bytes_versioned(message)
    signature = signer.sign_message(payload)
    if not verifies(signature, pubkey, payload):
        raise SigningError(f"the signature made for {pubkey} does not verify against its key")
    signatures[index] = signature
    return VersionedTransaction.populate(message, signatures)


def verifies(signature: Signature, pubkey: Pubkey, payload: bytes) -> bool:
    """Whether `signature` is `pubkey`'s over `payload`, remembered for the last thousand
    checks: the signature `sign_own_slot` just checked is checked again before `/execute`
    (`JupiterClient`), and an Ed25519 verification costs more than a signature. Two groups of
    orders' worth (`engine.GROUP_SIZE`, 500): each entry keeps its message (about a kilobyte),
    so a long run holds a megabyte here, not four."""
    return _verifies(bytes(signature), bytes(pubkey), payload)


@functools.lru_cache(maxsize=1024)
def _verifies(signature: bytes, pubkey: bytes, payload: bytes) -> bool:
    return Signature.from_bytes(signature).verify(Pubkey.from_bytes(pubkey), payload)
