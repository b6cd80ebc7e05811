"""The vault signs just in time, refuses a key that belongs to another wallet, and reports a
key that does not open (the limits on decryptions: test_decrypt_guard.py)."""

from __future__ import annotations

import json
import pickle

import pytest
from solders.keypair import Keypair

from solbot.clock import ManualClock
from solbot.wallet import envelope
from solbot.wallet.decrypt_guard import DecryptGuard, Reservation, UnreservedDecryptionError
from solbot.wallet.master import MasterKey
from solbot.wallet.vault import KeyMismatchError, SealedKeyError, Vault


@pytest.fixture
def guard() -> DecryptGuard:
    return DecryptGuard(clock=ManualClock(1_800_000_000.0))


def granted(guard: DecryptGuard, *user_ids: str) -> Reservation:
    """What a reservation in the database grants (test_decrypt_guard.py tests that part)."""
    return Reservation(guard, {u: 10 for u in user_ids}, {})


def test_a_created_wallet_signs_as_itself_and_exports_what_wallets_import(
    guard: DecryptGuard,
) -> None:
    vault = Vault(MasterKey.generate(), guard)
    sealed, revealed = vault.create("u1")
    keypair = Keypair.from_base58_string(revealed.reveal())
    assert str(keypair.pubkey()) == sealed.pubkey
    assert revealed.reveal() not in repr(revealed)
    assert revealed.reveal() not in f"{revealed}"
    with pytest.raises(TypeError):
        pickle.dumps(revealed)

    signer = vault.signer("u1", sealed.pubkey, sealed.sealed)
    assert signer.pubkey() == keypair.pubkey()
    with granted(guard, "u1"):
        signature = signer.sign_message(b"a transaction")
        assert vault.export("u1", sealed.pubkey, sealed.sealed, "base58").reveal() == str(keypair)
        array = json.loads(vault.export("u1", sealed.pubkey, sealed.sealed, "json").reveal())
    assert signature.verify(keypair.pubkey(), b"a transaction")
    assert revealed.reveal() not in repr(signer)
    assert bytes(array) == bytes(keypair)
    assert Keypair.from_bytes(bytes(array)) == keypair
    assert guard.take_records().counts == {"u1": 3}


def test_no_decryption_without_a_reservation_and_none_beyond_it(guard: DecryptGuard) -> None:
    vault = Vault(MasterKey.generate(), guard)
    sealed, _ = vault.create("u1")
    signer = vault.signer("u1", sealed.pubkey, sealed.sealed)
    with pytest.raises(UnreservedDecryptionError, match="no key decryption was reserved"):
        signer.sign_message(b"m")
    with Reservation(guard, {"u1": 1}, {}):
        signer.sign_message(b"m")
        with pytest.raises(UnreservedDecryptionError):
            signer.sign_message(b"m")
    with Reservation(guard, {"u1": 1}, {}):
        pass  # an unused grant lapses with its block
    with pytest.raises(UnreservedDecryptionError):
        signer.sign_message(b"m")
    other = Vault(MasterKey.generate(), DecryptGuard())  # another guard's grants are not ours
    mine, _ = other.create("u1")
    with granted(guard, "u1"), pytest.raises(UnreservedDecryptionError):
        other.signer("u1", mine.pubkey, mine.sealed).sign_message(b"m")
    with pytest.raises(RuntimeError, match="no decryption guard"):
        Vault(vault.key).signer("u1", sealed.pubkey, sealed.sealed).sign_message(b"m")


def test_an_imported_wallet_keeps_its_address() -> None:
    vault = Vault(MasterKey.generate())
    keypair = Keypair()
    sealed, _ = vault.adopt("u2", keypair)
    assert sealed.pubkey == str(keypair.pubkey())
    vault.check("u2", sealed.pubkey, sealed.sealed)


def test_a_key_stored_next_to_another_wallet_refuses_to_sign_and_is_recorded(
    guard: DecryptGuard,
) -> None:
    """Re-sealing another user's seed under this user's id and address (someone with the master
    key editing rows) still cannot make it sign as this wallet: the derived public key differs.
    A key that does not open at all is refused too; both are recorded for the audit log."""
    key = MasterKey.generate()
    vault = Vault(key, guard)
    mine, _ = vault.create("u1")
    theirs, their_key = vault.create("u2")
    forged = envelope.seal(
        key, Keypair.from_base58_string(their_key.reveal()).secret(), "u1", mine.pubkey
    )
    damaged = mine.sealed[:-1] + bytes([mine.sealed[-1] ^ 1])
    with granted(guard, "u1"):
        with pytest.raises(KeyMismatchError, match="refusing to sign"):
            vault.signer("u1", mine.pubkey, forged).sign_message(b"x")
        with pytest.raises(SealedKeyError, match="cannot be opened"):
            vault.export("u1", mine.pubkey, damaged)
    assert theirs.pubkey not in repr(vault)
    failures = guard.take_records().failures
    assert [(user, reason.split(":")[0]) for user, reason in failures] == [
        (
            "u1",
            f"the sealed key belongs to {theirs.pubkey}, not to the stored wallet {mine.pubkey}",
        ),
        ("u1", "the wallet of user u1 cannot be opened"),
    ]
    assert guard.take_records().failures == []


def test_rotation_reseals_the_same_seed_under_the_new_key(guard: DecryptGuard) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    sealed, revealed = Vault(old).create("u1")
    resealed = Vault(new).reseal(old, "u1", sealed.pubkey, sealed.sealed)
    signer = Vault(new, guard).signer("u1", sealed.pubkey, resealed)
    message = b"after rotation"
    keypair = Keypair.from_base58_string(revealed.reveal())
    with granted(guard, "u1"):
        assert signer.sign_message(message) == keypair.sign_message(message)
