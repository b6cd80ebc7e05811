"""Signing a transaction someone else built: the user's slot only, proven on LiteSVM.

The swap shape is the request-for-quote one Jupiter uses for market makers: the maker pays the
fee (account 0) and sends the output token (here lamports), the user (account 1) sends the input;
both must sign, in either order.
"""

from __future__ import annotations

import pytest
from solders.errors import SignerError
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from solbot.execution.signing import (
    Signer,
    SigningError,
    sign_own_slot,
    signer_index,
    verifies,
)

SOL = 1_000_000_000
USER_PAYS = 2 * SOL
MAKER_PAYS = 3 * SOL
FEE = 5_000  # lamports per signature


@pytest.fixture
def svm() -> LiteSVM:
    return LiteSVM().with_sigverify(True)


@pytest.fixture
def maker(svm: LiteSVM) -> Keypair:
    key = Keypair.from_seed(bytes([1]) * 32)
    svm.airdrop(key.pubkey(), 10 * SOL)
    return key


@pytest.fixture
def user(svm: LiteSVM) -> Keypair:
    key = Keypair.from_seed(bytes([2]) * 32)
    svm.airdrop(key.pubkey(), 10 * SOL)
    return key


def rfq_swap(svm: LiteSVM, maker: Keypair, user: Keypair) -> VersionedTransaction:
    """The maker's unsigned two-signer v0 transaction, as it arrives over the wire."""
    legs = [
        transfer(
            TransferParams(from_pubkey=user.pubkey(), to_pubkey=maker.pubkey(), lamports=USER_PAYS)
        ),
        transfer(
            TransferParams(from_pubkey=maker.pubkey(), to_pubkey=user.pubkey(), lamports=MAKER_PAYS)
        ),
    ]
    message = MessageV0.try_compile(maker.pubkey(), legs, [], svm.latest_blockhash())
    unsigned = VersionedTransaction.populate(message, [Signature.default()] * 2)
    return VersionedTransaction.from_bytes(bytes(unsigned))


def assert_swap_landed(
    svm: LiteSVM, tx: VersionedTransaction, maker: Keypair, user: Keypair
) -> None:
    before = svm.get_balance(maker.pubkey()), svm.get_balance(user.pubkey())
    result = svm.send_transaction(tx)
    assert type(result).__name__ == "TransactionMetadata", result
    after = svm.get_balance(maker.pubkey()), svm.get_balance(user.pubkey())
    fee = 2 * FEE
    assert after == (before[0] - MAKER_PAYS + USER_PAYS - fee, before[1] - USER_PAYS + MAKER_PAYS)


def test_the_swap_needs_both_signatures_and_the_user_is_second(
    svm: LiteSVM, maker: Keypair, user: Keypair
) -> None:
    tx = rfq_swap(svm, maker, user)
    assert tx.message.header.num_required_signatures == 2
    assert signer_index(tx, maker.pubkey()) == 0
    assert signer_index(tx, user.pubkey()) == 1


def test_the_naive_constructor_fails_with_not_enough_signers(
    svm: LiteSVM, maker: Keypair, user: Keypair
) -> None:
    tx = rfq_swap(svm, maker, user)
    with pytest.raises(SignerError, match="not enough signers"):
        VersionedTransaction(tx.message, [user])


def test_signing_bytes_of_the_message_gives_a_signature_that_does_not_verify(
    svm: LiteSVM, maker: Keypair, user: Keypair
) -> None:
    tx = rfq_swap(svm, maker, user)
    message = tx.message
    assert bytes(message) != to_bytes_versioned(message)  # the v0 prefix
    wrong = user.sign_message(bytes(message))
    assert not wrong.verify(user.pubkey(), to_bytes_versioned(message))
    maker_sig = maker.sign_message(to_bytes_versioned(message))
    forged = VersionedTransaction.populate(message, [maker_sig, wrong])
    assert forged.verify_with_results() == [True, False]
    result = svm.send_transaction(forged)
    assert type(result).__name__ == "FailedTransactionMetadata"
    assert "SignatureFailure" in str(result.err())


def test_user_signs_after_the_maker(svm: LiteSVM, maker: Keypair, user: Keypair) -> None:
    tx = rfq_swap(svm, maker, user)
    maker_signed = sign_own_slot(tx, maker)
    assert maker_signed.verify_with_results() == [True, False]
    both = sign_own_slot(maker_signed, user)
    assert both.signatures[0] == maker_signed.signatures[0]  # the maker's slot is kept
    assert both.verify_with_results() == [True, True]
    assert_swap_landed(svm, both, maker, user)


def test_user_signs_before_the_maker(svm: LiteSVM, maker: Keypair, user: Keypair) -> None:
    tx = rfq_swap(svm, maker, user)
    user_signed = sign_own_slot(tx, user)
    assert user_signed.signatures[0] == Signature.default()  # left for the maker
    assert user_signed.verify_with_results() == [False, True]
    # Over the wire and back, as when the half-signed transaction goes to the maker.
    relayed = VersionedTransaction.from_bytes(bytes(user_signed))
    both = sign_own_slot(relayed, maker)
    assert both.signatures[1] == user_signed.signatures[1]
    assert both.verify_with_results() == [True, True]
    assert_swap_landed(svm, both, maker, user)


def test_a_half_signed_swap_is_refused_by_the_runtime(
    svm: LiteSVM, maker: Keypair, user: Keypair
) -> None:
    user_signed = sign_own_slot(rfq_swap(svm, maker, user), user)
    result = svm.send_transaction(user_signed)
    assert type(result).__name__ == "FailedTransactionMetadata"


def test_user_as_fee_payer_signs_alone(svm: LiteSVM, user: Keypair) -> None:
    recipient = Pubkey.from_string("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin")
    leg = transfer(TransferParams(from_pubkey=user.pubkey(), to_pubkey=recipient, lamports=SOL))
    message = MessageV0.try_compile(user.pubkey(), [leg], [], svm.latest_blockhash())
    tx = VersionedTransaction.populate(message, [Signature.default()])
    signed = sign_own_slot(tx, user)
    assert signed.verify_with_results() == [True]
    before = svm.get_balance(user.pubkey())
    assert type(svm.send_transaction(signed)).__name__ == "TransactionMetadata"
    assert svm.get_balance(user.pubkey()) == before - SOL - FEE
    assert svm.get_balance(recipient) == SOL


def test_a_legacy_message_is_signed_too(svm: LiteSVM, user: Keypair) -> None:
    recipient = Keypair.from_seed(bytes([7]) * 32).pubkey()
    leg = transfer(TransferParams(from_pubkey=user.pubkey(), to_pubkey=recipient, lamports=SOL))
    message = Message.new_with_blockhash([leg], user.pubkey(), svm.latest_blockhash())
    signed = sign_own_slot(VersionedTransaction.populate(message, [Signature.default()]), user)
    assert signed.verify_with_results() == [True]
    assert type(svm.send_transaction(signed)).__name__ == "TransactionMetadata"


def test_a_key_that_is_not_a_required_signer_is_refused(
    svm: LiteSVM, maker: Keypair, user: Keypair
) -> None:
    tx = rfq_swap(svm, maker, user)
    stranger = Keypair.from_seed(bytes([3]) * 32)
    with pytest.raises(SigningError, match="not among the 2 required signer"):
        sign_own_slot(tx, stranger)
    # An account of the message that is not a signer (the System program) is refused as well.
    system = tx.message.account_keys[2]
    with pytest.raises(SigningError, match="not among"):
        signer_index(tx, system)


class WrongKeySigner:
    """A broken vault: claims one key, signs with another."""

    def __init__(self, claimed: Keypair, actual: Keypair) -> None:
        self._claimed = claimed
        self._actual = actual

    def pubkey(self) -> Pubkey:
        return self._claimed.pubkey()

    def sign_message(self, message: bytes) -> Signature:
        return self._actual.sign_message(message)


def test_a_signature_that_does_not_verify_is_never_placed(
    svm: LiteSVM, maker: Keypair, user: Keypair
) -> None:
    tx = rfq_swap(svm, maker, user)
    broken = WrongKeySigner(user, Keypair.from_seed(bytes([4]) * 32))
    with pytest.raises(SigningError, match="does not verify") as caught:
        sign_own_slot(tx, broken)
    assert str(Keypair.from_seed(bytes([4]) * 32)) not in str(caught.value)


def test_slot_count_must_match_the_required_signers(
    svm: LiteSVM, maker: Keypair, user: Keypair
) -> None:
    message = rfq_swap(svm, maker, user).message
    short = VersionedTransaction.populate(message, [Signature.default()])
    with pytest.raises(SigningError, match="1 signature slot"):
        sign_own_slot(short, user)


def test_errors_never_carry_the_secret_key(svm: LiteSVM, maker: Keypair, user: Keypair) -> None:
    stranger = Keypair.from_seed(bytes([5]) * 32)
    with pytest.raises(SigningError) as caught:
        sign_own_slot(rfq_swap(svm, maker, user), stranger)
    message = str(caught.value)
    assert str(stranger) not in message  # str(keypair) is the base58 secret
    assert "\n" not in message


def test_keypair_is_a_signer() -> None:
    assert isinstance(Keypair(), Signer)
    assert not isinstance(Hash.default(), Signer)


def test_a_remembered_verification_is_keyed_by_signature_key_and_bytes(user: Keypair) -> None:
    payload = b"versioned message bytes"
    signature = user.sign_message(payload)
    other = Keypair.from_seed(bytes([6]) * 32)
    for _ in range(2):  # the second round answers from memory, and must answer the same
        assert verifies(signature, user.pubkey(), payload)
        assert not verifies(signature, user.pubkey(), payload + b"!")
        assert not verifies(signature, other.pubkey(), payload)
        assert not verifies(other.sign_message(payload), user.pubkey(), payload)
