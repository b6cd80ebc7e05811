"""The sim network's Solana JSON-RPC server (HTTP, and WebSocket subscriptions on port + 1).

It puts a `SimLedger` (LiteSVM producing blocks on a `Clock`) behind the wire protocol a validator
speaks, so the real client code path (solana-py's `AsyncClient`, a wallet script, web3.js) runs
against the sim. Blocks advance on their own: a background task syncs the ledger to the clock a
few times a second, so slot, block height and blockhashes move with no traffic at all.

Shapes, and where they were checked (November 2026)
---------------------------------------------------
- Error codes, messages and `data` of the custom errors: agave `rpc-client-api/src/custom_error.rs`
  (-32002 `SendTransactionPreflightFailure` carries the simulation result as `data`; -32005
  `NodeUnhealthy` says "Node is behind by N slots" with `data: {numSlotsBehind}`; -32015
  unsupported transaction version; -32016 minimum context slot).
- `sendTransaction`: agave `rpc/src/rpc.rs`. Preflight (unless `skipPreflight`) simulates on the
  bank; a failure answers -32002 `"Transaction simulation failed: {err}"` where `{err}` is the
  error's Display text ("Blockhash not found", "Error processing Instruction 0: custom program
  error: 0x1", "This transaction has already been processed") and `data` is
  `{err, logs, accounts: null, unitsConsumed, returnData, ...}`; a bad signature is a preflight
  failure too (`SignatureFailure`). With `skipPreflight` nothing is checked: the signature is
  answered and a transaction the leader refuses (expired blockhash, duplicate, broke fee payer)
  simply never lands. Decoding limits (1683 base58 / 1644 base64 characters, 1232 bytes) and
  their -32602 messages are agave's `decode_and_deserialize`; base58 is the default encoding.
- `simulateTransaction` answers an expired blockhash or a duplicate as `value.err`, not as an
  RPC error (the bank's age and status-cache checks run inside the simulation).
- Method result shapes (`getSignatureStatuses` with `confirmations`/`confirmationStatus`/`status`,
  `getTokenAccountsByOwner` jsonParsed `tokenAmount` with `uiAmountString`, account objects with
  `space`, `signatureNotification` `{context: {slot}, value: {err}}` sent once then cancelled,
  `slotNotification` `{parent, root, slot}`): solana.com/docs/rpc (http and websocket pages) and
  Helius' websocket reference. Account data: the default encoding is legacy base58 as a bare
  string, refused above 128 bytes with -32600 "Encoded binary (base 58) data should be less than
  128 bytes, please use Base64 encoding."; jsonParsed falls back to base64 for unparsed owners.
- Every shape here is also parsed by solders' response types in the tests (through solana-py),
  which is what a Python client really depends on. One exception, a client bug: solders 0.29's
  websocket parser rejects a `signatureNotification` whose error has a nested tag
  (`{"InstructionError":[0,{"Custom":1}]}`, "a list or single element"), though it is what
  validators send; the HTTP parsers read it. Confirm failed transactions by polling statuses.

HTTP status of errors (a deliberate choice)
-------------------------------------------
The issue asks for errors with a non-2xx status. Real clients cannot read a JSON-RPC error sent
that way: solana-py 0.41 calls `raise_for_status()` before parsing (`async_http_provider.py`), so
it raises `SolanaRpcException` and the -32002 logs are lost; web3.js turns any non-OK response
into `Error("<status> <text>: <body>")` and never builds its `SendTransactionError` with logs.
A validator (jsonrpc-http-server under agave) answers every JSON-RPC response, errors included,
with HTTP 200. So this server does the same for JSON-RPC errors (-32002, -32602, ...), and keeps
non-2xx for what is HTTP-level on a real node or its load balancer: 415 for a non-JSON content
type, 405 for a wrong HTTP method, 400 for a body that is not UTF-8, and the injected faults,
which answer 503 with a -32005 "Node is behind" body (what an RPC provider does when its node
falls behind). Every non-2xx answer carries a JSON-RPC error body as the issue asks (a
validator's own 415/405 bodies are plain text). The bot must survive both kinds, and the tests
check both.

Sim simplifications: one leader and no forks, so every commitment sees the same state; a block is
confirmed at once and finalized `FINALITY_SLOTS` later. Token-2022 accounts are served in base64
only (no jsonParsed), `base64+zstd` is not offered, `getTransaction` has no token balances and no
inner instructions, and address lookup tables are not resolved in its balances.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import math
import random
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import uvicorn
from solders.account import Account
from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0, from_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.state import Mint, TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction
from spl.token.constants import ACCOUNT_LEN, MINT_LEN, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed

from solbot.clock import Clock
from solbot.sim.ledger import (
    FINALITY_SLOTS,
    RejectedError,
    SimLedger,
    TxOutcome,
    new_keypair_from_seed,
)

log = logging.getLogger(__name__)

SOLANA_CORE_VERSION = "2.2.0"  # what getVersion reports; also the context's apiVersion
FEATURE_SET = 3_294_202_862
GENESIS_HASH = Hash(hashlib.sha256(b"solbot sim network").digest())  # not mainnet's: a sim
SLOTS_PER_EPOCH = 432_000
LAMPORTS_PER_SIGNATURE = 5_000
MAX_SIGNATURE_STATUSES = 256
STATUS_CACHE_SLOTS = 300  # MAX_RECENT_BLOCKHASHES: statuses searchable without history
PACKET_DATA_SIZE = 1_232
MAX_BASE58_SIZE = 1_683
MAX_BASE64_SIZE = 1_644
MAX_LEGACY_BASE58_DATA = 128
DEFAULT_TICK_HZ = 5.0

_VERSIONED_TX = "solana_transaction::versioned::VersionedTransaction"
_COMMITMENTS = {"processed": 0, "confirmed": 1, "finalized": 2}
_FAUCET_SEED = b"solbot sim faucet"
_FAUCET_FLOAT = 1_000_000_000  # lamports the faucet keeps, so it never falls below rent exemption
_AIRDROP_UNITS = 10_000

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


# ---------------------------------------------------------------------------------- faults
@dataclass(frozen=True, slots=True)
class Faults:
    """Misbehaviour to inject, for the bot's resilience tests (all off by default).

    - `drop_rate`: share of `sendTransaction` calls answered with the signature but never
      executed, as a congested leader drops packets.
    - `error_rate`: share of HTTP calls (any method) answered HTTP 503 with a -32005
      "Node is behind" JSON-RPC error, as a provider whose node fell behind.
    - `latency` + uniform `latency_jitter`: seconds (wall time) added before each HTTP answer.
    - `seed`: the random draws are seeded, so a run is repeatable.
    """

    drop_rate: float = 0.0
    error_rate: float = 0.0
    latency: float = 0.0
    latency_jitter: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop_rate", "error_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("latency", "latency_jitter"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")


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


def _invalid_params(message: str) -> RpcError:
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
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {char: index for index, char in enumerate(_B58)}


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, digit = divmod(number, 58)
        out.append(_B58[digit])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _B58_INDEX:
            raise ValueError(f"invalid base58 character {char!r}")
        number = number * 58 + _B58_INDEX[char]
    pad = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * pad + body


# ---------------------------------------------------------------------------------- helpers
def _param(params: list[Any], index: int, name: str) -> Any:
    if index >= len(params):
        raise _invalid_params(f"Invalid params: missing field `{name}`.")
    return params[index]


def _config(params: list[Any], index: int) -> dict[str, Any]:
    value = params[index] if index < len(params) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid_params(f"Invalid params: invalid type: {value!r}, expected a config map.")
    return value


def _pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (ValueError, TypeError):
        raise _invalid_params("Invalid param: Invalid") from None


def _signature(value: Any) -> Signature:
    try:
        return Signature.from_string(value)
    except (ValueError, TypeError):
        raise _invalid_params("Invalid param: Invalid") from None


def _u64(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise _invalid_params(f"Invalid params: invalid value for `{name}`, expected u64.")
    return value


def _ui_amount(amount: int, decimals: int) -> dict[str, Any]:
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


def _encoded_tx(encoded: Any, encoding: str) -> tuple[bytes, VersionedTransaction]:
    """agave's `decode_and_deserialize`: size limits first, then decoding, then parsing."""
    if not isinstance(encoded, str):
        raise _invalid_params("Invalid params: invalid type, expected a string.")
    if encoding == "base58":
        if len(encoded) > MAX_BASE58_SIZE:
            raise _invalid_params(
                f"base58 encoded {_VERSIONED_TX} too large: {len(encoded)} bytes "
                f"(max: encoded/raw {MAX_BASE58_SIZE}/{PACKET_DATA_SIZE})"
            )
        try:
            wire = b58decode(encoded)
        except ValueError as exc:
            raise _invalid_params(f"invalid base58 encoding: {exc}") from None
    elif encoding == "base64":
        if len(encoded) > MAX_BASE64_SIZE:
            raise _invalid_params(
                f"base64 encoded {_VERSIONED_TX} too large: {len(encoded)} bytes "
                f"(max: encoded/raw {MAX_BASE64_SIZE}/{PACKET_DATA_SIZE})"
            )
        try:
            wire = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise _invalid_params(f"invalid base64 encoding: {exc}") from None
    else:
        raise _invalid_params(
            f"Invalid params: unsupported encoding: {encoding}. Supported encodings: base58, base64"
        )
    if len(wire) > PACKET_DATA_SIZE:
        raise _invalid_params(
            f"decoded {_VERSIONED_TX} too large: {len(wire)} bytes (max: {PACKET_DATA_SIZE} bytes)"
        )
    try:
        tx = VersionedTransaction.from_bytes(wire)
    except ValueError as exc:
        raise _invalid_params(f"failed to deserialize {_VERSIONED_TX}: {exc}") from None
    return wire, tx


def message_fee(message: Message | MessageV0) -> int:
    """What the runtime charges for a message: 5,000 lamports per signature (precompile ones
    included) plus the priority fee, price × compute-unit limit (rounded up)."""
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
    return signatures * LAMPORTS_PER_SIGNATURE + (price * units + 999_999) // 1_000_000


# ---------------------------------------------------------------------------------- the methods
@dataclass
class _SignatureSubscription:
    connection: ServerConnection
    signature: Signature
    commitment: str
    received: bool  # enableReceivedNotification


@dataclass
class SimRpc:
    """The JSON-RPC methods over a ledger and a clock, independent of the transport.

    Everything runs on one event loop (the ledger is not thread-safe): request handlers, the
    block ticker and the WebSocket notifications.
    """

    ledger: SimLedger
    clock: Clock
    faults: Faults = field(default_factory=Faults)
    _rng: random.Random = field(init=False)
    _faucet: Keypair = field(init=False)
    _next_subscription: int = field(init=False, default=0)
    _signature_subs: dict[int, _SignatureSubscription] = field(init=False, default_factory=dict)
    _slot_subs: dict[int, ServerConnection] = field(init=False, default_factory=dict)
    _notified_slot: int = field(init=False, default=0)
    _outbox: list[tuple[ServerConnection, str]] = field(init=False, default_factory=list)
    _airdrops: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed)
        self._faucet = new_keypair_from_seed(_FAUCET_SEED)
        self._notified_slot = self.ledger.slot

    # ------------------------------------------------------------------ dispatch
    def sync(self) -> None:
        """Bring the ledger up to the clock (blocks, blockhashes, expiry)."""
        self.ledger.advance_to(self.clock.now())

    def draw(self) -> float:
        """One seeded random draw in [0, 1) (fault decisions, in request order)."""
        return self._rng.random()

    async def handle(self, payload: Any) -> Any:
        """One JSON-RPC request or a batch; returns the response (None for notifications)."""
        if isinstance(payload, list):
            if not payload:
                return _error_response(None, RpcError(-32600, "Invalid request"))
            answers = [await self._handle_one(item) for item in payload]
            return [answer for answer in answers if answer is not None]
        return await self._handle_one(payload)

    async def _handle_one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error_response(None, RpcError(-32600, "Invalid request"))
        request_id = request.get("id")
        method = self._methods().get(request["method"])
        if method is None:
            return _error_response(request_id, RpcError(-32601, "Method not found"))
        params = request.get("params", [])
        if params is None:
            params = []
        if not isinstance(params, list):
            return _error_response(request_id, _invalid_params("Invalid params: expected array"))
        self.sync()
        try:
            result = method(params)
        except RpcError as exc:
            response = _error_response(request_id, exc)
        except Exception:  # a bug here must not become a bare HTTP 500 without a JSON body
            log.exception("sim rpc: %s failed", request["method"])
            response = _error_response(request_id, RpcError(-32603, "Internal error"))
        else:
            response = {"jsonrpc": "2.0", "result": result, "id": request_id}
        await self.notify()
        return response if "id" in request else None

    def _methods(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {
            "getAccountInfo": self.get_account_info,
            "getBalance": self.get_balance,
            "getBlockHeight": lambda _params: self.ledger.block_height,
            "getEpochInfo": self.get_epoch_info,
            "getFeeForMessage": self.get_fee_for_message,
            "getGenesisHash": lambda _params: str(GENESIS_HASH),
            "getHealth": lambda _params: "ok",
            "getLatestBlockhash": self.get_latest_blockhash,
            "getMinimumBalanceForRentExemption": self.get_minimum_balance_for_rent_exemption,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getSignatureStatuses": self.get_signature_statuses,
            "getSlot": lambda _params: self.ledger.slot,
            "getTokenAccountBalance": self.get_token_account_balance,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getTransaction": self.get_transaction,
            "getVersion": lambda _params: {
                "solana-core": SOLANA_CORE_VERSION,
                "feature-set": FEATURE_SET,
            },
            "isBlockhashValid": self.is_blockhash_valid,
            "requestAirdrop": self.request_airdrop,
            "sendTransaction": self.send_transaction,
            "simulateTransaction": self.simulate_transaction,
        }

    def _context(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        min_slot = (config or {}).get("minContextSlot")
        if min_slot is not None and _u64(min_slot, "minContextSlot") > self.ledger.slot:
            raise RpcError(
                -32016,
                "Minimum context slot has not been reached",
                {"contextSlot": self.ledger.slot},
            )
        return {"slot": self.ledger.slot, "apiVersion": SOLANA_CORE_VERSION}

    # ------------------------------------------------------------------ accounts
    def get_balance(self, params: list[Any]) -> dict[str, Any]:
        owner = _pubkey(_param(params, 0, "pubkey"))
        context = self._context(_config(params, 1))
        return {"context": context, "value": self.ledger.balance(owner)}

    def get_account_info(self, params: list[Any]) -> dict[str, Any]:
        address = _pubkey(_param(params, 0, "pubkey"))
        config = _config(params, 1)
        context = self._context(config)
        account = self.ledger.account(address)
        value = None if account is None else self._ui_account(account, config)
        return {"context": context, "value": value}

    def get_multiple_accounts(self, params: list[Any]) -> dict[str, Any]:
        addresses = _param(params, 0, "pubkeys")
        if not isinstance(addresses, list) or len(addresses) > 100:
            raise _invalid_params("Too many inputs provided; max 100")
        config = _config(params, 1)
        context = self._context(config)
        values = []
        for text in addresses:
            account = self.ledger.account(_pubkey(text))
            values.append(None if account is None else self._ui_account(account, config))
        return {"context": context, "value": values}

    def _ui_account(self, account: Account, config: dict[str, Any]) -> dict[str, Any]:
        encoding = config.get("encoding", "binary")
        raw = bytes(account.data)
        data_slice = config.get("dataSlice")
        parsed = self._parsed_data(account) if encoding == "jsonParsed" else None
        if parsed is not None:
            data: Any = parsed
        else:
            if isinstance(data_slice, dict):
                offset = _u64(data_slice.get("offset", 0), "offset")
                raw = raw[offset : offset + _u64(data_slice.get("length", 0), "length")]
            data = _encode_data(raw, encoding)
        return {
            "data": data,
            "executable": account.executable,
            "lamports": account.lamports,
            "owner": str(account.owner),
            # Rent collection is gone and every account must be rent-exempt, so validators
            # answer u64::MAX (RENT_EXEMPT_RENT_EPOCH) for every account; LiteSVM keeps 0.
            "rentEpoch": RENT_EXEMPT_RENT_EPOCH,
            "space": len(account.data),
        }

    def _parsed_data(self, account: Account) -> dict[str, Any] | None:
        """jsonParsed for SPL Token accounts and mints; None means: fall back to base64."""
        if account.owner != TOKEN_PROGRAM_ID:
            return None
        data = bytes(account.data)
        if len(data) == MINT_LEN:
            mint = Mint.from_bytes(data)
            info: dict[str, Any] = {
                "decimals": mint.decimals,
                "freezeAuthority": _optional_key(mint.freeze_authority),
                "isInitialized": mint.is_initialized,
                "mintAuthority": _optional_key(mint.mint_authority),
                "supply": str(mint.supply),
            }
            kind = "mint"
        elif len(data) == ACCOUNT_LEN:
            state = TokenAccount.from_bytes(data)
            mint_account = self.ledger.account(state.mint)
            if mint_account is None or len(mint_account.data) != MINT_LEN:
                return None  # agave cannot parse without the mint's decimals either
            decimals = Mint.from_bytes(bytes(mint_account.data)).decimals
            info = {
                "isNative": state.is_native is not None,
                "mint": str(state.mint),
                "owner": str(state.owner),
                "state": _token_state(state.state),
                "tokenAmount": _ui_amount(state.amount, decimals),
            }
            if state.delegate is not None:
                info["delegate"] = str(state.delegate)
                info["delegatedAmount"] = _ui_amount(state.delegated_amount, decimals)
            if state.is_native is not None:
                info["rentExemptReserve"] = _ui_amount(state.is_native, decimals)
            if state.close_authority is not None:
                info["closeAuthority"] = str(state.close_authority)
            kind = "account"
        else:
            return None
        return {"program": "spl-token", "parsed": {"info": info, "type": kind}, "space": len(data)}

    def get_token_account_balance(self, params: list[Any]) -> dict[str, Any]:
        address = _pubkey(_param(params, 0, "pubkey"))
        context = self._context(_config(params, 1))
        account = self.ledger.account(address)
        if account is None:
            raise _invalid_params("Invalid param: could not find account")
        if account.owner != TOKEN_PROGRAM_ID or len(account.data) != ACCOUNT_LEN:
            raise _invalid_params("Invalid param: not a Token account")
        state = TokenAccount.from_bytes(bytes(account.data))
        mint_account = self.ledger.account(state.mint)
        if mint_account is None:
            raise _invalid_params("Invalid param: could not find mint")
        decimals = Mint.from_bytes(bytes(mint_account.data)).decimals
        return {"context": context, "value": _ui_amount(state.amount, decimals)}

    def get_token_accounts_by_owner(self, params: list[Any]) -> dict[str, Any]:
        owner = _pubkey(_param(params, 0, "pubkey"))
        selector = _param(params, 1, "filter")
        config = _config(params, 2)
        context = self._context(config)
        mint: Pubkey | None = None
        if isinstance(selector, dict) and "mint" in selector:
            mint = _pubkey(selector["mint"])
            mint_account = self.ledger.account(mint)
            if mint_account is None or mint_account.owner not in (
                TOKEN_PROGRAM_ID,
                TOKEN_2022_PROGRAM_ID,
            ):
                raise _invalid_params("Invalid param: could not find mint")
            program = mint_account.owner
        elif isinstance(selector, dict) and "programId" in selector:
            program = _pubkey(selector["programId"])
            if program not in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
                raise _invalid_params("Invalid param: unrecognized Token program id")
        else:
            raise _invalid_params("Invalid params: expected `mint` or `programId` filter.")
        accounts = self.ledger.token_accounts(owner, mint) if program == TOKEN_PROGRAM_ID else []
        value = [
            {"pubkey": str(address), "account": self._ui_account(account, config)}
            for address, account in accounts
        ]
        return {"context": context, "value": value}

    def get_minimum_balance_for_rent_exemption(self, params: list[Any]) -> int:
        size = _u64(_param(params, 0, "usize"), "usize")
        return int(self.ledger.svm.minimum_balance_for_rent_exemption(size))

    # ------------------------------------------------------------------ blocks
    def get_latest_blockhash(self, params: list[Any]) -> dict[str, Any]:
        context = self._context(_config(params, 0))
        blockhash, last_valid = self.ledger.latest_blockhash()
        return {
            "context": context,
            "value": {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid},
        }

    def is_blockhash_valid(self, params: list[Any]) -> dict[str, Any]:
        text = _param(params, 0, "blockhash")
        context = self._context(_config(params, 1))
        try:
            blockhash = Hash.from_string(text)
        except (ValueError, TypeError):
            raise _invalid_params("Invalid param: Invalid") from None
        return {"context": context, "value": self.ledger.is_blockhash_valid(blockhash)}

    def get_epoch_info(self, params: list[Any]) -> dict[str, Any]:
        self._context(_config(params, 0))
        slot = self.ledger.slot
        return {
            "absoluteSlot": slot,
            "blockHeight": self.ledger.block_height,
            "epoch": slot // SLOTS_PER_EPOCH,
            "slotIndex": slot % SLOTS_PER_EPOCH,
            "slotsInEpoch": SLOTS_PER_EPOCH,
            "transactionCount": None,
        }

    def get_fee_for_message(self, params: list[Any]) -> dict[str, Any]:
        encoded = _param(params, 0, "message")
        context = self._context(_config(params, 1))
        try:
            message = from_bytes_versioned(base64.b64decode(encoded, validate=True))
        except (ValueError, TypeError) as exc:
            raise _invalid_params(f"invalid base64 message: {exc}") from None
        if not self.ledger.is_blockhash_valid(message.recent_blockhash):
            return {"context": context, "value": None}
        return {"context": context, "value": message_fee(message)}

    # ------------------------------------------------------------------ transactions
    def send_transaction(self, params: list[Any]) -> str:
        config = _config(params, 1)
        _wire, tx = _encoded_tx(_param(params, 0, "transaction"), config.get("encoding", "base58"))
        self._context(config)
        signature = tx.signatures[0]
        if not config.get("skipPreflight", False):
            outcome = self._simulate(tx, sig_verify=True)
            if outcome.err is not None:
                err = error_value(outcome.err)
                raise RpcError(
                    -32002,
                    f"Transaction simulation failed: {error_display(err)}",
                    _simulation_value(outcome, err),
                )
        self._mark_received(signature)
        if self.faults.drop_rate and self.draw() < self.faults.drop_rate:
            log.debug("sim rpc: dropped %s (fault injection)", signature)
            return str(signature)
        try:
            self.ledger.send(tx)
        except RejectedError as exc:
            # A leader refuses it silently; the client learns only from the missing status.
            log.debug("sim rpc: %s refused by the leader: %s", signature, exc.reason)
        return str(signature)

    def _simulate(self, tx: VersionedTransaction, *, sig_verify: bool) -> TxOutcome:
        try:
            return self.ledger.simulate(tx, sig_verify=sig_verify)
        except RejectedError as exc:
            return TxOutcome(tx.signatures[0], self.ledger.slot, exc.reason, 0, exc.logs)

    def simulate_transaction(self, params: list[Any]) -> dict[str, Any]:
        config = _config(params, 1)
        _wire, tx = _encoded_tx(_param(params, 0, "transaction"), config.get("encoding", "base58"))
        context = self._context(config)
        sig_verify = bool(config.get("sigVerify", False))
        replace = bool(config.get("replaceRecentBlockhash", False))
        if sig_verify and replace:
            raise _invalid_params("sigVerify may not be used with replaceRecentBlockhash")
        replacement = None
        if replace:
            blockhash, last_valid = self.ledger.latest_blockhash()
            message = _with_blockhash(tx.message, blockhash)
            tx = VersionedTransaction.populate(message, tx.signatures)
            replacement = {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        outcome = self._simulate(tx, sig_verify=sig_verify)
        err = None if outcome.err is None else error_value(outcome.err)
        value = _simulation_value(outcome, err)
        value["replacementBlockhash"] = replacement
        accounts = config.get("accounts")
        if isinstance(accounts, dict) and isinstance(accounts.get("addresses"), list):
            # Post-simulation states are not exposed here: report the current ones on success,
            # nulls on failure (what agave answers for a failed simulation).
            value["accounts"] = [
                None
                if err is not None or (account := self.ledger.account(_pubkey(text))) is None
                else self._ui_account(account, {"encoding": accounts.get("encoding", "base64")})
                for text in accounts["addresses"]
            ]
        return {"context": context, "value": value}

    def get_signature_statuses(self, params: list[Any]) -> dict[str, Any]:
        texts = _param(params, 0, "signatures")
        if not isinstance(texts, list):
            raise _invalid_params("Invalid params: expected an array of signatures.")
        if len(texts) > MAX_SIGNATURE_STATUSES:
            raise _invalid_params(f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
        config = _config(params, 1)
        context = self._context(config)
        history = bool(config.get("searchTransactionHistory", False))
        values = []
        for text in texts:
            outcome = self.ledger.status(_signature(text))
            too_old = outcome is not None and self.ledger.slot - outcome.slot > STATUS_CACHE_SLOTS
            values.append(
                None if outcome is None or (too_old and not history) else self._status(outcome)
            )
        return {"context": context, "value": values}

    def _status(self, outcome: TxOutcome) -> dict[str, Any]:
        confirmation = self.ledger.confirmation(outcome)
        err = None if outcome.err is None else error_value(outcome.err)
        return {
            "slot": outcome.slot,
            "confirmations": None
            if confirmation == "finalized"
            else self.ledger.slot - outcome.slot,
            "err": err,
            "status": {"Ok": None} if err is None else {"Err": err},
            "confirmationStatus": confirmation,
        }

    def get_transaction(self, params: list[Any]) -> dict[str, Any] | None:
        signature = _signature(_param(params, 0, "signature"))
        config = params[1] if len(params) > 1 else None
        if isinstance(config, str):  # the deprecated form: an encoding name
            config = {"encoding": config}
        config = config or {}
        if not isinstance(config, dict):
            raise _invalid_params("Invalid params: expected a config map.")
        if config.get("commitment") == "processed":
            raise _invalid_params("Method does not support commitment below `confirmed`")
        record = self.ledger.transaction(signature)
        if record is None:
            return None
        tx = record.transaction
        is_v0 = isinstance(tx.message, MessageV0)
        max_version = config.get("maxSupportedTransactionVersion")
        if is_v0 and (max_version is None or max_version < 0):
            raise RpcError(
                -32015,
                "Transaction version (0) is not supported by the requesting client. Please try "
                'the request again with the following configuration parameter: "maxSupported'
                'TransactionVersion": 0',
            )
        outcome = record.outcome
        err = None if outcome.err is None else error_value(outcome.err)
        answer: dict[str, Any] = {
            "slot": outcome.slot,
            "blockTime": record.block_time,
            "transaction": _ui_transaction(tx, config.get("encoding", "json")),
            "meta": {
                "err": err,
                "status": {"Ok": None} if err is None else {"Err": err},
                "fee": outcome.fee,
                "preBalances": list(record.pre_balances),
                "postBalances": list(record.post_balances),
                "innerInstructions": [],
                "logMessages": list(outcome.logs),
                "preTokenBalances": [],
                "postTokenBalances": [],
                "rewards": [],
                "loadedAddresses": {"writable": [], "readonly": []},
                "computeUnitsConsumed": outcome.units,
            },
        }
        if max_version is not None:
            answer["version"] = 0 if is_v0 else "legacy"
        return answer

    def request_airdrop(self, params: list[Any]) -> str:
        """A real transfer from a sim faucet, so the answer is a signature with a status."""
        owner = _pubkey(_param(params, 0, "pubkey"))
        lamports = _u64(_param(params, 1, "lamports"), "lamports")
        self._context(_config(params, 2))
        faucet = self._faucet.pubkey()
        top_up = max(0, _FAUCET_FLOAT - self.ledger.balance(faucet))
        self.ledger.airdrop(faucet, lamports + LAMPORTS_PER_SIGNATURE + top_up)
        blockhash, _ = self.ledger.latest_blockhash()
        # A varying compute-unit limit (free: no price) keeps two identical requests in one
        # block from being the same transaction, which the second would fail as a duplicate.
        self._airdrops += 1
        instructions = [
            set_compute_unit_limit(_AIRDROP_UNITS + self._airdrops % _AIRDROP_UNITS),
            transfer(TransferParams(from_pubkey=faucet, to_pubkey=owner, lamports=lamports)),
        ]
        message = MessageV0.try_compile(faucet, instructions, [], blockhash)
        tx = VersionedTransaction(message, [self._faucet])
        try:
            self.ledger.send(tx)
        except RejectedError as exc:
            raise RpcError(-32603, f"airdrop failed: {exc.reason}") from None
        return str(tx.signatures[0])

    # ------------------------------------------------------------------ subscriptions
    def subscribe_signature(
        self, connection: ServerConnection, signature: Signature, config: dict[str, Any]
    ) -> int:
        commitment = config.get("commitment", "finalized")
        if commitment not in _COMMITMENTS:
            raise _invalid_params(f"Invalid params: unknown commitment `{commitment}`.")
        subscription = self._new_subscription_id()
        self._signature_subs[subscription] = _SignatureSubscription(
            connection, signature, commitment, bool(config.get("enableReceivedNotification"))
        )
        return subscription

    def subscribe_slot(self, connection: ServerConnection) -> int:
        subscription = self._new_subscription_id()
        self._slot_subs[subscription] = connection
        return subscription

    def unsubscribe(self, connection: ServerConnection, kind: str, subscription: Any) -> bool:
        registry: dict[int, Any] = self._signature_subs if kind == "signature" else self._slot_subs
        entry = registry.get(subscription) if isinstance(subscription, int) else None
        owner = entry.connection if isinstance(entry, _SignatureSubscription) else entry
        if entry is None or owner is not connection:
            raise _invalid_params("Invalid subscription id.")
        del registry[subscription]
        return True

    def drop_connection(self, connection: ServerConnection) -> None:
        for subscription, entry in list(self._signature_subs.items()):
            if entry.connection is connection:
                del self._signature_subs[subscription]
        for subscription, owner in list(self._slot_subs.items()):
            if owner is connection:
                del self._slot_subs[subscription]

    def _new_subscription_id(self) -> int:
        subscription = self._next_subscription
        self._next_subscription += 1
        return subscription

    def _mark_received(self, signature: Signature) -> None:
        """Queue "receivedSignature" for subscribers that asked for it (sent by `notify`, before
        any status notification, so the order is the validator's)."""
        for subscription, entry in self._signature_subs.items():
            if entry.signature == signature and entry.received:
                entry.received = False
                body = {"context": {"slot": self.ledger.slot}, "value": "receivedSignature"}
                message = _notification("signatureNotification", subscription, body)
                self._outbox.append((entry.connection, message))

    async def notify(self) -> None:
        """Send what is due: a slot notification for a new slot (the latest one only, when the
        clock jumped several), signature notifications for statuses that reached their
        commitment (each sent once, then the subscription ends).

        Everything is decided before the first `await`, so the ticker and a request handler
        running this at the same time never send a notification twice.
        """
        outbox, self._outbox = self._outbox, []
        slot = self.ledger.slot
        if slot != self._notified_slot:
            self._notified_slot = slot
            body = {"parent": slot - 1, "root": max(0, slot - FINALITY_SLOTS), "slot": slot}
            for subscription, connection in self._slot_subs.items():
                outbox.append((connection, _notification("slotNotification", subscription, body)))
        for subscription, entry in list(self._signature_subs.items()):
            outcome = self.ledger.status(entry.signature)
            if outcome is None:
                continue
            reached = self.ledger.confirmation(outcome)
            if _COMMITMENTS[reached] < _COMMITMENTS[entry.commitment]:
                continue
            del self._signature_subs[subscription]
            err = None if outcome.err is None else error_value(outcome.err)
            result = {"context": {"slot": outcome.slot}, "value": {"err": err}}
            message = _notification("signatureNotification", subscription, result)
            outbox.append((entry.connection, message))
        for connection, message in outbox:
            await _send(connection, message)


RENT_EXEMPT_RENT_EPOCH = 2**64 - 1


def _token_state(state: TokenAccountState) -> str:
    if state == TokenAccountState.Initialized:
        return "initialized"
    return "frozen" if state == TokenAccountState.Frozen else "uninitialized"


def _optional_key(key: Pubkey | None) -> str | None:
    return None if key is None else str(key)


def _encode_data(raw: bytes, encoding: str) -> Any:
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
    raise _invalid_params(
        f"Invalid params: unsupported encoding `{encoding}` (the sim offers base58, base64 and "
        "jsonParsed)."
    )


def _simulation_value(outcome: TxOutcome, err: Any) -> dict[str, Any]:
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


def _with_blockhash(message: Message | MessageV0, blockhash: Hash) -> Message | MessageV0:
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


def _ui_transaction(tx: VersionedTransaction, encoding: str) -> Any:
    if encoding == "base64":
        return [base64.b64encode(bytes(tx)).decode(), "base64"]
    if encoding == "base58":
        return [b58encode(bytes(tx)), "base58"]
    if encoding != "json":
        raise _invalid_params(
            f"Invalid params: unsupported encoding `{encoding}` (the sim offers json, base58 "
            "and base64)."
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


def _error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": error.body(), "id": request_id}


def _notification(method: str, subscription: int, result: Any) -> str:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "method": method,
            "params": {"result": result, "subscription": subscription},
        }
    )


async def _send(connection: ServerConnection, text: str) -> None:
    with contextlib.suppress(ConnectionClosed):
        await connection.send(text)


# ---------------------------------------------------------------------------------- transports
def create_app(rpc: SimRpc) -> Starlette:
    """The HTTP side: POST / for JSON-RPC, GET /health as a validator answers it.

    HTTP-level refusals (wrong method, content type or body encoding) are non-2xx, as on a
    validator, but carry a JSON-RPC error body too (a validator's is plain text).
    """

    async def root(request: Request) -> Response:
        if request.method != "POST":
            message = "Used HTTP Method is not allowed. POST or OPTIONS is required"
            return _http_error(405, -32600, message)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return _http_error(415, -32600, "Supported content types are: application/json")
        body = await request.body()
        faults = rpc.faults
        delay = faults.latency
        if faults.latency_jitter:
            delay += faults.latency_jitter * rpc.draw()
        if delay:
            await asyncio.sleep(delay)
        if faults.error_rate and rpc.draw() < faults.error_rate:
            return _unavailable(rpc, body)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"utf-8 encoding error at byte {exc.start} in request body"
            return _http_error(400, -32700, message)
        try:
            payload = json.loads(text)
        except ValueError:
            return _json(_error_response(None, RpcError(-32700, "Parse error")))
        answer = await rpc.handle(payload)
        if answer is None:
            return Response(status_code=200)
        return _json(answer)

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    every_method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(
        routes=[
            Route("/", root, methods=every_method),
            Route("/health", health, methods=["GET"]),
        ]
    )


def _http_error(status: int, code: int, message: str) -> Response:
    """An HTTP-level refusal: non-2xx, with a JSON-RPC error body for clients that read it."""
    body = _error_response(None, RpcError(code, message))
    return Response(json.dumps(body), status_code=status, media_type="application/json")


def _json(body: Any) -> Response:
    return Response(json.dumps(body), media_type="application/json")


def _unavailable(rpc: SimRpc, body: bytes) -> Response:
    """HTTP 503 with the -32005 body a provider answers when its node fell behind."""
    request_id = None
    with contextlib.suppress(ValueError, AttributeError):
        request_id = json.loads(body).get("id")
    behind = 1 + int(rpc.draw() * 50)
    error = RpcError(-32005, f"Node is behind by {behind} slots", {"numSlotsBehind": behind})
    return Response(
        json.dumps(_error_response(request_id, error)),
        status_code=503,
        media_type="application/json",
    )


async def _websocket_session(rpc: SimRpc, connection: ServerConnection) -> None:
    """The PubSub side: signature and slot subscriptions."""
    try:
        async for message in connection:
            try:
                request = json.loads(message)
            except ValueError:
                answer: dict[str, Any] | None = _error_response(
                    None, RpcError(-32700, "Parse error")
                )
            else:
                answer = _websocket_answer(rpc, connection, request)
            if answer is not None:
                await _send(connection, json.dumps(answer))
            rpc.sync()
            await rpc.notify()
    except ConnectionClosed:
        pass
    finally:
        rpc.drop_connection(connection)


def _websocket_answer(
    rpc: SimRpc, connection: ServerConnection, request: Any
) -> dict[str, Any] | None:
    """The answer to one PubSub request; None for a notification (no `id`), such as the `ping`
    web3.js sends every few seconds, which a JSON-RPC server must not answer."""
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return _error_response(None, RpcError(-32600, "Invalid request"))
    if "id" not in request:
        return None
    request_id = request.get("id")
    params = request.get("params") or []
    method = request["method"]
    try:
        if not isinstance(params, list):
            raise _invalid_params("Invalid params: expected array")
        if method == "signatureSubscribe":
            signature = _signature(_param(params, 0, "signature"))
            result: Any = rpc.subscribe_signature(connection, signature, _config(params, 1))
        elif method == "slotSubscribe":
            result = rpc.subscribe_slot(connection)
        elif method in ("signatureUnsubscribe", "slotUnsubscribe"):
            kind = "signature" if method == "signatureUnsubscribe" else "slot"
            result = rpc.unsubscribe(connection, kind, _param(params, 0, "subscription"))
        else:
            raise RpcError(-32601, "Method not found")
    except RpcError as exc:
        return _error_response(request_id, exc)
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process embedding the sim owns its signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RpcServerHandle:
    """A running sim RPC server: HTTP on `port`, WebSocket on `ws_port` (= port + 1)."""

    host: str
    port: int
    ws_port: int
    rpc: SimRpc
    _stop: Callable[[], Awaitable[None]]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.ws_port}"

    async def stop(self) -> None:
        """Stop the ticker and both servers; idempotent."""
        await self._stop()


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """Two listening sockets on consecutive ports (a free pair when `port` is 0).

    They are made with an explicit `IPPROTO_TCP`: asyncio sets TCP_NODELAY on accepted
    connections only then, and without it Nagle's algorithm meets the client's delayed ACK and
    every answer takes 40 ms instead of under 1 ms.
    """
    for _attempt in range(50):
        first = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        first.bind((host, port))
        chosen = first.getsockname()[1]
        second = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            second.bind((host, chosen + 1))
        except OSError:
            first.close()
            second.close()
            if port:
                raise
            continue
        for sock in (first, second):
            sock.listen(128)
            sock.setblocking(False)
        return first, second
    raise OSError(f"no two consecutive free ports on {host}")


async def serve_rpc(
    ledger: SimLedger,
    clock: Clock,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    tick_hz: float = DEFAULT_TICK_HZ,
) -> RpcServerHandle:
    """Serve the sim's JSON-RPC on `host:port` and its PubSub on `port + 1`, in this event loop.

    `port=0` picks a free pair. Blocks follow the clock: a task syncs the ledger `tick_hz` times
    a second (wall time; it never moves the clock itself) and sends due notifications.
    """
    if not (math.isfinite(tick_hz) and tick_hz > 0):
        raise ValueError(f"tick_hz must be > 0, got {tick_hz}")
    rpc = SimRpc(ledger, clock, faults or Faults())
    http_sock, ws_sock = _bind_pair(host, port)
    config = uvicorn.Config(
        create_app(rpc), log_level="warning", lifespan="off", access_log=False,
        timeout_graceful_shutdown=2,
    )  # fmt: skip
    server = _EmbeddedServer(config)
    http_task = asyncio.create_task(server.serve(sockets=[http_sock]), name="sim-rpc-http")
    ws_server: WsServer = await ws_serve(
        lambda connection: _websocket_session(rpc, connection), sock=ws_sock
    )

    async def tick() -> None:
        while True:
            try:
                rpc.sync()
                await rpc.notify()
            except Exception:  # the ticker must outlive one bad notification
                log.exception("sim rpc: block ticker failed")
            await asyncio.sleep(1.0 / tick_hz)

    tick_task = asyncio.create_task(tick(), name="sim-rpc-ticker")
    while not server.started:
        if http_task.done():
            tick_task.cancel()
            ws_server.close()
            http_task.result()  # raises the start-up error
            raise RuntimeError("the sim RPC server stopped during start-up")
        await asyncio.sleep(0.01)

    stopped = False

    async def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        tick_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tick_task
        ws_server.close()
        await ws_server.wait_closed()
        server.should_exit = True
        await http_task

    return RpcServerHandle(host, http_sock.getsockname()[1], ws_sock.getsockname()[1], rpc, stop)
