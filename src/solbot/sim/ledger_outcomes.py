"""What the sim ledger says happened to a transaction: its outcome and record, a refusal
before execution, and the runtime's errors rendered in the JSON the Solana RPC uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata
from solders.transaction_status import (
    InstructionErrorBorshIO,
    InstructionErrorCustom,
    InstructionErrorFieldless,
    TransactionErrorDuplicateInstruction,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
    TransactionErrorInsufficientFundsForRent,
    TransactionErrorProgramExecutionTemporarilyRestricted,
)

from solbot.chain.port import TokenHolding

__all__ = [
    "Executed",
    "RejectedError",
    "TokenBalance",
    "TxOutcome",
    "TxRecord",
    "error_json",
    "error_text",
    "outcome_of",
    "status_from_row",
    "status_row",
]


@dataclass(frozen=True, slots=True)
class TxOutcome:
    """What happened to a transaction: landed (err None) or failed, in which slot, at what fee."""

    signature: Signature
    slot: int
    err: str | None
    fee: int
    logs: tuple[str, ...]
    units: int = 0  # compute units consumed

    @property
    def ok(self) -> bool:
        return self.err is None


@dataclass(frozen=True, slots=True)
class TokenBalance:
    """A token account among a transaction's (static) account keys: its index there, its token
    program, and whose it is, of what mint, holding how much (`preTokenBalances` rows)."""

    index: int
    program: Pubkey
    holding: TokenHolding


@dataclass(frozen=True, slots=True)
class TxRecord:
    """A processed transaction as `getTransaction` reports it: the transaction, its outcome, the
    block time, and the lamports and token balances of its (static) account keys before and
    after."""

    transaction: VersionedTransaction
    outcome: TxOutcome
    block_time: int
    pre_balances: tuple[int, ...]
    post_balances: tuple[int, ...]
    seq: int = 0  # its number among every transaction this world processed (1, 2, ...)
    pre_tokens: tuple[TokenBalance, ...] = ()
    post_tokens: tuple[TokenBalance, ...] = ()


@dataclass(frozen=True, slots=True)
class Executed:
    """What the SBF thread brings back from one `send_transaction`."""

    signature: Signature
    result: TransactionMetadata | FailedTransactionMetadata
    committed: bool  # in the ledger's history (landed, whether or not the program failed)
    pre: tuple[int, ...]
    post: tuple[int, ...]
    pre_tokens: tuple[TokenBalance, ...]
    post_tokens: tuple[TokenBalance, ...]
    # The new contents of the accounts it wrote (base64 of the account, None once closed),
    # for the journal; empty when no journal is attached.
    accounts: tuple[tuple[str, str | None], ...] = ()


class RejectedError(Exception):
    """The cluster refused the transaction before executing it (no fee, nothing recorded).

    `reason` is the runtime's error name, e.g. `BlockhashNotFound`, `AlreadyProcessed`.
    """

    def __init__(self, reason: str, logs: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.logs = logs


def outcome_of(done: Executed, slot: int) -> TxOutcome:
    """What a transaction's execution amounts to, in `slot`."""
    result = done.result
    if isinstance(result, FailedTransactionMetadata):
        meta = result.meta()
        return TxOutcome(
            done.signature, slot, error_text(result.err()), meta.fee(), tuple(meta.logs()),
            meta.compute_units_consumed(),
        )  # fmt: skip
    return TxOutcome(
        done.signature, slot, None, result.fee(), tuple(result.logs()),
        result.compute_units_consumed(),
    )  # fmt: skip


def status_row(outcome: TxOutcome) -> list[Any]:
    """A status as the snapshot and the journal keep it (no logs)."""
    return [str(outcome.signature), outcome.slot, outcome.err, outcome.fee, outcome.units]


def status_from_row(row: list[Any]) -> TxOutcome:
    signature, slot, err, fee, units = row
    return TxOutcome(Signature.from_string(signature), int(slot), err, int(fee), (), int(units))


def error_text(err: object) -> str:
    """A runtime error as text: its name when it has no fields (`BlockhashNotFound`), else the
    compact JSON the RPC answers (`{"InstructionError":[0,{"Custom":1}]}`)."""
    value = error_json(err)
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def error_json(err: object) -> str | dict[str, Any]:
    """A solders `TransactionErrorType` in the JSON the Solana RPC uses (serde's externally tagged
    form of agave's `TransactionError`); solders' own `to_json` drops the variant tags."""
    if isinstance(err, TransactionErrorFieldless):
        return str(err).rsplit(".", 1)[-1]
    if isinstance(err, TransactionErrorInstructionError):
        return {"InstructionError": [err.index, _instruction_error_json(err.err)]}
    if isinstance(err, TransactionErrorInsufficientFundsForRent):
        return {"InsufficientFundsForRent": {"account_index": err.account_index}}
    if isinstance(err, TransactionErrorProgramExecutionTemporarilyRestricted):
        return {"ProgramExecutionTemporarilyRestricted": {"account_index": err.account_index}}
    if isinstance(err, TransactionErrorDuplicateInstruction):
        return {"DuplicateInstruction": err.index}
    return str(err)


def _instruction_error_json(err: object) -> Any:
    if isinstance(err, InstructionErrorCustom):
        return {"Custom": err.code}
    if isinstance(err, InstructionErrorBorshIO):
        return {"BorshIoError": err.value}
    if isinstance(err, InstructionErrorFieldless):
        return str(err).rsplit(".", 1)[-1]
    return str(err)
