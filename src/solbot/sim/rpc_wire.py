"""The JSON-RPC wire format of the sim's Solana RPC: errors and their texts, parameter checks,
transaction decoding with agave's limits, the fee of a message, and the UI encodings of
accounts and transactions. No state: `rpc_methods` answers with these, `rpc_server` carries
them (shapes and their sources: `rpc_methods`' docstring)."""

from __future__ import annotations

import base64
import contextlib
import json
from decimal import Decimal
from typing import Any

import base58
from solders.hash import Hash
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import TokenAccountState
from solders.transaction import VersionedTransaction
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from solbot.chain.builders import SIGNATURE_FEE
from solbot.sim.ledger import SimLedger
from solbot.sim.ledger_outcomes import TxOutcome

SOLANA_CORE_VERSION = "2.2.0"  # what getVersion reports; also the context's apiVersion
LAMPORTS_PER_SIGNATURE = SIGNATURE_FEE
PACKET_DATA_SIZE = 1_232
MAX_BASE58_SIZE = 1_683
MAX_BASE64_SIZE = 1_644
MAX_LEGACY_BASE58_DATA = 128
RENT_EXEMPT_RENT_EPOCH = 2**64 - 1
COMMITMENTS = {"processed": 0, "confirmed": 1, "finalized": 2}

_VERSIONED_TX = "solana_transaction::versioned::VersionedTransaction"

# Transaction and instruction errors' Display texts (agave `solana-transaction-error` and
# `solana-instruction`), for the -32002 message; others fall back to their variant name.
_TX_ERROR_TEXT = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InvalidProgramForExecution": "This program may not be used for executing instructions",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "TooManyAccountLocks": "Transaction locked too many accounts",
    "UnsupportedVersion": "Transaction version is unsupported",
    "InvalidRentPayingAccount": (
        "Transaction leaves an account with a lower balance than rent-exempt minimum"
    ),
}
_IX_ERROR_TEXT = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "NotEnoughAccountKeys": "insufficient account keys for instruction",
    "IllegalOwner": "Provided owner is not allowed",
    "ProgramFailedToComplete": "Program failed to complete",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
}


# Programs whose instructions count 3,000 compute units (not 200,000) towards the default limit
# that prices a priority fee when no SetComputeUnitLimit is given; checked against LiteSVM.
_COMPUTE_BUDGET = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
_ED25519 = Pubkey.from_string("Ed25519SigVerify111111111111111111111111111")
_SECP256K1 = Pubkey.from_string("KeccakSecp256k11111111111111111111111111111")
_SECP256R1 = Pubkey.from_string("Secp256r1SigVerify1111111111111111111111111")
_PRECOMPILES = {_ED25519, _SECP256K1, _SECP256R1}
_BUILTINS = {
    Pubkey.from_string("11111111111111111111111111111111"),
    _COMPUTE_BUDGET,
    Pubkey.from_string("BPFLoader1111111111111111111111111111111111"),
    Pubkey.from_string("BPFLoader2111111111111111111111111111111111"),
    Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111"),
    *_PRECOMPILES,
}
_BUILTIN_UNITS = 3_000
_DEFAULT_UNITS = 200_000
_MAX_UNITS = 1_400_000


# ---------------------------------------------------------------------------------- errors
class RpcError(Exception):
    """A JSON-RPC error to answer (code, message, optional data)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcError:
    return RpcError(-32602, message)


def error_value(text: str) -> Any:
    """The ledger's error text back into the RPC's JSON (`"Name"` or `{"Variant": ...}`)."""
    return json.loads(text) if text.startswith("{") else text


def error_display(err: Any) -> str:
    """A transaction error's Display text, as agave puts it in the -32002 message."""
    if isinstance(err, str):
        return _TX_ERROR_TEXT.get(err, err)
    if isinstance(err, dict) and "InstructionError" in err:
        index, inner = err["InstructionError"]
        if isinstance(inner, dict) and "Custom" in inner:
            text = f"custom program error: {inner['Custom']:#x}"
        elif isinstance(inner, str):
            text = _IX_ERROR_TEXT.get(inner, inner)
        else:
            text = json.dumps(inner)
        return f"Error processing Instruction {index}: {text}"
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        index = err["InsufficientFundsForRent"]["account_index"]
        return f"Transaction results in an account ({index}) with insufficient funds for rent"
    return json.dumps(err)


# ---------------------------------------------------------------------------------- base58
def b58encode(data: bytes) -> str:
    return base58.b58encode(data).decode("ascii")


def b58decode(text: str) -> bytes:
    """`ValueError` naming the character for text that is not base58."""
    return base58.b58decode(text)


# ---------------------------------------------------------------------------------- helpers
def param(params: list[Any], index: int, name: str) -> Any:
    if index >= len(params):
        raise invalid_params(f"Invalid params: missing field `{name}`.")
    return params[index]


def config_param(params: list[Any], index: int) -> dict[str, Any]:
    value = params[index] if index < len(params) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params(f"Invalid params: invalid type: {value!r}, expected a config map.")
    return value


def pubkey_param(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (ValueError, TypeError):
        raise invalid_params("Invalid param: Invalid") from None


def signature_param(value: Any) -> Signature:
    try:
        return Signature.from_string(value)
    except (ValueError, TypeError):
        raise invalid_params("Invalid param: Invalid") from None


def u64(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise invalid_params(f"Invalid params: invalid value for `{name}`, expected u64.")
    return value


def ui_amount(amount: int, decimals: int) -> dict[str, Any]:
    """`tokenAmount` as agave writes it: raw string, decimals, float, trimmed decimal string."""
    exact = Decimal(amount).scaleb(-decimals)
    text = format(exact, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(exact),
        "uiAmountString": text,
    }


def decode_transaction(encoded: Any, encoding: str) -> tuple[bytes, VersionedTransaction]:
    """agave's `decode_and_deserialize`: size limits first, then decoding, then parsing."""
    if not isinstance(encoded, str):
        raise invalid_params("Invalid params: invalid type, expected a string.")
    if encoding == "base58":
        if len(encoded) > MAX_BASE58_SIZE:
            raise invalid_params(
                f"base58 encoded {_VERSIONED_TX} too large: {len(encoded)} bytes "
                f"(max: encoded/raw {MAX_BASE58_SIZE}/{PACKET_DATA_SIZE})"
            )
        try:
            wire = b58decode(encoded)
        except ValueError as exc:
            raise invalid_params(f"invalid base58 encoding: {exc}") from None
    elif encoding == "base64":
        if len(encoded) > MAX_BASE64_SIZE:
            raise invalid_params(
                f"base64 encoded {_VERSIONED_TX} too large: {len(encoded)} bytes "
                f"(max: encoded/raw {MAX_BASE64_SIZE}/{PACKET_DATA_SIZE})"
            )
        try:
            wire = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise invalid_params(f"invalid base64 encoding: {exc}") from None
    else:
        raise invalid_params(
            f"Invalid params: unsupported encoding: {encoding}. Supported encodings: base58, base64"
        )
    if len(wire) > PACKET_DATA_SIZE:
        raise invalid_params(
            f"decoded {_VERSIONED_TX} too large: {len(wire)} bytes (max: {PACKET_DATA_SIZE} bytes)"
        )
    try:
        tx = VersionedTransaction.from_bytes(wire)
    except ValueError as exc:
        raise invalid_params(f"failed to deserialize {_VERSIONED_TX}: {exc}") from None
    return wire, tx


def compute_unit_price(message: Message | MessageV0) -> int:
    """The priority fee a message bids: micro-lamports per compute unit (0 without one)."""
    return _compute_budget(message)[0]


def message_fee(message: Message | MessageV0) -> int:
    """What the runtime charges for a message: 5,000 lamports per signature (precompile ones
    included) plus the priority fee, price × compute-unit limit (rounded up)."""
    price, units, signatures = _compute_budget(message)
    return signatures * LAMPORTS_PER_SIGNATURE + (price * units + 999_999) // 1_000_000


def _compute_budget(message: Message | MessageV0) -> tuple[int, int, int]:
    """(unit price, unit limit, signatures) as the runtime reads them from the instructions."""
    keys = message.account_keys
    signatures = message.header.num_required_signatures
    price = 0
    limit: int | None = None
    default_limit = 0
    for ix in message.instructions:
        program = keys[ix.program_id_index]
        data = bytes(ix.data)
        if program == _COMPUTE_BUDGET and data[:1] == b"\x02" and len(data) >= 5:
            limit = int.from_bytes(data[1:5], "little")
        elif program == _COMPUTE_BUDGET and data[:1] == b"\x03" and len(data) >= 9:
            price = int.from_bytes(data[1:9], "little")
        if program in _PRECOMPILES and data:
            signatures += data[0]
        default_limit += _BUILTIN_UNITS if program in _BUILTINS else _DEFAULT_UNITS
    units = min(limit if limit is not None else default_limit, _MAX_UNITS)
    return price, units, signatures


def writable_flags(message: Message | MessageV0) -> list[bool]:
    """Whether each static account key is locked writable: the header's sections, with a key
    called as a program demoted to read-only (as the runtime does)."""
    header = message.header
    keys = message.account_keys
    signed = header.num_required_signatures
    writable_signed = signed - header.num_readonly_signed_accounts
    writable_unsigned_end = len(keys) - header.num_readonly_unsigned_accounts
    programs = {message.account_keys[ix.program_id_index] for ix in message.instructions}
    return [
        (i < writable_signed or signed <= i < writable_unsigned_end) and key not in programs
        for i, key in enumerate(keys)
    ]


def context_of(ledger: SimLedger, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """An answer's `context` (its slot), refusing a `minContextSlot` not reached yet (-32016)."""
    min_slot = (config or {}).get("minContextSlot")
    if min_slot is not None and u64(min_slot, "minContextSlot") > ledger.slot:
        raise RpcError(
            -32016,
            "Minimum context slot has not been reached",
            {"contextSlot": ledger.slot},
        )
    return {"slot": ledger.slot, "apiVersion": SOLANA_CORE_VERSION}


def signature_failure() -> RpcError:
    """agave's -32003: a transaction whose signatures do not verify, refused before preflight."""
    return RpcError(-32003, "Transaction signature verification failure")


def token_state(state: TokenAccountState) -> str:
    if state == TokenAccountState.Initialized:
        return "initialized"
    return "frozen" if state == TokenAccountState.Frozen else "uninitialized"


def optional_key(key: Pubkey | None) -> str | None:
    return None if key is None else str(key)


def encode_data(raw: bytes, encoding: str) -> Any:
    if encoding in ("base64", "jsonParsed"):
        return [base64.b64encode(raw).decode(), "base64"]
    if encoding in ("binary", "base58"):
        if len(raw) > MAX_LEGACY_BASE58_DATA:
            raise RpcError(
                -32600,
                "Encoded binary (base 58) data should be less than 128 bytes, please use "
                "Base64 encoding.",
            )
        return b58encode(raw) if encoding == "binary" else [b58encode(raw), "base58"]
    raise invalid_params(
        f"Invalid params: unsupported encoding `{encoding}` (the sim offers base58, base64 and "
        "jsonParsed)."
    )


def simulation_value(outcome: TxOutcome, err: Any) -> dict[str, Any]:
    """`RpcSimulateTransactionResult` (the -32002 `data` and the simulate `value`)."""
    executed = outcome.fee > 0
    return {
        "err": err,
        "logs": list(outcome.logs),
        "accounts": None,
        "unitsConsumed": outcome.units,
        "loadedAccountsDataSize": None,
        "returnData": None,
        "innerInstructions": None,
        "replacementBlockhash": None,
        "fee": outcome.fee if executed else None,
        "preBalances": None,
        "postBalances": None,
        "preTokenBalances": None,
        "postTokenBalances": None,
        "loadedAddresses": None,
    }


def with_blockhash(message: Message | MessageV0, blockhash: Hash) -> Message | MessageV0:
    if isinstance(message, MessageV0):
        return MessageV0(
            message.header, message.account_keys, blockhash, message.instructions,
            message.address_table_lookups,
        )  # fmt: skip
    return Message.new_with_compiled_instructions(
        message.header.num_required_signatures,
        message.header.num_readonly_signed_accounts,
        message.header.num_readonly_unsigned_accounts,
        message.account_keys,
        blockhash,
        message.instructions,
    )


def ui_transaction(tx: VersionedTransaction, encoding: str) -> Any:
    if encoding == "base64":
        return [base64.b64encode(bytes(tx)).decode(), "base64"]
    if encoding == "base58":
        return [b58encode(bytes(tx)), "base58"]
    if encoding != "json":
        raise invalid_params(
            f"Invalid params: unsupported encoding `{encoding}` (the sim offers json, "
            "jsonParsed, base58 and base64)."
        )
    message = tx.message
    header = message.header
    ui_message: dict[str, Any] = {
        "header": {
            "numRequiredSignatures": header.num_required_signatures,
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
        },
        "accountKeys": [str(key) for key in message.account_keys],
        "recentBlockhash": str(message.recent_blockhash),
        "instructions": [
            {
                "programIdIndex": ix.program_id_index,
                "accounts": list(bytes(ix.accounts)),
                "data": b58encode(bytes(ix.data)),
                "stackHeight": None,
            }
            for ix in message.instructions
        ],
    }
    return ui_envelope(tx, ui_message)


def ui_envelope(tx: VersionedTransaction, ui_message: dict[str, Any]) -> dict[str, Any]:
    """A UI transaction: the signatures, and the message with a v0 message's lookup tables."""
    message = tx.message
    if isinstance(message, MessageV0):
        ui_message["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
            }
            for lookup in message.address_table_lookups
        ]
    return {"signatures": [str(sig) for sig in tx.signatures], "message": ui_message}


def error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.body(), "id": request_id}


def notification(method: str, subscription: int, result: Any) -> str:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "method": method,
            "params": {"result": result, "subscription": subscription},
        }
    )


async def send_text(connection: ServerConnection, text: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await connection.send(text)
