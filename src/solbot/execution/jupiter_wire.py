"""Reading Jupiter's JSON answers into the client's types: every field checked for the
documented shape, a wrong one a `BadResponseError` naming the call and the field. Shared by
the client's endpoints (`solbot.execution.jupiter`) and `/build` (`solbot.execution.build`)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from solders.transaction import VersionedTransaction

from solbot.execution.jupiter_types import BadResponseError, ExecuteResult, OrderQuote, Quote


def json_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadResponseError(f"unexpected Jupiter answer to {what}: not a JSON object")
    return body


def int_field(data: Mapping[str, Any], key: str, what: str) -> int | None:
    """An integer field sent as a number or a decimal string; None when absent or null."""
    value = data.get(key)
    if value is None:
        return None
    parsed = to_int(value)
    if parsed is None:
        raise BadResponseError(f"unexpected Jupiter answer to {what}: {key} is not an integer")
    return parsed


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,30}", value.strip()):
        return int(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None


def amount_field(data: Mapping[str, Any], key: str, what: str) -> int:
    value = int_field(data, key, what)
    if value is None or value < 0:
        raise BadResponseError(
            f"unexpected Jupiter answer to {what}: {key} is missing or not a token amount"
        )
    return value


def decimal_field(data: Mapping[str, Any], key: str, what: str) -> Decimal | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadResponseError(f"unexpected Jupiter answer to {what}: {key} is not a number")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise BadResponseError(
            f"unexpected Jupiter answer to {what}: {key} is not a number"
        ) from None
    if not number.is_finite():
        raise BadResponseError(f"unexpected Jupiter answer to {what}: {key} is not finite")
    return number


def text_field(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def transaction_field(value: Any, what: str, key: str) -> bytes | None:
    """Decoded transaction bytes; None for null or "" (not built). Must parse as a transaction."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadResponseError(f"unexpected Jupiter answer to {what}: {key} is not a string")
    try:
        raw = base64.b64decode(value, validate=True)
        VersionedTransaction.from_bytes(raw)
    except (binascii.Error, ValueError):
        raise BadResponseError(
            f"unexpected Jupiter answer to {what}: {key} is not a base64 transaction"
        ) from None
    return raw


def impact_pct(data: Mapping[str, Any], what: str) -> Decimal:
    """Price impact in percent: `priceImpactPct` is a ratio (×100), `priceImpact` is percent."""
    ratio = decimal_field(data, "priceImpactPct", what)
    if ratio is not None:
        return ratio * 100
    percent = decimal_field(data, "priceImpact", what)
    if percent is not None:
        return percent
    raise BadResponseError(f"unexpected Jupiter answer to {what}: no price impact")


def route_labels(data: Mapping[str, Any], what: str) -> tuple[str, ...]:
    plan = data.get("routePlan")
    if plan is None:
        return ()
    if not isinstance(plan, list):
        raise BadResponseError(f"unexpected Jupiter answer to {what}: routePlan is not a list")
    labels = []
    for step in plan:
        info = step.get("swapInfo") if isinstance(step, dict) else None
        if not isinstance(info, dict):
            raise BadResponseError(f"unexpected Jupiter answer to {what}: bad routePlan step")
        labels.append(str(info.get("label") or info.get("ammKey") or "?"))
    return tuple(labels)


def check_mints(data: Mapping[str, Any], what: str, in_mint: str, out_mint: str) -> None:
    for key, expected in (("inputMint", in_mint), ("outputMint", out_mint)):
        got = data.get(key)
        if got is not None and got != expected:
            raise BadResponseError(
                f"unexpected Jupiter answer to {what}: {key} {got} is not the one asked for"
            )


def parse_order(body: Any, what: str, in_mint: str, out_mint: str) -> OrderQuote:
    data = json_object(body, what)
    check_mints(data, what, in_mint, out_mint)
    request_id = text_field(data, "requestId")
    if request_id is None:
        raise BadResponseError(f"unexpected Jupiter answer to {what}: no requestId")
    platform = data.get("platformFee")
    platform = platform if isinstance(platform, dict) else {}
    expire_at = int_field(data, "expireAt", what)
    return OrderQuote(
        request_id=request_id,
        input_mint=in_mint,
        output_mint=out_mint,
        in_amount=amount_field(data, "inAmount", what),
        out_amount=amount_field(data, "outAmount", what),
        other_amount_threshold=amount_field(data, "otherAmountThreshold", what),
        swap_mode=text_field(data, "swapMode") or "ExactIn",
        slippage_bps=int_field(data, "slippageBps", what),
        price_impact_pct=impact_pct(data, what),
        router=text_field(data, "router"),
        swap_type=text_field(data, "swapType"),
        mode=text_field(data, "mode"),
        transaction=transaction_field(data.get("transaction"), what, "transaction"),
        last_valid_block_height=int_field(data, "lastValidBlockHeight", what),
        fee_bps=int_field(data, "feeBps", what),
        fee_mint=text_field(data, "feeMint"),
        platform_fee_amount=int_field(platform, "amount", what),
        platform_fee_bps=int_field(platform, "feeBps", what),
        signature_fee_lamports=int_field(data, "signatureFeeLamports", what),
        signature_fee_payer=text_field(data, "signatureFeePayer"),
        prioritization_fee_lamports=int_field(data, "prioritizationFeeLamports", what),
        prioritization_fee_payer=text_field(data, "prioritizationFeePayer"),
        rent_fee_lamports=int_field(data, "rentFeeLamports", what),
        rent_fee_payer=text_field(data, "rentFeePayer"),
        gasless=data.get("gasless") is True,
        taker=text_field(data, "taker"),
        maker=text_field(data, "maker"),
        quote_id=text_field(data, "quoteId"),
        expire_at=expire_at,
        in_usd_value=decimal_field(data, "inUsdValue", what),
        out_usd_value=decimal_field(data, "outUsdValue", what),
        route_labels=route_labels(data, what),
        error_code=int_field(data, "errorCode", what),
        error_message=text_field(data, "errorMessage") or text_field(data, "error"),
    )


def parse_execute(body: Any, what: str) -> ExecuteResult:
    data = json_object(body, what)
    code = int_field(data, "code", what)
    status = data.get("status")
    if status is None and code not in (None, 0):
        status = "Failed"  # the execute-level failures come without a status
    if status not in ("Success", "Failed"):
        raise BadResponseError(f"unexpected Jupiter answer to {what}: status {status!r}")
    if code is None:
        if status == "Failed":
            raise BadResponseError(f"unexpected Jupiter answer to {what}: failure without code")
        code = 0
    signature = text_field(data, "signature")
    if status == "Success" and signature is None:
        raise BadResponseError(f"unexpected Jupiter answer to {what}: success without signature")
    slot = int_field(data, "slot", what)
    return ExecuteResult(
        status=status,
        code=code,
        signature=signature,
        slot=slot if slot else None,
        error=text_field(data, "error"),
        input_amount_result=int_field(data, "inputAmountResult", what),
        output_amount_result=int_field(data, "outputAmountResult", what),
        total_input_amount=int_field(data, "totalInputAmount", what),
        total_output_amount=int_field(data, "totalOutputAmount", what),
    )


def parse_quote(body: Any, text: str, what: str, in_mint: str, out_mint: str) -> Quote:
    data = json_object(body, what)
    check_mints(data, what, in_mint, out_mint)
    slippage = int_field(data, "slippageBps", what)
    if slippage is None:
        raise BadResponseError(f"unexpected Jupiter answer to {what}: no slippageBps")
    return Quote(
        input_mint=in_mint,
        output_mint=out_mint,
        in_amount=amount_field(data, "inAmount", what),
        out_amount=amount_field(data, "outAmount", what),
        other_amount_threshold=amount_field(data, "otherAmountThreshold", what),
        swap_mode=text_field(data, "swapMode") or "ExactIn",
        slippage_bps=slippage,
        price_impact_pct=impact_pct(data, what),
        route_labels=route_labels(data, what),
        context_slot=int_field(data, "contextSlot", what),
        raw_json=text,
    )
