"""The sim Jupiter API's request parsing: query parameters and posted quotes read as Jupiter
reads them (numbers sent as numbers or digit strings, bounded options), each refusal a
`BadRequestError` that the API answers as HTTP 400 `{error}`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from solders.pubkey import Pubkey

from solbot.sim.swap_build import DEFAULT_PERCENTILE, PERCENTILES

__all__ = [
    "BadRequestError",
    "address",
    "bounded",
    "integer",
    "price_level",
    "quote_key",
    "refuse_unsupported_build_options",
    "slippage_bps",
    "swap_params",
]

_KEY_FIELDS = (
    "inputMint",
    "inAmount",
    "outputMint",
    "outAmount",
    "otherAmountThreshold",
    "swapMode",
    "slippageBps",
)


class BadRequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def quote_key(quote: Mapping[str, Any]) -> str:
    """The id of a v1 quote, recomputed from its standard fields (`jupiter_api`'s docstring:
    "v1 quote ids")."""
    canonical: dict[str, Any] = {}
    for name in _KEY_FIELDS:
        if name not in quote:
            raise BadRequestError(f"quoteResponse.{name} is missing")
        value = quote[name]
        if name in ("inputMint", "outputMint", "swapMode"):
            if not isinstance(value, str):
                raise BadRequestError(f"quoteResponse.{name} must be a string")
            canonical[name] = value
        else:
            canonical[name] = integer(value, f"quoteResponse.{name}")
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def swap_params(params: Mapping[str, str]) -> tuple[Pubkey, Pubkey, int]:
    for name in ("inputMint", "outputMint", "amount"):
        if not params.get(name):
            raise BadRequestError(f"{name} is required")
    mode = params.get("swapMode", "ExactIn")
    if mode != "ExactIn":
        raise BadRequestError(f"swapMode {mode!r} is not supported; use ExactIn")
    amount = integer(params["amount"], "amount")
    if amount <= 0:
        raise BadRequestError("amount must be a positive integer of atoms")
    return (
        address(params["inputMint"], "inputMint"),
        address(params["outputMint"], "outputMint"),
        amount,
    )


def address(value: Any, name: str) -> Pubkey:
    if not isinstance(value, str):
        raise BadRequestError(f"{name} is required")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise BadRequestError(f"{name} is not a valid address: {value!r}") from None


def integer(value: Any, name: str) -> int:
    """An integer sent as a number or a string of digits (JSON clients differ)."""
    if isinstance(value, bool):
        raise BadRequestError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise BadRequestError(f"{name} must be an integer, got {value!r}")


def slippage_bps(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    bps = integer(value, "slippageBps")
    if not 0 <= bps <= 10_000:
        raise BadRequestError(f"slippageBps must be in 0..10000, got {bps}")
    return bps


def price_level(value: str | None) -> int:
    """`computeUnitPricePercentile`: a named level or basis points 0..10000 (medium: p25)."""
    if value is None or value == "":
        return DEFAULT_PERCENTILE
    if value in PERCENTILES:
        return PERCENTILES[value]
    return bounded(value, "computeUnitPricePercentile", 0, 10_000) or 0


def bounded(value: str | None, name: str, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    number = integer(value, name)
    if not low <= number <= high:
        raise BadRequestError(f"{name} must be in {low}..{high}, got {number}")
    return number


def refuse_unsupported_build_options(params: Mapping[str, str]) -> None:
    """What the sim's /build refuses rather than ignore (the answer would be wrong)."""
    if params.get("dexes") and params.get("excludeDexes"):
        raise BadRequestError("dexes and excludeDexes are mutually exclusive")
    if params.get("wrapAndUnwrapSol", "true").lower() == "false":
        raise BadRequestError("the sim always wraps and unwraps SOL (wrapAndUnwrapSol=false)")
    if bounded(params.get("platformFeeBps"), "platformFeeBps", 0, 10_000):
        raise BadRequestError("the sim takes no platform fee (platformFeeBps)")
    for name in ("destinationTokenAccount", "nativeDestinationAccount"):
        if params.get(name):
            raise BadRequestError(f"the sim pays the taker's own accounts only ({name})")
