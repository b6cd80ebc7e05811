"""Jupiter's HTTP API, answered by the sim market maker over the sim ledger: the endpoints as
coroutines of (query, body) -> (status, JSON), served over HTTP for `solbot sim serve` and in
process for the embedded sim by `jupiter_http`, with requests read by `jupiter_params`.

The bot's Jupiter client is written against Jupiter's documents, not against this module; this
module answers in the shapes those documents give, so the two meet without knowing each other.

Verified shapes and sources (November 2026)
-------------------------------------------
- Swap v2 `GET /swap/v2/order` (developers.jup.ag/docs/api-reference/swap/order; response
  examples in github.com/jup-ag/agent-skills, "Ultra Swap Order API Responses", whose RFQ
  "JupiterZ" example this imitates): query `inputMint`, `outputMint`, `amount` (atoms), `taker`
  (without it: a quote and `transaction: null`), `slippageBps`, `swapMode`. Answer: `mode`,
  `inputMint`, `outputMint`, `inAmount`/`outAmount`/`otherAmountThreshold` (strings),
  `swapMode`, `slippageBps` (number; an RFQ quote is firm, so 0 and threshold = out), `priceImpact`
  (number, percent) and `priceImpactPct` (string, deprecated, the same as a ratio): in the
  published example both equal `outUsdValue / inUsdValue - 1` (negative = the taker gets less),
  and so they are here. `routePlan[{swapInfo{ammKey (= maker), label, inputMint, outputMint,
  inAmount, outAmount, feeAmount, feeMint}, percent, bps}]`, `feeBps`, `feeMint`, `platformFee
  {amount, feeBps}`, `signatureFeeLamports`/`prioritizationFeeLamports`/`rentFeeLamports` with
  their `...Payer`, `swapType` "rfq", `router` "jupiterz", `transaction` (base64), `gasless`,
  `requestId`, `quoteId`, `maker`, `taker`, `expireAt` (Unix seconds as a string, as in the
  example), `lastValidBlockHeight` (a string in v2), `inUsdValue`/`outUsdValue`/`swapUsdValue`,
  `totalTime`. When the taker lacks the input: `transaction: ""`, `errorCode: 1`,
  `errorMessage: "Insufficient funds"` (the documented order error codes 1/2/3). No route: HTTP
  400 `{"error": "Failed to get quotes"}` (the published example); bad parameters: 400 `{error}`.
- Swap v2 `POST /swap/v2/execute` (developers.jup.ag/docs/api-reference/swap/execute): body
  `{signedTransaction (base64), requestId, lastValidBlockHeight?}`. Answer `status` "Success" |
  "Failed", `code` (0 = success), `signature`, `slot` (string; "0" when nothing landed, as in the
  RFQ failure example), `error`, `totalInputAmount`/`totalOutputAmount`/`inputAmountResult`/
  `outputAmountResult` (strings), `swapEvents[{inputMint, inputAmount, outputMint,
  outputAmount}]`. Request-level errors are HTTP 400 `{code, error}`: -1 missing cached order
  ("Order not found, it might have expired"), -2 invalid signed transaction, -3 invalid message
  bytes, -4 missing request id, -5 missing signed transaction. Swap-level failures are 200
  "Failed": -2003 quote expired, -1003 not fully signed (the taker's slot does not verify; the
  only documented code with that meaning), -2000 failed to land (refused before execution), and
  for a transaction that landed and failed the program's custom error as a positive code
  ("custom program error: #N"), else -2004 swap rejected. Re-posting an executed `requestId`
  answers the first result again, so a retried `/execute` cannot fill twice.
- Legacy `GET /swap/v1/quote` (dev.jup.ag/api-reference/swap/quote): `inputMint`, `outputMint`,
  `amount`, `slippageBps` (default 50), `swapMode` (ExactIn only here; ExactOut is a 400) ...
  Answer: `inputMint`, `inAmount`, `outputMint`, `outAmount`, `otherAmountThreshold` (strings;
  threshold = out less `slippageBps`, floored), `swapMode`, `slippageBps`, `platformFee` (null),
  `priceImpactPct` (string ratio), `routePlan[]`, `contextSlot`, `timeTaken`. No route: HTTP 400
  `{"error": "Could not find any route", "errorCode": "COULD_NOT_FIND_ANY_ROUTE"}` (the shape
  public integrations handle; the spec documents no v1 error bodies).
- Legacy `POST /swap/v1/swap` (dev.jup.ag/api-reference/swap/swap): body `{quoteResponse,
  userPublicKey, wrapAndUnwrapSol, dynamicComputeUnitLimit, prioritizationFeeLamports, ...}`;
  answer `{swapTransaction (base64), lastValidBlockHeight (integer),
  prioritizationFeeLamports}`. The caller signs and sends through its own RPC.
- Price v3 `GET /price/v3?ids=` (dev.jup.ag/api-reference/price/v3/price; guide "how to get token
  price"): up to 50 comma-separated mints; answer `{mint: {usdPrice, blockId, decimals,
  priceChange24h, liquidity}}` with no wrapper; a mint without a reliable price is left out.

Sim decisions
-------------
- **v1 quote ids.** Jupiter's own clients re-serialise the quote they post back to `/swap` and
  drop fields they do not know, so nothing private can ride along. A v1 quote is filed under
  the SHA-256 of its canonical terms (`inputMint`, `inAmount`, `outputMint`, `outAmount`,
  `otherAmountThreshold`, `swapMode`, `slippageBps`, amounts as integers), which `/swap`
  recomputes from the posted quote. Identical terms share an entry, harmlessly: the transaction
  is built from those very terms. The same quote posted again by the same user gets the same
  transaction back, so a retried `/swap` cannot fill twice. An unknown or expired quote is
  HTTP 400 `{"error", "errorCode": "QUOTE_EXPIRED"}` (sim-specific code).
- SOL is always native (`wrapAndUnwrapSol` is accepted and ignored); no priority fee, no
  compute-budget instructions; 429 is never sent.
- Every request first brings the ledger's blocks up to the clock, so quotes, blockhashes and
  expiries all follow simulated time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from solbot.chain.builders import U64_MAX
from solbot.execution.landing import percentile
from solbot.sim.jupiter_params import (
    BadRequestError,
    address,
    bounded,
    price_level,
    quote_key,
    refuse_unsupported_build_options,
    slippage_bps,
    swap_params,
)
from solbot.sim.maker import SimMaker
from solbot.sim.maker_types import (
    InvalidRequestError,
    InvalidTransactionError,
    MessageMismatchError,
    NoRouteError,
    OrderNotFoundError,
    Pricing,
    Quote,
)
from solbot.sim.rpc_faults import Congestion
from solbot.sim.rpc_history import recent_prioritization_fees
from solbot.sim.swap_build import (
    DEFAULT_SLOTS_TO_EXPIRY,
    SwapBuilder,
    built_body,
)

__all__ = ["MAX_PRICE_IDS", "ROUTES", "Handler", "JupiterApi", "Reply"]

MAX_PRICE_IDS = 50
DEFAULT_V1_SLIPPAGE_BPS = 50
_DAY = 86_400.0
_RFQ_LABEL = "JupiterZ"
_V1_LABEL = "SimMaker"  # the Metis-style routes (legacy v1, /build)
# (method, path) -> the `JupiterApi` method that answers it
ROUTES: Mapping[tuple[str, str], str] = {
    ("GET", "/swap/v2/order"): "order",
    ("POST", "/swap/v2/execute"): "execute",
    ("GET", "/swap/v2/build"): "build",
    ("GET", "/swap/v1/quote"): "quote",
    ("POST", "/swap/v1/swap"): "swap",
    ("GET", "/price/v3"): "price",
}
Reply = tuple[int, Any]  # HTTP status, JSON payload
Handler = Callable[[Mapping[str, str], bytes], Awaitable[Reply]]


@dataclass
class _V1Entry:
    pricing: Pricing
    built: dict[Pubkey, Quote] = field(default_factory=dict)


class JupiterApi:
    """The five endpoints as coroutines of (query, body) -> (status, JSON payload), so the
    HTTP server and `InProcessJupiter` serve the very same answers."""

    def __init__(self, maker: SimMaker, congestion: Congestion | None = None) -> None:
        self.maker = maker
        self.congestion = congestion or Congestion()
        self.builder = SwapBuilder.of(maker)
        self._v1: dict[str, _V1Entry] = {}
        self._ids = 0
        self._handlers: dict[tuple[str, str], Handler] = {
            route: getattr(self, name) for route, name in ROUTES.items()
        }

    def handler(self, method: str, path: str) -> Handler | None:
        """The handler of `method path`, or None when no route matches."""
        return self._handlers.get((method, path))

    # ------------------------------------------------------------------ Swap v2
    async def order(self, params: Mapping[str, str], body: bytes) -> Reply:
        began = time.perf_counter()
        try:
            input_mint, output_mint, amount = swap_params(params)
            slippage = slippage_bps(params.get("slippageBps"), 0)
            taker = address(params["taker"], "taker") if params.get("taker") else None
            pricing = self.maker.price_swap(input_mint, output_mint, amount)
        except (BadRequestError, InvalidRequestError) as exc:
            return _json({"error": str(exc)}, 400)
        except NoRouteError as exc:
            return _json({"error": "Failed to get quotes", "cause": str(exc)}, 400)
        quote: Quote | None = None
        error: dict[str, Any] = {}
        if taker is not None:
            if self.maker.taker_holds(pricing, taker):
                try:
                    quote = self.maker.build(pricing, taker, "v2")
                except InvalidRequestError as exc:
                    return _json({"error": str(exc)}, 400)
            else:
                error = {"errorCode": 1, "errorMessage": "Insufficient funds"}
        body = self._order_body(pricing, quote, taker, slippage, began)
        body.update(error)
        return _json(body)

    def _order_body(
        self,
        pricing: Pricing,
        quote: Quote | None,
        taker: Pubkey | None,
        slippage_bps: int,
        began: float,
    ) -> dict[str, Any]:
        maker = str(self.maker.pubkey)
        in_mint, out_mint = str(pricing.input_mint), str(pricing.output_mint)
        impact = _value_impact(pricing)
        if quote is not None:
            request_id, quote_id = quote.request_id, quote.quote_id
            transaction: str | None = _b64(bytes(quote.transaction))
            last_valid: str | None = str(quote.last_valid_block_height)
            rent, signature_fee = quote.rent_lamports, quote.signature_fee_lamports
            payer = str(quote.fee_payer)
        else:
            request_id, quote_id = self._fresh_ids(pricing)
            transaction = None if taker is None else ""
            last_valid = None
            rent, signature_fee = 0, 0
            payer = str(taker) if self.maker.config.v2_taker_pays and taker else maker
        rfq = payer == maker  # JupiterZ's makers pay; on an aggregator route the taker does
        body: dict[str, Any] = {
            "mode": "ultra",
            "inputMint": in_mint,
            "outputMint": out_mint,
            "inAmount": str(pricing.in_amount),
            "outAmount": str(pricing.out_amount),
            "inUsdValue": pricing.in_usd,
            "outUsdValue": pricing.out_usd,
            "priceImpact": 100.0 * impact,
            "swapUsdValue": pricing.in_usd,
            "otherAmountThreshold": str(pricing.out_amount),
            "swapMode": "ExactIn",
            "slippageBps": slippage_bps,
            "priceImpactPct": repr(impact),
            "routePlan": [_route_step(pricing, maker, _RFQ_LABEL, usd=True)],
            "feeMint": str(pricing.fee_mint),
            "feeBps": _number(self.maker.config.fee_bps),
            "platformFee": {
                "amount": str(pricing.fee_amount),
                "feeBps": _number(self.maker.config.fee_bps),
            },
            "signatureFeeLamports": signature_fee,
            "signatureFeePayer": payer,
            "prioritizationFeeLamports": 0,
            "prioritizationFeePayer": payer,
            "rentFeeLamports": rent,
            "rentFeePayer": payer,
            "swapType": "rfq" if rfq else "aggregator",
            "router": "jupiterz" if rfq else "metis",
            "transaction": transaction,
            "lastValidBlockHeight": last_valid,
            "gasless": rfq,
            "requestId": request_id,
            "totalTime": round((time.perf_counter() - began) * 1000.0, 3),
            "taker": None if taker is None else str(taker),
            "quoteId": quote_id,
            "maker": maker,
            "expireAt": str(math.floor(pricing.expires_at)),
        }
        return body

    def _fresh_ids(self, pricing: Pricing) -> tuple[str, str]:
        """Ids for an order without a transaction (nothing to execute, but the shape has them)."""
        self._ids += 1
        seed = f"{pricing.input_mint}|{pricing.output_mint}|{pricing.in_amount}|{self._ids}"
        digest = hashlib.sha256(seed.encode()).hexdigest()
        return _uuid(digest[:32]), _uuid(digest[32:])

    async def execute(self, params: Mapping[str, str], raw: bytes) -> Reply:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _json({"code": -2, "error": "Invalid signed transaction: body is not JSON"}, 400)
        if not isinstance(body, dict):
            return _json(
                {"code": -2, "error": "Invalid signed transaction: body is not an object"}, 400
            )
        request_id = body.get("requestId")
        if not isinstance(request_id, str) or not request_id:
            return _json({"code": -4, "error": "Missing request id"}, 400)
        encoded = body.get("signedTransaction")
        if not isinstance(encoded, str) or not encoded:
            return _json({"code": -5, "error": "Missing signed transaction"}, 400)
        try:
            signed = VersionedTransaction.from_bytes(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            return _json({"code": -2, "error": "Invalid signed transaction"}, 400)
        try:
            outcome = await self.maker.execute(request_id, signed)
        except OrderNotFoundError as exc:
            return _json({"code": -1, "error": str(exc)}, 400)
        except InvalidTransactionError as exc:
            return _json({"code": -2, "error": str(exc)}, 400)
        except MessageMismatchError as exc:
            return _json({"code": -3, "error": str(exc)}, 400)
        answer: dict[str, Any] = {
            "status": outcome.status,
            "code": outcome.code,
            "slot": str(outcome.slot or 0),
        }
        if outcome.signature is not None:
            answer["signature"] = str(outcome.signature)
        if outcome.error is not None:
            answer["error"] = outcome.error
        if outcome.ok:
            pricing = outcome.pricing
            answer.update(
                {
                    "totalInputAmount": str(outcome.in_amount),
                    "totalOutputAmount": str(outcome.out_amount),
                    "inputAmountResult": str(outcome.in_amount),
                    "outputAmountResult": str(outcome.out_amount),
                    "swapEvents": [
                        {
                            "inputMint": str(pricing.input_mint),
                            "inputAmount": str(outcome.in_amount),
                            "outputMint": str(pricing.output_mint),
                            "outputAmount": str(outcome.out_amount),
                        }
                    ],
                }
            )
        return _json(answer)

    async def build(self, params: Mapping[str, str], body: bytes) -> Reply:
        """`GET /swap/v2/build`: a quote with the taker's instructions (see `swap_build`)."""
        try:
            input_mint, output_mint, amount = swap_params(params)
            if not params.get("taker"):
                raise BadRequestError("taker is required")
            taker = address(params["taker"], "taker")
            payer = address(params["payer"], "payer") if params.get("payer") else None
            slippage = slippage_bps(params.get("slippageBps"), DEFAULT_V1_SLIPPAGE_BPS)
            level = price_level(params.get("computeUnitPricePercentile"))
            slots = bounded(params.get("blockhashSlotsToExpiry"), "blockhashSlotsToExpiry", 1, 300)
            tip = bounded(params.get("tipAmount"), "tipAmount", 0, U64_MAX)
            refuse_unsupported_build_options(params)
            pricing = self.maker.price_swap(input_mint, output_mint, amount)
            fees = recent_prioritization_fees(self.maker.ledger, self.congestion)
            built = self.builder.build(
                pricing,
                taker,
                payer=payer,
                unit_price=percentile([fee for _, fee in fees], level),
                tip_lamports=tip or 0,
                slots_to_expiry=slots or DEFAULT_SLOTS_TO_EXPIRY,
            )
        except (BadRequestError, InvalidRequestError) as exc:
            return _json({"error": str(exc)}, 400)
        except NoRouteError:
            return _json({"error": "No routes found"}, 400)
        step = _route_step(pricing, str(self.maker.pubkey), _V1_LABEL, usd=True)
        return _json(
            built_body(built, slippage_bps=slippage, route_step=step, fetched_at=time.time())
        )

    # ------------------------------------------------------------------ legacy Swap v1
    async def quote(self, params: Mapping[str, str], body: bytes) -> Reply:
        began = time.perf_counter()
        try:
            input_mint, output_mint, amount = swap_params(params)
            slippage = slippage_bps(params.get("slippageBps"), DEFAULT_V1_SLIPPAGE_BPS)
            pricing = self.maker.price_swap(input_mint, output_mint, amount)
        except (BadRequestError, InvalidRequestError) as exc:
            return _json({"error": str(exc), "errorCode": "INVALID_REQUEST"}, 400)
        except NoRouteError as exc:
            return _json(
                {
                    "error": "Could not find any route",
                    "errorCode": "COULD_NOT_FIND_ANY_ROUTE",
                    "cause": str(exc),
                },
                400,
            )
        threshold = pricing.out_amount * (10_000 - slippage) // 10_000
        answer: dict[str, Any] = {
            "inputMint": str(pricing.input_mint),
            "inAmount": str(pricing.in_amount),
            "outputMint": str(pricing.output_mint),
            "outAmount": str(pricing.out_amount),
            "otherAmountThreshold": str(threshold),
            "swapMode": "ExactIn",
            "slippageBps": slippage,
            "platformFee": None,
            "priceImpactPct": repr(_value_impact(pricing)),
            "routePlan": [_route_step(pricing, str(self.maker.pubkey), _V1_LABEL, usd=False)],
            "contextSlot": pricing.slot,
            "timeTaken": round(time.perf_counter() - began, 6),
        }
        self._prune_v1(pricing.priced_at)
        self._v1[quote_key(answer)] = _V1Entry(pricing)
        return _json(answer)

    async def swap(self, params: Mapping[str, str], raw: bytes) -> Reply:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _json({"error": "body is not JSON", "errorCode": "INVALID_REQUEST"}, 400)
        try:
            if not isinstance(body, dict) or not isinstance(body.get("quoteResponse"), dict):
                raise BadRequestError("quoteResponse is required")
            user = address(body.get("userPublicKey"), "userPublicKey")
            key = quote_key(body["quoteResponse"])
        except BadRequestError as exc:
            return _json({"error": str(exc), "errorCode": "INVALID_REQUEST"}, 400)
        now = self.maker.sync()
        entry = self._v1.get(key)
        if entry is None or now > entry.pricing.expires_at:
            return _json(
                {
                    "error": "Quote not found or expired; request a new quote",
                    "errorCode": "QUOTE_EXPIRED",
                },
                400,
            )
        built = entry.built.get(user)
        if built is None:
            try:
                built = self.maker.build(entry.pricing, user, "v1")
            except InvalidRequestError as exc:
                return _json({"error": str(exc), "errorCode": "INVALID_REQUEST"}, 400)
            entry.built[user] = built
        return _json(
            {
                "swapTransaction": _b64(bytes(built.transaction)),
                "lastValidBlockHeight": built.last_valid_block_height,
                "prioritizationFeeLamports": 0,
            }
        )

    def _prune_v1(self, now: float) -> None:
        stale = [k for k, e in self._v1.items() if e.pricing.expires_at < now]
        for key in stale:
            del self._v1[key]

    # ------------------------------------------------------------------ Price v3
    async def price(self, params: Mapping[str, str], body: bytes) -> Reply:
        raw = params.get("ids", "")
        ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
        if not ids:
            return _json({"error": "ids is required: comma-separated mint addresses"}, 400)
        if len(ids) > MAX_PRICE_IDS:
            return _json({"error": f"at most {MAX_PRICE_IDS} ids per request, got {len(ids)}"}, 400)
        now = self.maker.sync()
        slot = self.maker.ledger.slot
        answer: dict[str, Any] = {}
        for mint in ids:
            entry = self._price_entry(mint, now, slot)
            if entry is not None:
                answer[mint] = entry
        return _json(answer)

    def _price_entry(self, mint: str, now: float, slot: int) -> dict[str, Any] | None:
        """A mint's Price v3 entry, or None when it has no reliable price (left out)."""
        try:
            token = self.maker.tokens.get(Pubkey.from_string(mint))
        except ValueError:
            return None
        if token is None:
            return None
        try:
            price = self.maker.prices.price(token.symbol, now)
        except (KeyError, ValueError):
            return None
        if not (math.isfinite(price) and price > 0):
            return None
        try:
            before = self.maker.prices.price(token.symbol, now - _DAY)
            change: float | None = 100.0 * (price / before - 1.0)
        except (KeyError, ValueError):
            change = None  # less than a day of history
        return {
            "usdPrice": price,
            "blockId": slot,
            "decimals": token.decimals,
            "priceChange24h": change,
            "liquidity": token.liquidity_usd,
        }


def _value_impact(pricing: Pricing) -> float:
    """Jupiter's price impact as a ratio: USD out over USD in, less one (negative = a loss)."""
    return pricing.out_usd / pricing.in_usd - 1.0 if pricing.in_usd > 0 else 0.0


def _route_step(pricing: Pricing, maker: str, label: str, *, usd: bool) -> dict[str, Any]:
    step: dict[str, Any] = {
        "swapInfo": {
            "ammKey": maker,
            "label": label,
            "inputMint": str(pricing.input_mint),
            "outputMint": str(pricing.output_mint),
            "inAmount": str(pricing.in_amount),
            "outAmount": str(pricing.out_amount),
            "feeAmount": str(pricing.fee_amount),
            "feeMint": str(pricing.fee_mint),
        },
        "percent": 100,
        "bps": 10_000,
    }
    if usd:
        step["usdValue"] = pricing.in_usd
    return step


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _json(body: Any, status: int = 200) -> Reply:
    return status, body
