"""A signing key never shows its secret unless exported on purpose."""

import json
import logging
import pickle

import pytest
from solders.keypair import Keypair

from solbot.errors import UserError
from solbot.wallet.keys import SigningKey, load_signing_key


def secret_forms(kp: Keypair) -> list[str]:
    raw = bytes(kp)
    return [str(kp), json.dumps(list(raw)), raw.hex()]


def test_str_repr_format_and_logging_show_the_public_key_only(caplog):
    kp = Keypair()
    key = SigningKey(kp)
    logging.getLogger("t").warning("key %s %r", key, key)
    shown = [str(key), repr(key), f"{key}", "%s" % key, caplog.text]  # noqa: UP031
    for text in shown:
        assert str(kp.pubkey()) in text
        for secret in secret_forms(kp):
            assert secret not in text


def test_signs_like_the_keypair():
    kp = Keypair()
    assert SigningKey(kp).sign_message(b"hi") == kp.sign_message(b"hi")


def test_cannot_be_pickled():
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(SigningKey.generate())


def test_loads_base58_and_a_cli_key_file(tmp_path):
    kp = Keypair()
    assert load_signing_key(str(kp)).pubkey() == kp.pubkey()
    assert load_signing_key(f"  {kp}\n").pubkey() == kp.pubkey()
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(bytes(kp))))
    assert load_signing_key(str(path)).pubkey() == kp.pubkey()


@pytest.mark.parametrize("value", ["", "notakey", "x" * 88, "/nonexistent/id.json"])
def test_bad_values_give_a_one_line_error_without_the_value(value):
    with pytest.raises(UserError) as err:
        load_signing_key(value)
    message = str(err.value)
    assert "\n" not in message
    if value.strip():
        assert value not in message


def test_a_bad_key_file_is_refused(tmp_path):
    path = tmp_path / "id.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(UserError, match="JSON array of 64"):
        load_signing_key(str(path))
