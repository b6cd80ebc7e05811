"""Instructions and transactions the bot builds itself (transfers, withdrawals, account set-up).

Swaps come ready-built from the venue; everything else is built here, from solders' and
solana-py's instruction helpers only: the instruction data is never encoded by hand, so a layout
change in a program's client library cannot silently produce a different instruction.

Amounts are integers (lamports, token atoms) and are checked to fit a u64 before anything is
built, because the helpers would otherwise fail late with an opaque packing error.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1
MAX_COMPUTE_UNITS = 1_400_000  # the runtime's ceiling for one transaction
SIGNATURE_FEE = 5_000  # lamports per signature, before any priority fee
BLOCKHASH_VALIDITY_BLOCKS = 150  # a blockhash is accepted until its block height + this
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")  # SPL Memo v2
MAX_MEMO_BYTES = 566  # what fits in a transaction beside a transfer; the memo program checks UTF-8


def _check_amount(name: str, value: int, ceiling: int = U64_MAX) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= ceiling:
        raise ValueError(f"{name} must be between 0 and {ceiling}, got {value}")


def sol_transfer(source: Pubkey, destination: Pubkey, lamports: int) -> Instruction:
    """Move `lamports` from `source` (a signer) to `destination` (System program)."""
    _check_amount("lamports", lamports)
    return transfer(TransferParams(from_pubkey=source, to_pubkey=destination, lamports=lamports))


@functools.lru_cache(maxsize=1 << 15)
def associated_token_address(
    owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Pubkey:
    """The owner's associated token account for `mint` (where wallets look for a balance).

    Remembered: the derivation searches for a program address with SHA-256 (~20 µs), and an
    order asks for the same few addresses a dozen times (quote, balances, settlement).
    """
    return get_associated_token_address(owner, mint, token_program)


def create_associated_token_account(
    payer: Pubkey, owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    """Create `owner`'s associated token account for `mint` if it is missing (idempotent).

    The idempotent form succeeds when the account already exists, so a transfer can always
    carry it without a prior lookup, and a re-built transaction does not fail for a race.
    """
    return create_idempotent_associated_token_account(payer, owner, mint, token_program)


def token_transfer_checked(
    owner: Pubkey,
    destination_owner: Pubkey,
    mint: Pubkey,
    amount: int,
    decimals: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """Move `amount` atoms of `mint` from `owner`'s associated token account to
    `destination_owner`'s.

    The checked form makes the token program verify the mint and its decimals, so a wrong token
    or a decimals mix-up fails on chain instead of moving a wrong amount.
    """
    _check_amount("amount", amount)
    _check_amount("decimals", decimals, 255)
    return transfer_checked(
        TransferCheckedParams(
            program_id=token_program,
            source=associated_token_address(owner, mint, token_program),
            mint=mint,
            dest=associated_token_address(destination_owner, mint, token_program),
            owner=owner,
            amount=amount,
            decimals=decimals,
        )
    )


def memo(text: str) -> Instruction:
    """An SPL Memo with no signer accounts: it only puts `text` in the transaction (and its
    logs). No extra fee: fees are per signature."""
    data = text.encode()
    if not data or len(data) > MAX_MEMO_BYTES:
        raise ValueError(f"a memo holds 1 to {MAX_MEMO_BYTES} bytes, got {len(data)}")
    return Instruction(MEMO_PROGRAM_ID, data, [])


def compute_unit_limit(units: int) -> Instruction:
    """Cap the compute units the transaction may use (a lower cap makes the priority fee cheaper:
    the fee is price × limit, not price × used)."""
    _check_amount("units", units, MAX_COMPUTE_UNITS)
    return set_compute_unit_limit(units)


def compute_unit_price(micro_lamports: int) -> Instruction:
    """Priority fee: micro-lamports paid per compute unit of the limit."""
    _check_amount("micro_lamports", micro_lamports)
    return set_compute_unit_price(micro_lamports)


def build_message(payer: Pubkey, instructions: Sequence[Instruction], blockhash: Hash) -> MessageV0:
    """A v0 message paid by `payer` (no address lookup tables)."""
    if not instructions:
        raise ValueError("a transaction needs at least one instruction")
    return MessageV0.try_compile(payer, list(instructions), [], blockhash)


def build_transaction(
    payer: Pubkey,
    instructions: Sequence[Instruction],
    blockhash: Hash,
    signers: Sequence[Keypair],
) -> VersionedTransaction:
    """A signed v0 transaction. `signers` must be exactly the message's required signers.

    Raises `ValueError` naming the missing or unexpected signers (public keys only), which is
    clearer than solders' bare "not enough signers".
    """
    message = build_message(payer, instructions, blockhash)
    required = list(message.account_keys[: message.header.num_required_signatures])
    given = [signer.pubkey() for signer in signers]
    missing = [str(key) for key in required if key not in given]
    extra = [str(key) for key in given if key not in required]
    if missing or extra:
        raise ValueError(f"signers do not match the message: missing {missing}, extra {extra}")
    return VersionedTransaction(message, list(signers))
