"""Jupiter's HTTP API, served by the sim market maker over the sim ledger: over HTTP (Starlette,
ASGI) for `solbot sim serve`, and in process (`InProcessJupiter`) for the embedded sim.

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

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import math
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from solbot.chain.builders import U64_MAX
from solbot.execution.landing import percentile
from solbot.sim.maker import (
    InvalidRequestError,
    InvalidTransactionError,
    MessageMismatchError,
    NoRouteError,
    OrderNotFoundError,
    Pricing,
    Quote,
    SimMaker,
)
from solbot.sim.rpc_faults import Congestion
from solbot.sim.rpc_history import recent_prioritization_fees
from solbot.sim.swap_build import (
    DEFAULT_PERCENTILE,
    DEFAULT_SLOTS_TO_EXPIRY,
    PERCENTILES,
    SwapBuilder,
    built_body,
)

__all__ = [
    "MAX_PRICE_IDS",
    "ROUTES",
    "InProcessJupiter",
    "JupiterApi",
    "JupiterServer",
    "WireAnswer",
    "create_jupiter_app",
    "json_bytes",
    "json_response",
    "quote_key",
    "serve_jupiter",
]

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
_JSON_HEADERS = httpx.Headers({"content-type": "application/json"})
Reply = tuple[int, Any]  # HTTP status, JSON payload
Handler = Callable[[Mapping[str, str], bytes], Awaitable[Reply]]
_KEY_FIELDS = (
    "inputMint",
    "inAmount",
    "outputMint",
    "outAmount",
    "otherAmountThreshold",
    "swapMode",
    "slippageBps",
)


class _BadRequestError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _V1Entry:
    pricing: Pricing
    built: dict[Pubkey, Quote] = field(default_factory=dict)


def quote_key(quote: Mapping[str, Any]) -> str:
    """The id of a v1 quote, recomputed from its standard fields (see the module docstring)."""
    canonical: dict[str, Any] = {}
    for name in _KEY_FIELDS:
        if name not in quote:
            raise _BadRequestError(f"quoteResponse.{name} is missing")
        value = quote[name]
        if name in ("inputMint", "outputMint", "swapMode"):
            if not isinstance(value, str):
                raise _BadRequestError(f"quoteResponse.{name} must be a string")
            canonical[name] = value
        else:
            canonical[name] = _integer(value, f"quoteResponse.{name}")
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def create_jupiter_app(maker: SimMaker, congestion: Congestion | None = None) -> Starlette:
    """The ASGI app: Swap v2, legacy Swap v1 and Price v3 over `maker` (and its ledger);
    `/build`'s priority fees read `congestion`, as the sim's RPC does."""
    api = JupiterApi(maker, congestion)

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            body = await request.body() if request.method == "POST" else b""
            status, payload = await handler(request.query_params, body)
            return Response(json_bytes(payload), status, media_type="application/json")

        return answer

    routes = [
        Route(path, endpoint(getattr(api, name)), methods=[method])
        for (method, path), name in ROUTES.items()
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Internal error"
        return JSONResponse({"error": detail}, status_code=status)

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


class InProcessJupiter:
    """The sim's Jupiter API called in process: what `JupiterClient` sends through instead of an
    `httpx.AsyncClient` when the sim is embedded (`solbot run` on the default network).

    Why: over httpx's ASGI transport, the HTTP framing (building the request, cookies, the
    transport, Starlette's routing) cost the bot about 1.3 ms of the 5 ms each user's order
    took in `benchmarks/fanout.py`, for no behaviour of either side. What stays is everything
    both sides do with the bytes: the client's parameters, rate limiter, retries, JSON parsing
    and error mapping; the API's checks and answers, encoded as the HTTP server encodes them.
    The sim served over HTTP (`solbot sim serve`, the integration tests) runs the same handlers.
    """

    def __init__(self, maker: SimMaker) -> None:
        self.api = JupiterApi(maker)

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> WireAnswer:
        """Answer as the HTTP server would (404/405 included). `headers` and `timeout` mean
        nothing in process: the API checks no key, and a handler runs to its end."""
        path = url.path if isinstance(url, httpx.URL) else httpx.URL(url).path
        handler = self.api.handler(method, path)
        if handler is not None:
            body = b"" if json is None else json_bytes(json)
            status, payload = await handler(params or {}, body)
        elif any(path == known for _, known in ROUTES):
            status, payload = 405, {"error": "Method Not Allowed"}
        else:
            status, payload = 404, {"error": "Not Found"}
        return json_response(status, payload)


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
            input_mint, output_mint, amount = _swap_params(params)
            slippage = _bps(params.get("slippageBps"), 0)
            taker = _address(params["taker"], "taker") if params.get("taker") else None
            pricing = self.maker.price_swap(input_mint, output_mint, amount)
        except (_BadRequestError, InvalidRequestError) as exc:
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
        else:
            request_id, quote_id = self._fresh_ids(pricing)
            transaction = None if taker is None else ""
            last_valid = None
            rent, signature_fee = 0, 0
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
            "signatureFeePayer": maker,
            "prioritizationFeeLamports": 0,
            "prioritizationFeePayer": maker,
            "rentFeeLamports": rent,
            "rentFeePayer": maker,
            "swapType": "rfq",
            "router": "jupiterz",
            "transaction": transaction,
            "lastValidBlockHeight": last_valid,
            "gasless": True,
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
            input_mint, output_mint, amount = _swap_params(params)
            if not params.get("taker"):
                raise _BadRequestError("taker is required")
            taker = _address(params["taker"], "taker")
            payer = _address(params["payer"], "payer") if params.get("payer") else None
            slippage = _bps(params.get("slippageBps"), DEFAULT_V1_SLIPPAGE_BPS)
            level = _price_level(params.get("computeUnitPricePercentile"))
            slots = _bounded(params.get("blockhashSlotsToExpiry"), "blockhashSlotsToExpiry", 1, 300)
            tip = _bounded(params.get("tipAmount"), "tipAmount", 0, U64_MAX)
            _unsupported_build_options(params)
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
        except (_BadRequestError, InvalidRequestError) as exc:
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
            input_mint, output_mint, amount = _swap_params(params)
            slippage = _bps(params.get("slippageBps"), DEFAULT_V1_SLIPPAGE_BPS)
            pricing = self.maker.price_swap(input_mint, output_mint, amount)
        except (_BadRequestError, InvalidRequestError) as exc:
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
                raise _BadRequestError("quoteResponse is required")
            user = _address(body.get("userPublicKey"), "userPublicKey")
            key = quote_key(body["quoteResponse"])
        except _BadRequestError as exc:
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


def _swap_params(params: Mapping[str, str]) -> tuple[Pubkey, Pubkey, int]:
    for name in ("inputMint", "outputMint", "amount"):
        if not params.get(name):
            raise _BadRequestError(f"{name} is required")
    mode = params.get("swapMode", "ExactIn")
    if mode != "ExactIn":
        raise _BadRequestError(f"swapMode {mode!r} is not supported; use ExactIn")
    amount = _integer(params["amount"], "amount")
    if amount <= 0:
        raise _BadRequestError("amount must be a positive integer of atoms")
    return (
        _address(params["inputMint"], "inputMint"),
        _address(params["outputMint"], "outputMint"),
        amount,
    )


def _address(value: Any, name: str) -> Pubkey:
    if not isinstance(value, str):
        raise _BadRequestError(f"{name} is required")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise _BadRequestError(f"{name} is not a valid address: {value!r}") from None


def _integer(value: Any, name: str) -> int:
    """An integer sent as a number or a string of digits (JSON clients differ)."""
    if isinstance(value, bool):
        raise _BadRequestError(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise _BadRequestError(f"{name} must be an integer, got {value!r}")


def _bps(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    bps = _integer(value, "slippageBps")
    if not 0 <= bps <= 10_000:
        raise _BadRequestError(f"slippageBps must be in 0..10000, got {bps}")
    return bps


def _price_level(value: str | None) -> int:
    """`computeUnitPricePercentile`: a named level or basis points 0..10000 (medium: p25)."""
    if value is None or value == "":
        return DEFAULT_PERCENTILE
    if value in PERCENTILES:
        return PERCENTILES[value]
    return _bounded(value, "computeUnitPricePercentile", 0, 10_000) or 0


def _bounded(value: str | None, name: str, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    number = _integer(value, name)
    if not low <= number <= high:
        raise _BadRequestError(f"{name} must be in {low}..{high}, got {number}")
    return number


def _unsupported_build_options(params: Mapping[str, str]) -> None:
    """What the sim's /build refuses rather than ignore (the answer would be wrong)."""
    if params.get("dexes") and params.get("excludeDexes"):
        raise _BadRequestError("dexes and excludeDexes are mutually exclusive")
    if params.get("wrapAndUnwrapSol", "true").lower() == "false":
        raise _BadRequestError("the sim always wraps and unwraps SOL (wrapAndUnwrapSol=false)")
    if _bounded(params.get("platformFeeBps"), "platformFeeBps", 0, 10_000):
        raise _BadRequestError("the sim takes no platform fee (platformFeeBps)")
    for name in ("destinationTokenAccount", "nativeDestinationAccount"):
        if params.get(name):
            raise _BadRequestError(f"the sim pays the taker's own accounts only ({name})")


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


@dataclass(frozen=True, slots=True)
class WireAnswer:
    """An answer's status and body bytes, read as an HTTP client reads them (`HttpAnswer`):
    the in-process API's answer without `httpx.Response`, whose headers and stream machinery
    cost more than decoding the JSON."""

    status_code: int
    content: bytes
    headers: httpx.Headers = field(default_factory=lambda: _JSON_HEADERS)  # shared: read only

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")

    def json(self, **kwargs: Any) -> Any:
        return json.loads(self.content, **kwargs)


def json_response(status: int, payload: Any) -> WireAnswer:
    """The answer an HTTP client would have read for this payload."""
    return WireAnswer(status, json_bytes(payload))


def json_bytes(payload: Any) -> bytes:
    """JSON as Starlette's `JSONResponse` and httpx's `json=` put it on the wire."""
    return json.dumps(
        payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


# ---------------------------------------------------------------------- serving
class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside someone else's program: the program, not the server, owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class JupiterServer:
    """A running server: where it listens, and how to stop it."""

    host: str
    port: int
    _server: uvicorn.Server = field(repr=False)
    _task: asyncio.Task[None] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        """Stop accepting, finish what is in flight, and wait for the server to end."""
        self._server.should_exit = True
        await self._task


async def serve_jupiter(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> JupiterServer:
    """Serve `app` with uvicorn as a task of the running event loop; port 0 picks a free one.

    A task, not a thread: the maker and the ledger are not thread-safe, and the loop that owns
    them then also runs every request, one handler at a time between awaits.
    """
    sock = _bind(host, port)  # here, so a taken port is an OSError now, not a SystemExit later
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = _EmbeddedServer(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            sock.close()
            raise OSError(f"the sim Jupiter server could not start on {host}:{port}") from (
                task.exception()
            )
        await asyncio.sleep(0.005)
    return JupiterServer(host, int(sock.getsockname()[1]), server, task)


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
