"""The `Chain` port over a Solana JSON-RPC endpoint (the sim's server, devnet or mainnet), with
solana-py's `AsyncClient`.

Sending policy
--------------
The practice Solana's docs and RPC providers recommend (see facts.md) is: simulate once, send
with `skipPreflight` and `maxRetries=0`, then re-send the same bytes until a status appears or the
block height passes the blockhash's `lastValidBlockHeight`, and only then re-sign. `send` follows
it and keeps the port's contract (the same as `LiteSvmChain`'s):

1. It simulates first (`simulateTransaction` with signature checks, at the chain's commitment).
   A transaction the cluster would refuse *before executing it* (expired blockhash, already
   processed, bad signature, fee payer missing or broke, malformed) raises `SendError` with the
   runtime's error name and the logs, and nothing is sent: with `skipPreflight` a node would
   accept it, answer its signature and let it vanish, so the caller would only find out when the
   blockhash expires.
2. It then sends with `TxOpts(skip_preflight=True, max_retries=0)`. A transaction whose simulation
   failed *inside a program* is still sent, as the port demands: it lands, fails and pays its fee,
   as on mainnet. A caller that wants to spare that fee calls `simulate` itself first and stops on
   an error (the executor does, for swaps).
   `max_retries=0` keeps the retry loop in our hands: the node does not re-broadcast behind our
   back, and our re-sends of the same bytes can never execute twice (same signature).

Errors: a JSON-RPC error on send becomes `SendError(reason, logs)` (the -32002 preflight data's
error and logs when present); a node that is unreachable, answers a non-2xx status (rate limit,
503), says it is behind (-32005) or answers garbage raises `ChainUnavailableError`, which the
caller may retry.

`statuses` asks with `searchTransactionHistory`, so a transaction older than the node's status
cache (~300 slots) is still found, as `LiteSvmChain` finds it.

Errors in `SignatureStatus.err`, `Simulation.err` and `SendError.reason` are written as the RPC
writes them: the name of an error without fields (`BlockhashNotFound`), else its compact JSON
(`{"InstructionError":[0,{"Custom":1}]}`), the same text `LiteSvmChain` gives.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from itertools import count
from typing import Any, Self

from pydantic import ValidationError
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment as RpcCommitment
from solana.rpc.core import RPCException
from solana.rpc.jsonrpc import JsonRpcRequest, SolanaJsonRpcError
from solana.rpc.models import TxOpts
from solders.account import Account
from solders.errors import SerdeJSONError
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.rpc.errors import NodeUnhealthyMessage
from solders.signature import Signature
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction
from spl.token.constants import ACCOUNT_LEN, TOKEN_PROGRAM_ID

from solbot.chain.builders import associated_token_address
from solbot.chain.port import (
    NATIVE_MINT,
    AccountInfo,
    ChainUnavailableError,
    Commitment,
    SendError,
    SignatureStatus,
    Simulation,
    TokenHolding,
    TxCosts,
    costs_of,
    received_in,
)

_KEPT_TRANSACTIONS = 64
_RANK = {"processed": 0, "confirmed": 1, "finalized": 2}
_STATUS_BATCH = 256  # getSignatureStatuses takes at most this many signatures
# JSON-RPC errors that say "this node cannot answer now", not "your request is wrong".
_UNAVAILABLE_CODES = {-32603, -32005, -32004, -32014, -32016}
_SIGNATURE_VERIFICATION_FAILURE = -32003
# Errors raised after the runtime executed the transaction (it lands, fails, pays its fee);
# every other error means the cluster refuses the transaction before execution.
_EXECUTION_ERRORS = ("InstructionError", "InsufficientFundsForRent")


def error_text(err: Any) -> str | None:
    """An RPC error value as text: `"BlockhashNotFound"`, `{"InstructionError":[0,...]}`."""
    if err is None:
        return None
    return err if isinstance(err, str) else json.dumps(err, separators=(",", ":"))


def is_execution_error(err: str) -> bool:
    """Whether a transaction failing with `err` was executed (and charged), not refused."""
    return any(err.startswith(f'{{"{name}"') for name in _EXECUTION_ERRORS)


class RpcChain:
    """`Chain` over JSON-RPC. Use as an async context manager, or call `close()`."""

    def __init__(
        self, url: str, commitment: Commitment = "confirmed", *, timeout: float = 10.0
    ) -> None:
        self._commitment: Commitment = commitment
        self._client = AsyncClient(url, commitment=RpcCommitment(commitment), timeout=timeout)
        self._ids = count(1)
        self._transactions: dict[Signature, dict[str, Any]] = {}  # `_transaction`'s last few

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.close()

    # ------------------------------------------------------------------ reads
    async def balance(self, owner: Pubkey) -> int:
        try:
            response = await self._client.get_balance(owner, RpcCommitment(self._commitment))
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        return int(response.value)

    async def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        account = await self._account_info(associated_token_address(owner, mint))
        if account is None or account.owner != TOKEN_PROGRAM_ID or len(account.data) != ACCOUNT_LEN:
            return 0
        return int(TokenAccount.from_bytes(bytes(account.data)).amount)

    async def account(self, address: Pubkey) -> AccountInfo | None:
        found = await self._account_info(address)
        if found is None:
            return None
        data = bytes(found.data)
        return AccountInfo(int(found.lamports), found.owner, found.executable, len(data), data)

    async def _account_info(self, address: Pubkey) -> Account | None:
        """`getAccountInfo` in base64 (the default, legacy base58, is refused above 128 bytes)."""
        try:
            response = await self._client.get_account_info(
                address, RpcCommitment(self._commitment), encoding="base64"
            )
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        return response.value

    async def latest_blockhash(self) -> tuple[Hash, int]:
        try:
            response = await self._client.get_latest_blockhash(RpcCommitment(self._commitment))
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        return response.value.blockhash, int(response.value.last_valid_block_height)

    async def block_height(self) -> int:
        try:
            response = await self._client.get_block_height(RpcCommitment(self._commitment))
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        return int(response.value)

    async def statuses(self, signatures: Sequence[Signature]) -> list[SignatureStatus | None]:
        result: list[SignatureStatus | None] = []
        for start in range(0, len(signatures), _STATUS_BATCH):
            batch = [str(sig) for sig in signatures[start : start + _STATUS_BATCH]]
            try:
                answer = await self._raw(
                    "getSignatureStatuses", [batch, {"searchTransactionHistory": True}]
                )
            except SolanaJsonRpcError as exc:
                raise ChainUnavailableError(f"getSignatureStatuses: {exc.message}") from exc
            for value in _field(answer, "value", list):
                status = None if value is None else _status(value)
                # Below our commitment is not yet a status: a processed transaction may still
                # be dropped, and `getTransaction` does not serve it.
                seen = status is not None and _RANK[status.confirmation] >= _RANK[self._commitment]
                result.append(status if seen else None)
        return result

    # ------------------------------------------------------------------ transactions
    async def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = True) -> Simulation:
        config: dict[str, Any] = {
            "encoding": "base64",
            "sigVerify": sig_verify,
            "commitment": self._commitment,
        }
        if not sig_verify:  # agave refuses the two together
            config["replaceRecentBlockhash"] = True
        try:
            answer = await self._raw("simulateTransaction", [_base64(tx), config])
        except SolanaJsonRpcError as exc:
            if exc.code in _UNAVAILABLE_CODES:
                raise ChainUnavailableError(f"simulateTransaction: {exc.message}") from exc
            if exc.code == _SIGNATURE_VERIFICATION_FAILURE:
                return Simulation("SignatureFailure", (), 0)
            return Simulation(exc.message, (), 0)  # e.g. too large, cannot be deserialised
        value = _field(answer, "value", dict)
        units = value.get("unitsConsumed")
        return Simulation(
            error_text(value.get("err")),
            tuple(value.get("logs") or ()),
            int(units) if units is not None else None,
        )

    async def costs(self, signature: Signature) -> TxCosts | None:
        found = await self._transaction(signature)
        if found is None:
            return None
        meta = found.get("meta")
        try:
            return costs_of(int(meta["fee"]), meta["preBalances"], meta["postBalances"])
        except (KeyError, TypeError, ValueError):
            raise ChainUnavailableError("malformed RPC answer to getTransaction") from None

    async def received(self, signature: Signature, owner: Pubkey, mint: Pubkey) -> int | None:
        found = await self._transaction(signature)
        if found is None:
            return None
        try:
            meta = found["meta"]
            loaded = meta.get("loadedAddresses") or {}
            keys = [
                Pubkey.from_string(k)
                for k in (
                    *found["transaction"]["message"]["accountKeys"],
                    *loaded.get("writable", ()),
                    *loaded.get("readonly", ()),
                )
            ]
            before = _holdings(meta.get("preTokenBalances"))
            after = _holdings(meta.get("postTokenBalances"))
            if mint != NATIVE_MINT and (before is None or after is None):
                return None  # a node that does not say whose the token accounts are
            balances = (meta["preBalances"], meta["postBalances"])
            return received_in(owner, mint, keys, balances, (before or [], after or []))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ChainUnavailableError("malformed RPC answer to getTransaction") from None

    async def _transaction(self, signature: Signature) -> dict[str, Any] | None:
        """`getTransaction` (JSON encoding, v0 allowed), the last few kept: a settled order
        asks for its costs and what it moved, and a processed transaction never changes."""
        cached = self._transactions.get(signature)
        if cached is not None:
            return cached
        config = {
            "encoding": "json",
            "commitment": self._commitment,
            "maxSupportedTransactionVersion": 0,
        }
        try:
            answer = await self._raw("getTransaction", [str(signature), config], object)
        except SolanaJsonRpcError as exc:
            raise ChainUnavailableError(f"getTransaction: {exc.message}") from exc
        if answer is None:
            return None
        if not isinstance(answer, dict) or not isinstance(answer.get("meta"), dict):
            raise ChainUnavailableError("malformed RPC answer to getTransaction")
        self._transactions[signature] = answer
        while len(self._transactions) > _KEPT_TRANSACTIONS:
            self._transactions.pop(next(iter(self._transactions)))
        return answer

    async def recent_fees(self, accounts: Sequence[Pubkey] = ()) -> list[int]:
        params: list[Any] = [[str(a) for a in accounts]] if accounts else []
        try:
            rows = await self._raw("getRecentPrioritizationFees", params, list)
        except SolanaJsonRpcError as exc:
            raise ChainUnavailableError(f"getRecentPrioritizationFees: {exc.message}") from exc
        try:
            return [int(row["prioritizationFee"]) for row in rows]
        except (KeyError, TypeError, ValueError):
            raise ChainUnavailableError(
                "malformed RPC answer to getRecentPrioritizationFees"
            ) from None

    async def send(self, tx: VersionedTransaction) -> Signature:
        simulation = await self.simulate(tx)
        if simulation.err is not None and not is_execution_error(simulation.err):
            raise SendError(simulation.err, simulation.logs)
        opts = TxOpts(skip_preflight=True, max_retries=0, skip_confirmation=True)
        try:
            response = await self._client.send_raw_transaction(bytes(tx), opts)
        except RPCException as exc:
            error = exc.args[0] if exc.args else exc
            if isinstance(error, NodeUnhealthyMessage):
                raise ChainUnavailableError(f"sendTransaction: {error.message}") from exc
            raise SendError(getattr(error, "message", str(error))) from exc
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        signature = response.value
        if signature != tx.signatures[0]:
            raise ChainUnavailableError(f"the node answered another signature: {signature}")
        return signature

    # ------------------------------------------------------------------ plumbing
    async def _raw(self, method: str, params: list[Any], kind: type = dict) -> Any:
        """A request whose answer we read as JSON (the error values must stay exact), through
        the client's own transport. Raises `SolanaJsonRpcError` for a JSON-RPC error."""
        request = JsonRpcRequest(id=next(self._ids), method=method, params=params)
        try:
            answer = await self._client.send_rpc_request(request, Any)
        except SolanaJsonRpcError:
            raise
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        if not isinstance(answer, kind):
            raise ChainUnavailableError(f"{method}: unexpected answer {answer!r:.200}")
        return answer


# Unreachable or non-2xx (SolanaRpcException), a JSON-RPC error on a typed call (RPCException),
# or an answer the parsers cannot read (the rest).
_TRANSPORT_ERRORS = (SolanaRpcException, RPCException, ValidationError, SerdeJSONError, ValueError)


def _unavailable(exc: Exception) -> ChainUnavailableError:
    """Describe a transport failure without dumping bodies: status code and RPC message only."""
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    if response is not None:
        detail = f"HTTP {response.status_code}"
        try:
            error = response.json().get("error", {})
            detail += f": {error.get('code')} {error.get('message')}"
        except (ValueError, AttributeError):
            pass
        return ChainUnavailableError(detail)
    if isinstance(exc, RPCException) and exc.args:
        return ChainUnavailableError(getattr(exc.args[0], "message", str(exc.args[0])))
    reason = type(cause).__name__ if cause is not None else type(exc).__name__
    return ChainUnavailableError(f"RPC unavailable: {reason}")


def _field(answer: dict[str, Any], name: str, kind: type) -> Any:
    value = answer.get(name)
    if not isinstance(value, kind):
        raise ChainUnavailableError(f"malformed RPC answer: `{name}` is {value!r:.200}")
    return value


def _status(value: dict[str, Any]) -> SignatureStatus:
    confirmation = value.get("confirmationStatus")
    if confirmation not in ("processed", "confirmed", "finalized"):
        confirmation = "finalized" if value.get("confirmations") is None else "confirmed"
    return SignatureStatus(int(value["slot"]), error_text(value.get("err")), confirmation)


def _base64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


def _holdings(rows: Any) -> list[TokenHolding] | None:
    """`preTokenBalances`/`postTokenBalances` rows; None where they are not recorded or a row
    does not name its owner (the field is optional in the RPC's answer)."""
    if not isinstance(rows, list) or any("owner" not in row for row in rows):
        return None  # not recorded (`null`), or without whose accounts they are: unknown
    return [
        TokenHolding(
            Pubkey.from_string(row["owner"]),
            Pubkey.from_string(row["mint"]),
            int(row["uiTokenAmount"]["amount"]),
        )
        for row in rows or ()
    ]
