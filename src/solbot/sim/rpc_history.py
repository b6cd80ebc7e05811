"""The sim RPC's history reads (`SimRpc` inherits them): block times, the priority fees of
recent slots, a wallet's signatures, whole transactions (json, jsonParsed, base58, base64). They
read the ledger's remembered transactions (the last 10,000)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from solders.message import MessageV0
from solders.pubkey import Pubkey

from solbot.sim.ledger import FIRST_SLOT, SimLedger
from solbot.sim.ledger_outcomes import TokenBalance
from solbot.sim.rpc_faults import Congestion
from solbot.sim.rpc_parsed import parsed_transaction
from solbot.sim.rpc_wire import (
    RpcError,
    compute_unit_price,
    config_param,
    context_of,
    error_value,
    invalid_params,
    param,
    pubkey_param,
    signature_param,
    u64,
    ui_amount,
    ui_transaction,
    writable_flags,
)

PRIORITY_FEE_SLOTS = 150  # agave's prioritization-fee cache: the last 150 blocks
MAX_PRIORITY_FEE_ACCOUNTS = 128
MAX_SIGNATURES = 1_000  # getSignaturesForAddress' limit


class HistoryReads:
    """Needs `ledger` and `congestion`."""

    ledger: SimLedger
    congestion: Congestion

    def get_block_time(self, params: list[Any]) -> int:
        slot = u64(param(params, 0, "slot"), "slot")
        if slot < FIRST_SLOT:
            raise RpcError(
                -32001,
                f"Block {slot} cleaned up, does not exist on node. First available block: "
                f"{FIRST_SLOT}",
            )
        when = self.ledger.block_time(slot)
        if when is None:
            raise RpcError(-32004, f"Block not available for slot {slot}")
        return when

    def get_recent_prioritization_fees(self, params: list[Any]) -> list[dict[str, int]]:
        texts = params[0] if params and params[0] is not None else []
        if not isinstance(texts, list):
            raise invalid_params("Invalid params: expected an array of addresses.")
        if len(texts) > MAX_PRIORITY_FEE_ACCOUNTS:
            raise invalid_params(f"Too many inputs provided; max {MAX_PRIORITY_FEE_ACCOUNTS}")
        wanted = [pubkey_param(text) for text in texts]
        fees = recent_prioritization_fees(self.ledger, self.congestion, wanted)
        return [{"slot": slot, "prioritizationFee": fee} for slot, fee in fees]

    def get_signatures_for_address(self, params: list[Any]) -> list[dict[str, Any]]:
        """The remembered transactions naming `address` among their account keys, newest
        first, from before `before` down to `until` (both excluded), at most `limit`."""
        address = pubkey_param(param(params, 0, "address"))
        config = config_param(params, 1)
        context_of(self.ledger, config)
        if config.get("commitment") == "processed":
            raise invalid_params("Method does not support commitment below `confirmed`")
        limit = u64(config.get("limit", MAX_SIGNATURES), "limit")
        if not 1 <= limit <= MAX_SIGNATURES:
            raise invalid_params(f"Invalid limit; max {MAX_SIGNATURES}")
        before = config.get("before")
        until = config.get("until")
        before_sig = None if before is None else signature_param(before)
        until_sig = None if until is None else signature_param(until)
        found: list[dict[str, Any]] = []
        started = before_sig is None
        for record in self.ledger.recent_transactions():
            signature = record.outcome.signature
            if not started:
                started = signature == before_sig
                continue
            if signature == until_sig or len(found) == limit:
                break
            if address not in record.transaction.message.account_keys:
                continue
            err = None if record.outcome.err is None else error_value(record.outcome.err)
            found.append(
                {
                    "signature": str(signature),
                    "slot": record.outcome.slot,
                    "err": err,
                    "memo": None,
                    "blockTime": record.block_time,
                    "confirmationStatus": self.ledger.confirmation(record.outcome),
                }
            )
        return found

    def get_transaction(self, params: list[Any]) -> dict[str, Any] | None:
        signature = signature_param(param(params, 0, "signature"))
        config = params[1] if len(params) > 1 else None
        if isinstance(config, str):  # the deprecated form: an encoding name
            config = {"encoding": config}
        config = config or {}
        if not isinstance(config, dict):
            raise invalid_params("Invalid params: expected a config map.")
        if config.get("commitment") == "processed":
            raise invalid_params("Method does not support commitment below `confirmed`")
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
            "transaction": (
                parsed_transaction(tx)
                if config.get("encoding") == "jsonParsed"
                else ui_transaction(tx, config.get("encoding", "json"))
            ),
            "meta": {
                "err": err,
                "status": {"Ok": None} if err is None else {"Err": err},
                "fee": outcome.fee,
                "preBalances": list(record.pre_balances),
                "postBalances": list(record.post_balances),
                "innerInstructions": [],
                "logMessages": list(outcome.logs),
                "preTokenBalances": _token_balances(self.ledger, record.pre_tokens),
                "postTokenBalances": _token_balances(self.ledger, record.post_tokens),
                "rewards": [],
                "loadedAddresses": {"writable": [], "readonly": []},
                "computeUnitsConsumed": outcome.units,
            },
        }
        if max_version is not None:
            answer["version"] = 0 if is_v0 else "legacy"
        return answer


def recent_prioritization_fees(
    ledger: SimLedger, congestion: Congestion, wanted: Sequence[Pubkey] = ()
) -> list[tuple[int, int]]:
    """(slot, fee) for each of the last `PRIORITY_FEE_SLOTS` slots: the lowest unit price a
    landed transaction paid in it; with `wanted` addresses, at least the lowest paid by one that
    locked each of them writable (agave's prioritization-fee cache). A slot without one: 0; a
    busy slot (`congestion`): at least the going rate, which the others' traffic paid. Shared
    by `getRecentPrioritizationFees` and the sim's Jupiter `/build` (its price percentile)."""
    first = max(FIRST_SLOT, ledger.slot - PRIORITY_FEE_SLOTS + 1)
    lowest: dict[int, int] = {}
    by_account: dict[tuple[int, Pubkey], int] = {}
    for record in ledger.recent_transactions():
        slot = record.outcome.slot
        if slot < first:
            break
        if record.outcome.err is not None:
            continue
        message = record.transaction.message
        price = compute_unit_price(message)
        lowest[slot] = min(price, lowest.get(slot, price))
        for key, writable in zip(message.account_keys, writable_flags(message), strict=True):
            if writable and key in wanted:
                by_account[slot, key] = min(price, by_account.get((slot, key), price))
    answer = []
    for slot in range(first, ledger.slot + 1):
        fee = max(lowest.get(slot, 0), congestion.floor(slot))
        for key in wanted:
            fee = max(fee, by_account.get((slot, key), 0))
        answer.append((slot, fee))
    return answer


def _token_balances(ledger: SimLedger, rows: Sequence[TokenBalance]) -> list[dict[str, Any]]:
    """`preTokenBalances`/`postTokenBalances` as agave writes them."""
    return [
        {
            "accountIndex": row.index,
            "mint": str(row.holding.mint),
            "uiTokenAmount": ui_amount(row.holding.amount, ledger.mint_decimals(row.holding.mint)),
            "owner": str(row.holding.owner),
            "programId": str(row.program),
        }
        for row in rows
    ]
