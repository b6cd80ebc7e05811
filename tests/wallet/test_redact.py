"""Secret-shaped text is masked in logs; signatures and addresses are left alone."""

from __future__ import annotations

import json
import logging

import pytest
from solders.keypair import Keypair

from solbot.wallet.redact import MASK, RedactSecrets, contains_secret, redact


@pytest.fixture
def keypair() -> Keypair:
    return Keypair.from_seed(bytes(range(32)))


def test_every_export_form_of_a_key_is_masked(keypair: Keypair) -> None:
    forms = [str(keypair), json.dumps(list(bytes(keypair))), bytes(keypair).hex()]
    for form in forms:
        assert redact(f"oops: {form}!") == f"oops: {MASK}!"
    assert redact(bytes(keypair).hex().upper()) == MASK
    assert redact(str(list(bytes(keypair)))) == MASK  # Python's list repr, with spaces
    assert redact("MASTER_ENCRYPTION_KEY=" + "ab" * 32) == "MASTER_ENCRYPTION_KEY=" + MASK


def test_public_values_are_not_secrets(keypair: Keypair) -> None:
    signature = keypair.sign_message(b"tx")
    text = f"sent {signature} from {keypair.pubkey()}, 64 numbers: {list(range(64))}"
    assert redact(text) == text
    assert not contains_secret(text)


def test_the_logging_filter_masks_messages_arguments_and_exceptions(
    keypair: Keypair, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("solbot.test.redact")
    logger.addFilter(RedactSecrets())
    try:
        with caplog.at_level(logging.INFO, logger="solbot.test.redact"):
            logger.info("loaded %s", keypair)
            logger.info(f"as f-string {keypair}")
            try:
                raise ValueError(f"bad key {keypair}")
            except ValueError:
                logger.exception("failed")
    finally:
        logger.filters.clear()
    text = caplog.text
    assert str(keypair) not in text
    assert text.count(MASK) == 3


def test_the_dashboards_sign_in_secrets_are_masked() -> None:
    from solbot.web import secrets

    for prefix in (secrets.OPERATOR_TOKEN, secrets.SIGN_IN_LINK):
        secret = secrets.new(prefix)
        line = f"signed in with {secret} at 12:00"
        assert redact(line) == f"signed in with {MASK} at 12:00"
    assert redact("solbot_op_ alone") == "solbot_op_ alone"
