"""The master key and the sealed-key envelope: formats, binding to the owner, and errors that
never carry key material."""

from __future__ import annotations

import pickle

import pytest
from solders.keypair import Keypair

from solbot.errors import UserError
from solbot.wallet import envelope
from solbot.wallet.envelope import EnvelopeError
from solbot.wallet.master import MasterKey, from_environment, require

KEY_HEX = "11" * 32


def test_the_master_key_comes_from_64_hex_characters_and_prints_its_id_only() -> None:
    key = MasterKey.from_hex(KEY_HEX)
    assert len(key.key_id) == 16
    assert KEY_HEX not in repr(key)
    assert KEY_HEX not in str(key)
    assert f"{key}" == f"MasterKey(key_id={key.key_id})"
    assert key.hex() == KEY_HEX
    with pytest.raises(TypeError):
        pickle.dumps(key)
    # Each purpose has its own subkey; none is the master key itself.
    derived = {key.wallet_key(), key.audit_key(), key.second_factor_key()}
    assert len(derived) == 3
    assert bytes.fromhex(KEY_HEX) not in derived


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ab" * 31, "must be 64 hex characters"),
        ("zz" * 32, "not hexadecimal"),
        ("", "must be 64 hex characters"),
    ],
)
def test_a_bad_master_key_is_one_line_without_the_value(value: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as caught:
        MasterKey.from_hex(value)
    assert value not in str(caught.value) or value == ""


def test_the_environment_is_the_only_source() -> None:
    assert from_environment(environ={}) is None
    assert from_environment(environ={"MASTER_ENCRYPTION_KEY": "  "}) is None
    assert from_environment(environ={"MASTER_ENCRYPTION_KEY": KEY_HEX}) == MasterKey.from_hex(
        KEY_HEX
    )
    with pytest.raises(UserError, match="MASTER_ENCRYPTION_KEY is not set"):
        require(environ={})


def test_check_values_tell_keys_apart() -> None:
    one, two = MasterKey.generate(), MasterKey.generate()
    assert one.matches(one.check_value())
    assert not one.matches(two.check_value())
    assert one.key_id != two.key_id


def test_an_envelope_opens_only_for_its_key_owner_and_wallet() -> None:
    key = MasterKey.generate()
    keypair = Keypair()
    pubkey = str(keypair.pubkey())
    blob = envelope.seal(key, keypair.secret(), "user-1", pubkey)
    assert len(blob) == envelope.LENGTH == 1 + 8 + 12 + 32 + 16
    assert blob[0] == 1
    assert envelope.key_id_of(blob) == key.key_id
    assert keypair.secret() not in blob

    seed = bytearray(32)
    envelope.open_into(key, blob, "user-1", pubkey, seed)
    assert bytes(seed) == keypair.secret()

    with pytest.raises(EnvelopeError, match="moved from another user's row"):
        envelope.open_into(key, blob, "user-2", pubkey, bytearray(32))
    with pytest.raises(EnvelopeError, match="moved from another user's row"):
        envelope.open_into(key, blob, "user-1", str(Keypair().pubkey()), bytearray(32))
    with pytest.raises(EnvelopeError, match="sealed under master key"):
        envelope.open_into(MasterKey.generate(), blob, "user-1", pubkey, bytearray(32))
    tampered = bytearray(blob)
    tampered[-20] ^= 1
    with pytest.raises(EnvelopeError):
        envelope.open_into(key, bytes(tampered), "user-1", pubkey, bytearray(32))
    with pytest.raises(EnvelopeError, match="format version"):
        envelope.open_into(key, b"\x02" + blob[1:], "user-1", pubkey, bytearray(32))
    with pytest.raises(EnvelopeError, match="bytes, expected"):
        envelope.open_into(key, blob[:-1], "user-1", pubkey, bytearray(32))


def test_two_seals_of_one_seed_differ_by_their_random_nonce() -> None:
    key, keypair = MasterKey.generate(), Keypair()
    pubkey = str(keypair.pubkey())
    first = envelope.seal(key, keypair.secret(), "u", pubkey)
    second = envelope.seal(key, keypair.secret(), "u", pubkey)
    assert first[9:21] != second[9:21]
    assert first != second
