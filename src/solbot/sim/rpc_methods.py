"""The sim's Solana JSON-RPC methods over a `SimLedger` (LiteSVM producing blocks on a `Clock`),
independent of the transport (`rpc_server`); subscriptions are `rpc_pubsub`, encodings
`rpc_wire` and `rpc_parsed`.

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
  With preflight, signatures are verified first: one that does not verify answers -32003
  "Transaction signature verification failure" (agave's `verify_transaction`), as does
  `simulateTransaction` with `sigVerify`.
- `getRecentPrioritizationFees`, `getSignaturesForAddress`, `getBlockTime`, `getTokenSupply`,
  `getEpochInfo` (`transactionCount` a number: web3.js refuses null) and jsonParsed transactions
  (December 2026): solana.com/docs/rpc, agave's `parse_instruction.rs` for which programs are
  parsed, and web3.js 1.x's response structs, which `tests/integration/web3js/methods.mjs` runs
  every answer through.
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

Sim simplifications: one leader and no forks, so every commitment sees the same state; a block is
confirmed at once and finalized `FINALITY_SLOTS` later. Token-2022 accounts are served in base64
only (no jsonParsed), `base64+zstd` is not offered, `getTransaction` has no inner
instructions, and its balances and token balances are of its static accounts (address lookup
tables are not resolved there). The history a transaction can be found in (getTransaction,
getSignaturesForAddress, the fees of recent slots) is the ledger's last 10,000 transactions;
`memo` is always null.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.compute_budget import set_compute_unit_limit
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, from_bytes_versioned
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from solbot.clock import Clock
from solbot.sim.ledger import SimLedger, new_keypair_from_seed
from solbot.sim.ledger_outcomes import RejectedError, TxOutcome
from solbot.sim.rpc_accounts import AccountReads
from solbot.sim.rpc_faults import Congestion, Faults
from solbot.sim.rpc_history import HistoryReads
from solbot.sim.rpc_pubsub import PubSub
from solbot.sim.rpc_wire import (
    LAMPORTS_PER_SIGNATURE,
    SOLANA_CORE_VERSION,
    RpcError,
    compute_unit_price,
    config_param,
    context_of,
    decode_transaction,
    error_display,
    error_response,
    error_value,
    invalid_params,
    message_fee,
    param,
    pubkey_param,
    signature_failure,
    signature_param,
    simulation_value,
    u64,
    with_blockhash,
)

log = logging.getLogger(__name__)

FEATURE_SET = 3_294_202_862
GENESIS_HASH = Hash(hashlib.sha256(b"solbot sim network").digest())  # not mainnet's: a sim
SLOTS_PER_EPOCH = 432_000
MAX_SIGNATURE_STATUSES = 256
STATUS_CACHE_SLOTS = 300  # MAX_RECENT_BLOCKHASHES: statuses searchable without history

_FAUCET_SEED = b"solbot sim faucet"
_FAUCET_FLOAT = 1_000_000_000  # lamports the faucet keeps, so it never falls below rent exemption
_AIRDROP_UNITS = 10_000


# ---------------------------------------------------------------------------------- the methods
@dataclass
class SimRpc(AccountReads, HistoryReads):
    """The JSON-RPC methods over a ledger and a clock, independent of the transport.

    Everything runs on one event loop (the ledger is not thread-safe): request handlers, the
    block ticker and the WebSocket notifications.
    """

    ledger: SimLedger
    clock: Clock
    faults: Faults = field(default_factory=Faults)
    congestion: Congestion = field(default_factory=Congestion)
    _rng: random.Random = field(init=False)
    _faucet: Keypair = field(init=False)
    pubsub: PubSub = field(init=False)
    _airdrops: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed)
        self._faucet = new_keypair_from_seed(_FAUCET_SEED)
        self.pubsub = PubSub(self.ledger, self._ui_account)

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
                return error_response(None, RpcError(-32600, "Invalid request"))
            answers = [await self._handle_one(item) for item in payload]
            return [answer for answer in answers if answer is not None]
        return await self._handle_one(payload)

    async def _handle_one(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return error_response(None, RpcError(-32600, "Invalid request"))
        request_id = request.get("id")
        method = self._methods().get(request["method"])
        if method is None:
            return error_response(request_id, RpcError(-32601, "Method not found"))
        params = request.get("params", [])
        if params is None:
            params = []
        if not isinstance(params, list):
            return error_response(request_id, invalid_params("Invalid params: expected array"))
        self.sync()
        try:
            result = method(params)
        except RpcError as exc:
            response = error_response(request_id, exc)
        except Exception:  # a bug here must not become a bare HTTP 500 without a JSON body
            log.exception("sim rpc: %s failed", request["method"])
            response = error_response(request_id, RpcError(-32603, "Internal error"))
        else:
            response = {"jsonrpc": "2.0", "result": result, "id": request_id}
        await self.notify()
        return response if "id" in request else None

    def _methods(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {
            "getAccountInfo": self.get_account_info,
            "getBalance": self.get_balance,
            "getBlockHeight": lambda _params: self.ledger.block_height,
            "getBlockTime": self.get_block_time,
            "getEpochInfo": self.get_epoch_info,
            "getFeeForMessage": self.get_fee_for_message,
            "getGenesisHash": lambda _params: str(GENESIS_HASH),
            "getHealth": lambda _params: "ok",
            "getLatestBlockhash": self.get_latest_blockhash,
            "getMinimumBalanceForRentExemption": self.get_minimum_balance_for_rent_exemption,
            "getMultipleAccounts": self.get_multiple_accounts,
            "getRecentPrioritizationFees": self.get_recent_prioritization_fees,
            "getSignatureStatuses": self.get_signature_statuses,
            "getSignaturesForAddress": self.get_signatures_for_address,
            "getSlot": lambda _params: self.ledger.slot,
            "getTokenAccountBalance": self.get_token_account_balance,
            "getTokenAccountsByOwner": self.get_token_accounts_by_owner,
            "getTokenSupply": self.get_token_supply,
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

    # ------------------------------------------------------------------ blocks
    def get_latest_blockhash(self, params: list[Any]) -> dict[str, Any]:
        context = context_of(self.ledger, config_param(params, 0))
        blockhash, last_valid = self.ledger.latest_blockhash()
        return {
            "context": context,
            "value": {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid},
        }

    def is_blockhash_valid(self, params: list[Any]) -> dict[str, Any]:
        text = param(params, 0, "blockhash")
        context = context_of(self.ledger, config_param(params, 1))
        try:
            blockhash = Hash.from_string(text)
        except (ValueError, TypeError):
            raise invalid_params("Invalid param: Invalid") from None
        return {"context": context, "value": self.ledger.is_blockhash_valid(blockhash)}

    def get_epoch_info(self, params: list[Any]) -> dict[str, Any]:
        context_of(self.ledger, config_param(params, 0))
        slot = self.ledger.slot
        return {
            "absoluteSlot": slot,
            "blockHeight": self.ledger.block_height,
            "epoch": slot // SLOTS_PER_EPOCH,
            "slotIndex": slot % SLOTS_PER_EPOCH,
            "slotsInEpoch": SLOTS_PER_EPOCH,
            "transactionCount": self.ledger.transaction_count,
        }

    def get_fee_for_message(self, params: list[Any]) -> dict[str, Any]:
        encoded = param(params, 0, "message")
        context = context_of(self.ledger, config_param(params, 1))
        try:
            message = from_bytes_versioned(base64.b64decode(encoded, validate=True))
        except (ValueError, TypeError) as exc:
            raise invalid_params(f"invalid base64 message: {exc}") from None
        if not self.ledger.is_blockhash_valid(message.recent_blockhash):
            return {"context": context, "value": None}
        return {"context": context, "value": message_fee(message)}

    # ------------------------------------------------------------------ transactions
    def send_transaction(self, params: list[Any]) -> str:
        config = config_param(params, 1)
        _wire, tx = decode_transaction(
            param(params, 0, "transaction"), config.get("encoding", "base58")
        )
        context_of(self.ledger, config)
        signature = tx.signatures[0]
        if not config.get("skipPreflight", False):
            if not all(tx.verify_with_results()):
                raise signature_failure()  # before the simulation, as agave's verify_transaction
            outcome = self._simulate(tx, sig_verify=True)
            if outcome.err is not None:
                err = error_value(outcome.err)
                raise RpcError(
                    -32002,
                    f"Transaction simulation failed: {error_display(err)}",
                    simulation_value(outcome, err),
                )
        self.pubsub.mark_received(signature)
        if self.congestion.drops(self.ledger.slot, compute_unit_price(tx.message)):
            log.debug("sim rpc: dropped %s (bid below the going rate)", signature)
            return str(signature)
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
        config = config_param(params, 1)
        _wire, tx = decode_transaction(
            param(params, 0, "transaction"), config.get("encoding", "base58")
        )
        context = context_of(self.ledger, config)
        sig_verify = bool(config.get("sigVerify", False))
        replace = bool(config.get("replaceRecentBlockhash", False))
        if sig_verify and replace:
            raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
        if sig_verify and not all(tx.verify_with_results()):
            raise signature_failure()
        replacement = None
        if replace:
            blockhash, last_valid = self.ledger.latest_blockhash()
            message = with_blockhash(tx.message, blockhash)
            tx = VersionedTransaction.populate(message, tx.signatures)
            replacement = {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
        outcome = self._simulate(tx, sig_verify=sig_verify)
        err = None if outcome.err is None else error_value(outcome.err)
        value = simulation_value(outcome, err)
        value["replacementBlockhash"] = replacement
        accounts = config.get("accounts")
        if isinstance(accounts, dict) and isinstance(accounts.get("addresses"), list):
            # Post-simulation states are not exposed here: report the current ones on success,
            # nulls on failure (what agave answers for a failed simulation).
            value["accounts"] = [
                None
                if err is not None or (account := self.ledger.account(pubkey_param(text))) is None
                else self._ui_account(account, {"encoding": accounts.get("encoding", "base64")})
                for text in accounts["addresses"]
            ]
        return {"context": context, "value": value}

    def get_signature_statuses(self, params: list[Any]) -> dict[str, Any]:
        texts = param(params, 0, "signatures")
        if not isinstance(texts, list):
            raise invalid_params("Invalid params: expected an array of signatures.")
        if len(texts) > MAX_SIGNATURE_STATUSES:
            raise invalid_params(f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
        config = config_param(params, 1)
        context = context_of(self.ledger, config)
        history = bool(config.get("searchTransactionHistory", False))
        values = []
        for text in texts:
            outcome = self.ledger.status(signature_param(text))
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

    def request_airdrop(self, params: list[Any]) -> str:
        """A real transfer from a sim faucet, so the answer is a signature with a status."""
        owner = pubkey_param(param(params, 0, "pubkey"))
        lamports = u64(param(params, 1, "lamports"), "lamports")
        context_of(self.ledger, config_param(params, 2))
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

    async def notify(self) -> None:
        """Send the PubSub notifications that are due (`rpc_pubsub`)."""
        await self.pubsub.notify()
