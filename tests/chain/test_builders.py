"""Builders: what they refuse before anything reaches a chain, and the instructions' layout."""

from __future__ import annotations

import pytest
from solders.hash import Hash
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import decode_transfer_checked

from solbot.chain import builders
from solbot.sim.ledger import new_keypair_from_seed

ALICE = new_keypair_from_seed(b"builders: alice")
BOB = new_keypair_from_seed(b"builders: bob")
MINT = new_keypair_from_seed(b"builders: mint").pubkey()
BLOCKHASH = Hash.new_unique()


def test_transfer_checked_goes_between_associated_accounts() -> None:
    ix = builders.token_transfer_checked(ALICE.pubkey(), BOB.pubkey(), MINT, 42, 6)
    params = decode_transfer_checked(ix)
    assert params.source == builders.associated_token_address(ALICE.pubkey(), MINT)
    assert params.dest == builders.associated_token_address(BOB.pubkey(), MINT)
    assert (params.mint, params.owner, params.amount, params.decimals) == (
        MINT,
        ALICE.pubkey(),
        42,
        6,
    )
    assert ix.program_id == TOKEN_PROGRAM_ID


def test_create_associated_account_is_the_idempotent_instruction() -> None:
    ix = builders.create_associated_token_account(ALICE.pubkey(), BOB.pubkey(), MINT)
    assert ix.program_id == ASSOCIATED_TOKEN_PROGRAM_ID
    assert bytes(ix.data) == b"\x01"  # CreateIdempotent; plain Create is empty data
    assert ix.accounts[1].pubkey == builders.associated_token_address(BOB.pubkey(), MINT)


@pytest.mark.parametrize("amount", [-1, 2**64])
def test_amounts_must_fit_a_u64(amount: int) -> None:
    with pytest.raises(ValueError, match="between 0 and"):
        builders.sol_transfer(ALICE.pubkey(), BOB.pubkey(), amount)
    with pytest.raises(ValueError, match="between 0 and"):
        builders.token_transfer_checked(ALICE.pubkey(), BOB.pubkey(), MINT, amount, 6)


def test_amounts_must_be_ints_not_floats_or_bools() -> None:
    with pytest.raises(TypeError, match="must be an int"):
        builders.sol_transfer(ALICE.pubkey(), BOB.pubkey(), 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be an int"):
        builders.compute_unit_price(True)


def test_compute_unit_limit_is_capped_by_the_runtime_maximum() -> None:
    builders.compute_unit_limit(builders.MAX_COMPUTE_UNITS)
    with pytest.raises(ValueError, match="1400000"):
        builders.compute_unit_limit(builders.MAX_COMPUTE_UNITS + 1)


def test_build_transaction_signs_a_v0_message() -> None:
    ixs = [builders.sol_transfer(ALICE.pubkey(), BOB.pubkey(), 5)]
    tx = builders.build_transaction(ALICE.pubkey(), ixs, BLOCKHASH, [ALICE])
    assert tx.message.recent_blockhash == BLOCKHASH
    assert tx.message.account_keys[0] == ALICE.pubkey()
    assert tx.verify_with_results() == [True]


def test_build_transaction_names_missing_and_extra_signers() -> None:
    ixs = [builders.sol_transfer(ALICE.pubkey(), BOB.pubkey(), 5)]
    with pytest.raises(ValueError, match="missing") as missing:
        builders.build_transaction(ALICE.pubkey(), ixs, BLOCKHASH, [BOB])
    assert str(ALICE.pubkey()) in str(missing.value)
    assert str(BOB.pubkey()) in str(missing.value)  # as the extra one
    with pytest.raises(ValueError, match="at least one instruction"):
        builders.build_transaction(ALICE.pubkey(), [], BLOCKHASH, [ALICE])


def test_signer_errors_never_show_a_secret_key() -> None:
    ixs = [builders.sol_transfer(ALICE.pubkey(), BOB.pubkey(), 5)]
    with pytest.raises(ValueError, match="signers do not match") as error:
        builders.build_transaction(ALICE.pubkey(), ixs, BLOCKHASH, [BOB])
    assert str(BOB) not in str(error.value)  # str(keypair) is the base58 secret key
