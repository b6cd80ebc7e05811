"""The vault signs just in time, refuses a key that belongs to another wallet, and pauses
signing on bursts of decryptions."""

from __future__ import annotations

import json
import pickle

import pytest
from solders.keypair import Keypair

from solbot.clock import ManualClock
from solbot.wallet import envelope
from solbot.wallet.master import MasterKey
from solbot.wallet.vault import (
    DecryptAlert,
    DecryptLimits,
    KeyMismatchError,
    SigningPausedError,
    Vault,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


def test_a_created_wallet_signs_as_itself_and_exports_what_wallets_import(
    clock: ManualClock,
) -> None:
    vault = Vault(MasterKey.generate(), clock)
    sealed, revealed = vault.create("u1")
    keypair = Keypair.from_base58_string(revealed.reveal())
    assert str(keypair.pubkey()) == sealed.pubkey
    assert revealed.reveal() not in repr(revealed)
    assert revealed.reveal() not in f"{revealed}"
    with pytest.raises(TypeError):
        pickle.dumps(revealed)

    signer = vault.signer("u1", sealed.pubkey, sealed.sealed)
    assert signer.pubkey() == keypair.pubkey()
    signature = signer.sign_message(b"a transaction")
    assert signature.verify(keypair.pubkey(), b"a transaction")
    assert revealed.reveal() not in repr(signer)

    assert vault.export("u1", sealed.pubkey, sealed.sealed, "base58").reveal() == str(keypair)
    array = json.loads(vault.export("u1", sealed.pubkey, sealed.sealed, "json").reveal())
    assert bytes(array) == bytes(keypair)
    assert Keypair.from_bytes(bytes(array)) == keypair


def test_an_imported_wallet_keeps_its_address(clock: ManualClock) -> None:
    vault = Vault(MasterKey.generate(), clock)
    keypair = Keypair()
    sealed, _ = vault.adopt("u2", keypair)
    assert sealed.pubkey == str(keypair.pubkey())
    vault.check("u2", sealed.pubkey, sealed.sealed)


def test_a_key_stored_next_to_another_wallet_refuses_to_sign(clock: ManualClock) -> None:
    """Re-sealing another user's seed under this user's id and address (someone with the master
    key editing rows) still cannot make it sign as this wallet: the derived public key differs."""
    key = MasterKey.generate()
    vault = Vault(key, clock)
    mine, _ = vault.create("u1")
    theirs, their_key = vault.create("u2")
    forged = envelope.seal(
        key, Keypair.from_base58_string(their_key.reveal()).secret(), "u1", mine.pubkey
    )
    with pytest.raises(KeyMismatchError, match="refusing to sign"):
        vault.signer("u1", mine.pubkey, forged).sign_message(b"x")
    assert theirs.pubkey not in repr(vault)


def test_rotation_reseals_the_same_seed_under_the_new_key(clock: ManualClock) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    sealed, revealed = Vault(old, clock).create("u1")
    resealed = Vault(new, clock).reseal(old, "u1", sealed.pubkey, sealed.sealed)
    signer = Vault(new, clock).signer("u1", sealed.pubkey, resealed)
    message = b"after rotation"
    keypair = Keypair.from_base58_string(revealed.reveal())
    assert signer.sign_message(message) == keypair.sign_message(message)


def test_a_burst_of_one_users_decryptions_pauses_that_user_and_alerts(clock: ManualClock) -> None:
    alerts: list[DecryptAlert] = []
    limits = DecryptLimits(per_user=3, overall=100, window_seconds=60, pause_seconds=600)
    vault = Vault(MasterKey.generate(), clock, limits=limits, on_alert=alerts.append)
    a, _ = vault.create("a")
    b, _ = vault.create("b")
    alice = vault.signer("a", a.pubkey, a.sealed)
    bob = vault.signer("b", b.pubkey, b.sealed)
    for _ in range(3):
        alice.sign_message(b"m")
    with pytest.raises(SigningPausedError, match="4 key decryptions for user a"):
        alice.sign_message(b"m")
    assert alerts == [DecryptAlert("a", 4, 60, clock.now() + 600)]
    bob.sign_message(b"m")  # others sign on
    clock.advance(300)
    with pytest.raises(SigningPausedError, match="paused for user a"):
        alice.sign_message(b"m")
    clock.advance(301)
    alice.sign_message(b"m")  # the pause has passed and the window is empty
    assert len(alerts) == 1
    assert vault.guard.take_counts() == {"a": 4, "b": 1}
    assert vault.guard.take_counts() == {}


def test_a_burst_over_all_wallets_pauses_every_wallet(clock: ManualClock) -> None:
    alerts: list[DecryptAlert] = []
    limits = DecryptLimits(per_user=10, overall=5, window_seconds=60, pause_seconds=600)
    vault = Vault(MasterKey.generate(), clock, limits=limits, on_alert=alerts.append)
    signers = []
    for n in range(6):
        sealed, _ = vault.create(f"u{n}")
        signers.append(vault.signer(f"u{n}", sealed.pubkey, sealed.sealed))
    for signer in signers[:5]:
        signer.sign_message(b"m")
    with pytest.raises(SigningPausedError, match="all wallets"):
        signers[5].sign_message(b"m")
    with pytest.raises(SigningPausedError, match="every wallet"):
        signers[0].sign_message(b"m")
    assert [a.user_id for a in alerts] == [None]
    vault.guard.resume(None)  # the operator looked and lifted it
    clock.advance(61)
    signers[0].sign_message(b"m")


def test_spread_out_signing_never_trips(clock: ManualClock) -> None:
    limits = DecryptLimits(per_user=2, overall=100, window_seconds=60, pause_seconds=600)
    vault = Vault(MasterKey.generate(), clock, limits=limits)
    sealed, _ = vault.create("a")
    signer = vault.signer("a", sealed.pubkey, sealed.sealed)
    for _ in range(20):
        signer.sign_message(b"m")
        clock.advance(31)
