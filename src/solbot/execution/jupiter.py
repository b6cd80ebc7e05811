"""Jupiter as a venue: Swap API v2 (order, execute), legacy Swap v1 (quote, swap) and the HTTP
plumbing the Price API v3 feed shares, over an `httpx.AsyncClient` the caller owns.

What was verified, and where (November 2026)
-------------------------------------------
Jupiter's own OpenAPI specifications in github.com/jup-ag/docs (`openapi-spec/swap/v2/swap.yaml`,
`openapi-spec/swap/v1/swap.yaml`, `openapi-spec/price/v3/price.yaml`), the pages
dev.jup.ag/docs/swap/v2/order-and-execute and dev.jup.ag/docs/portal/rate-limits, and the
response examples Jupiter publishes in github.com/jup-ag/agent-skills (`responses/
ultra-swap-order.md`, `responses/metis-swap.md`, `common-errors.md`):

- Host `https://api.jup.ag`, header `x-api-key`. All endpoints of an account share one rate-limit
  bucket on a 60 s sliding window: keyless 0.5 req/s, free 1, developer 10, launch 50, pro 150;
  HTTP 429 beyond. The docs say "use exponential backoff"; they do not promise a `Retry-After`
  header, so it is honoured when present and the back-off applies otherwise.
- `GET /swap/v2/order` query `inputMint`, `outputMint`, `amount` (atoms, a string of digits),
  `taker` (without it: a quote and no transaction), `slippageBps` (0..10000; absent = Jupiter
  chooses), `excludeRouters`, `excludeDexes`, ... 200 answer: `inAmount`, `outAmount`,
  `otherAmountThreshold` (decimal strings), `swapMode`, `slippageBps` (number), `priceImpact`
  (number, percentage points: -0.1 = -0.1 %), `priceImpactPct` (string, deprecated, a *ratio*:
  the example pairs "-0.0001311599520149334" with priceImpact -0.0131...), `routePlan[]`
  (`swapInfo.label` ...), `feeBps`, `feeMint`, `platformFee {amount, feeBps, feeMint}`,
  `signatureFeeLamports`/`prioritizationFeeLamports`/`rentFeeLamports` (numbers) and their
  `...Payer` (string or null), `swapType` (deprecated), `router` (metis, jupiterz, dflow, okx;
  older examples say "iris"), `mode`, `transaction` (base64; null without taker; "" when it could
  not be built, then `errorCode` 1/2/3 and `errorMessage`), `lastValidBlockHeight` (string),
  `gasless`, `requestId`, `taker`, `maker`, `quoteId`, `expireAt` (RFQ; Unix seconds as a
  string), `inUsdValue`/`outUsdValue`. 400 answer: `{"error": "...", "requestId"?}`; the
  published no-route example is `{"error": "Failed to get quotes"}`.
- `POST /swap/v2/execute` body `{signedTransaction (base64), requestId, lastValidBlockHeight?}`.
  200 answer: `status` "Success" | "Failed", `code` (0 = success), `signature`, `slot` (string),
  `error`, `inputAmountResult`/`outputAmountResult`/`totalInputAmount`/`totalOutputAmount`
  (strings), `swapEvents[]`. Codes: -1 missing cached order (requestId expired), -2 invalid
  signed transaction, -3 invalid message bytes, -4/-5 missing fields; aggregator -1000 failed to
  land, -1001 unknown, -1002 invalid, -1003 not fully signed, -1004 invalid block height,
  -1005 expired, -1006 timed out; RFQ -2000 failed to land, -2001 unknown, -2002 invalid
  payload, -2003 quote expired, -2004 swap rejected, -2005 internal; positive codes are program
  errors (6001 slippage). 400 answer `{error, code}` (e.g. `{"code": -1, "error": "Order not
  found, it might have expired"}`); 500 answer `{signature?, error}`. On an RFQ route the maker
  is the fee payer (account 0) and signs at execute.
- `GET /swap/v1/quote` query `inputMint`, `outputMint`, `amount` (integer atoms), `slippageBps`
  (default 50), `swapMode`, `restrictIntermediateTokens`, `onlyDirectRoutes`, `maxAccounts`, ...
  200 answer: `inputMint`, `inAmount`, `outputMint`, `outAmount`, `otherAmountThreshold`,
  `swapMode`, `slippageBps`, `priceImpactPct` (string; a ratio, as `/swap/v2/build` documents
  for the same Metis router: "0.001" = 0.1 %), `platformFee`, `routePlan[]`, `contextSlot`,
  `timeTaken`. No route: HTTP 400 `{"error": "Could not find any route", "errorCode":
  "COULD_NOT_FIND_ANY_ROUTE"}` (also `NO_ROUTES_FOUND`, `TOKEN_NOT_TRADABLE`; seen in many
  public integrations, not in the spec, which documents no error bodies for v1).
- `POST /swap/v1/swap` body `{quoteResponse (the quote as received), userPublicKey,
  wrapAndUnwrapSol, dynamicComputeUnitLimit, prioritizationFeeLamports:
  {priorityLevelWithMaxLamports: {priorityLevel: medium|high|veryHigh, maxLamports}}}`.
  200 answer: `swapTransaction` (base64), `lastValidBlockHeight` (integer),
  `prioritizationFeeLamports`, `computeUnitLimit`, `simulationError` (string or null; with
  `swapTransaction: null` when the build failed). The caller sends the transaction itself.

Assumed where the docs are silent
---------------------------------
- Any 400 whose `errorCode` is one of the no-route codes above, or whose `error` says "no
  route(s)", "could not find any route" or "failed to get quotes", means no route.
- A 429 body has no documented shape; only the status is used.
- Re-posting the same `signedTransaction` and `requestId` to `/execute` cannot execute twice
  (the transaction's signature is the same; Jupiter's Ultra docs described the call as
  idempotent for about two minutes), so `/execute` is retried on 429, 5xx and network errors
  like the read-only calls. When those retries run out the outcome is unknown and the error
  says so: the journal must check the chain before signing anything new.
- Price impact is capped on its absolute value: a large positive impact is no less a sign of a
  thin or stale market than a negative one.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

import httpx
from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.clock import Clock
from solbot.execution.build import SwapBuild, parse_build
from solbot.execution.jupiter_errors import (
    NOT_SIGNED_CODES,
    QUOTE_EXPIRED_CODES,
    exhausted,
    one_line,
    refusal,
)
from solbot.execution.jupiter_types import (
    BadResponseError,
    ExecuteResult,
    NoRouteError,
    NotFullySignedError,
    OrderQuote,
    PriceImpactTooHighError,
    Quote,
    QuoteExpiredError,
    RateLimitedError,
    RequestRejectedError,
    SwapTransaction,
    VenueError,
    VenueServerError,
)
from solbot.execution.jupiter_wire import (
    int_field,
    json_object,
    parse_execute,
    parse_order,
    parse_quote,
    transaction_field,
)
from solbot.execution.signing import verifies
from solbot.http_retry import (
    HttpAnswer,
    RateLimiter,
    RetriesExhaustedError,
    RetryPolicy,
    send_with_retries,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_PRICE_IMPACT_PCT",
    "DEFAULT_REQUESTS_PER_SECOND",
    "DEFAULT_RETRY",
    "RATE_LIMIT_TIERS",
    "BadResponseError",
    "ExecuteResult",
    "HttpRequester",
    "JupiterClient",
    "NoRouteError",
    "NotFullySignedError",
    "OrderQuote",
    "PriceImpactTooHighError",
    "Quote",
    "QuoteExpiredError",
    "RateLimitedError",
    "RequestRejectedError",
    "SwapTransaction",
    "VenueError",
    "VenueServerError",
]

DEFAULT_BASE_URL = "https://api.jup.ag"
RATE_LIMIT_TIERS: Mapping[str, float] = {
    "keyless": 0.5,
    "free": 1.0,
    "developer": 10.0,
    "launch": 50.0,
    "pro": 150.0,
}
DEFAULT_REQUESTS_PER_SECOND = RATE_LIMIT_TIERS["free"]
DEFAULT_MAX_PRICE_IMPACT_PCT = Decimal("1")
DEFAULT_RETRY = RetryPolicy(max_attempts=4, backoff=1.0, max_backoff=30.0, max_retry_after=120.0)
PRIORITY_LEVELS = ("medium", "high", "veryHigh")


class HttpRequester(Protocol):
    """The one call the client makes of its HTTP client. `httpx.AsyncClient` is one; the
    embedded sim passes `solbot.sim.jupiter_http.InProcessJupiter`, which answers the same bytes
    without HTTP."""

    def request(
        self,
        method: str,
        url: httpx.URL,
        *,
        params: Mapping[str, str] | None = ...,
        json: Any = ...,
        headers: Mapping[str, str] | None = ...,
        timeout: float | None = ...,
    ) -> Awaitable[HttpAnswer]: ...


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: Any
    response: HttpAnswer

    @property
    def text(self) -> str:
        """The body as text, decoded only when asked for: finding the charset parses the
        Content-Type header with `email.message`, and most answers are only read as JSON."""
        return self.response.text


class JupiterClient:
    """Jupiter's swap and price endpoints with one rate limiter, bounded retries and a cap on
    price impact checked on every quote, over any `HttpRequester`.

    `requests_per_second` is the account's tier (`RATE_LIMIT_TIERS`); pass `limiter` instead to
    share one budget with other clients of the same account. The `Clock` paces and backs off,
    so tests with a `ManualClock` never really wait.
    """

    def __init__(
        self,
        http: HttpRequester,
        clock: Clock,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        limiter: RateLimiter | None = None,
        max_price_impact_pct: Decimal = DEFAULT_MAX_PRICE_IMPACT_PCT,
        retry: RetryPolicy = DEFAULT_RETRY,
        execute_timeout: float | None = 60.0,
    ) -> None:
        cap = Decimal(max_price_impact_pct)
        if not cap.is_finite() or cap < 0:
            raise ValueError(f"max_price_impact_pct must be a non-negative number, got {cap}")
        self._http = http
        self._clock = clock
        self._base = base_url.rstrip("/")
        self._urls: dict[str, httpx.URL] = {}  # parsed once per path: httpx parses every str
        self._headers = {"Accept": "application/json"}
        self._secrets: tuple[str, ...] = ()
        if api_key:
            self._headers["x-api-key"] = api_key
            self._secrets = (api_key,)
        self._limiter = (
            limiter if limiter is not None else RateLimiter.per_second(clock, requests_per_second)
        )
        self._max_impact = cap
        self._retry = retry
        self._execute_timeout = execute_timeout
        self._requests = 0

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    @property
    def max_price_impact_pct(self) -> Decimal:
        return self._max_impact

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._requests

    # Swap API v2 ---------------------------------------------------------------------------

    async def order(
        self,
        input_mint: Pubkey | str,
        output_mint: Pubkey | str,
        amount: int,
        *,
        taker: Pubkey | str | None = None,
        slippage_bps: int | None = None,
        exclude_routers: Sequence[str] = (),
        exclude_dexes: Sequence[str] = (),
    ) -> OrderQuote:
        """Quote `amount` atoms of `input_mint` into `output_mint` (and, with a `taker`, build
        the transaction the taker signs). Raises `PriceImpactTooHighError` above the cap."""
        in_mint, out_mint = _address(input_mint), _address(output_mint)
        params = {"inputMint": in_mint, "outputMint": out_mint, "amount": str(_atoms(amount))}
        if taker is not None:
            params["taker"] = _address(taker)
        if slippage_bps is not None:
            params["slippageBps"] = str(_bps(slippage_bps))
        if exclude_routers:
            params["excludeRouters"] = ",".join(exclude_routers)
        if exclude_dexes:
            params["excludeDexes"] = ",".join(exclude_dexes)
        what = f"order {in_mint} -> {out_mint}"
        answer = await self._call("GET", "/swap/v2/order", what, params=params)
        if answer.status != 200:
            raise self._refusal(answer, what)
        quote = parse_order(answer.body, what, in_mint, out_mint)
        self._check_impact(quote.price_impact_pct, what)
        if taker is not None and quote.transaction is None:
            detail = self._clean(quote.error_message or "no transaction in the answer")
            raise RequestRejectedError(
                f"Jupiter quoted {what} but could not build the transaction "
                f"(router {quote.router}, errorCode {quote.error_code}): {detail}",
                code=quote.error_code,
            )
        return quote

    async def execute(
        self,
        request_id: str,
        signed_transaction: VersionedTransaction,
        *,
        last_valid_block_height: int | None = None,
    ) -> ExecuteResult:
        """Hand a signed `/order` transaction to Jupiter, which lands and confirms it.

        Checked before anything is sent: some slot carries a signature and every signature
        present verifies (a signature over the wrong bytes would only come back as -1003).
        Slots still all-zero are allowed: on an RFQ route the maker signs at execute.
        """
        _check_signed(signed_transaction)
        first = signed_transaction.signatures[0]
        signature = None if first == Signature.default() else str(first)  # RFQ: the maker's
        encoded = base64.b64encode(bytes(signed_transaction)).decode()
        body: dict[str, str] = {"signedTransaction": encoded, "requestId": request_id}
        if last_valid_block_height is not None:
            body["lastValidBlockHeight"] = str(last_valid_block_height)
        what = f"execute of request {one_line(request_id)[:80]}"
        answer = await self._call(
            "POST",
            "/swap/v2/execute",
            what,
            json_body=body,
            timeout=self._execute_timeout,
            outcome_unknown=True,
            secrets=(encoded,),
        )
        if answer.status != 200:
            raise self._refusal(answer, what, secrets=(encoded,))
        result = parse_execute(answer.body, what)
        if result.ok:
            return result
        detail = self._clean(result.error or "no reason given", (encoded,))
        if result.code in QUOTE_EXPIRED_CODES:
            raise QuoteExpiredError(
                f"Jupiter {what} failed: quote expired (code {result.code}): {detail}",
                code=result.code,
                signature=result.signature or signature,
            )
        if result.code in NOT_SIGNED_CODES:
            raise NotFullySignedError(
                f"Jupiter {what} failed: transaction not fully signed (code {result.code}): "
                f"{detail}",
                code=result.code,
                signature=result.signature or signature,
            )
        return result

    async def build(
        self,
        input_mint: Pubkey | str,
        output_mint: Pubkey | str,
        amount: int,
        *,
        taker: Pubkey | str,
        slippage_bps: int = 50,
        max_accounts: int | None = None,
    ) -> SwapBuild:
        """Quote `amount` atoms with the instructions `taker` assembles, signs and lands itself
        (`solbot.execution.build`; no Jupiter fee). Raises `PriceImpactTooHighError` above the
        cap. The unit price Jupiter proposes is not asked for: the caller sets its own."""
        in_mint, out_mint = _address(input_mint), _address(output_mint)
        params = {
            "inputMint": in_mint,
            "outputMint": out_mint,
            "amount": str(_atoms(amount)),
            "taker": _address(taker),
            "slippageBps": str(_bps(slippage_bps)),
        }
        if max_accounts is not None:
            params["maxAccounts"] = str(max_accounts)
        what = f"build {in_mint} -> {out_mint}"
        answer = await self._call("GET", "/swap/v2/build", what, params=params)
        if answer.status != 200:
            raise self._refusal(answer, what)
        built = parse_build(answer.body, what, in_mint, out_mint)
        self._check_impact(built.price_impact_pct, what)
        return built

    # Legacy Swap API v1 --------------------------------------------------------------------

    async def quote(
        self,
        input_mint: Pubkey | str,
        output_mint: Pubkey | str,
        amount: int,
        *,
        slippage_bps: int = 50,
        swap_mode: Literal["ExactIn", "ExactOut"] = "ExactIn",
        restrict_intermediate_tokens: bool = True,
        only_direct_routes: bool = False,
        max_accounts: int | None = None,
    ) -> Quote:
        """A legacy quote; raises `PriceImpactTooHighError` above the cap."""
        in_mint, out_mint = _address(input_mint), _address(output_mint)
        params = {
            "inputMint": in_mint,
            "outputMint": out_mint,
            "amount": str(_atoms(amount)),
            "slippageBps": str(_bps(slippage_bps)),
            "swapMode": swap_mode,
            "restrictIntermediateTokens": _flag(restrict_intermediate_tokens),
            "onlyDirectRoutes": _flag(only_direct_routes),
        }
        if max_accounts is not None:
            params["maxAccounts"] = str(max_accounts)
        what = f"quote {in_mint} -> {out_mint}"
        answer = await self._call("GET", "/swap/v1/quote", what, params=params)
        if answer.status != 200:
            raise self._refusal(answer, what)
        quote = parse_quote(answer.body, answer.text, what, in_mint, out_mint)
        self._check_impact(quote.price_impact_pct, what)
        return quote

    async def swap_transaction(
        self,
        quote: Quote,
        user_public_key: Pubkey | str,
        *,
        wrap_and_unwrap_sol: bool = True,
        dynamic_compute_unit_limit: bool = True,
        priority_level: str = "veryHigh",
        max_priority_fee_lamports: int = 1_000_000,
    ) -> SwapTransaction:
        """Build the legacy quote's transaction for `user_public_key` (who signs and sends it)."""
        if priority_level not in PRIORITY_LEVELS:
            raise ValueError(f"priority_level must be one of {', '.join(PRIORITY_LEVELS)}")
        body = {
            "quoteResponse": quote.raw,
            "userPublicKey": _address(user_public_key),
            "wrapAndUnwrapSol": wrap_and_unwrap_sol,
            "dynamicComputeUnitLimit": dynamic_compute_unit_limit,
            "prioritizationFeeLamports": {
                "priorityLevelWithMaxLamports": {
                    "maxLamports": _atoms(max_priority_fee_lamports, allow_zero=True),
                    "priorityLevel": priority_level,
                }
            },
        }
        what = f"swap {quote.input_mint} -> {quote.output_mint}"
        answer = await self._call("POST", "/swap/v1/swap", what, json_body=body)
        if answer.status != 200:
            raise self._refusal(answer, what)
        return self._parse_swap(answer.body, what)

    # Shared plumbing (the price feed uses get_json) -----------------------------------------

    async def status_of(self, path: str, params: Mapping[str, str]) -> int:
        """The HTTP status a GET of `path` gets (after the limiter and the retries): the
        start-up's probe of a path, whatever the answer says."""
        answer = await self._call("GET", path, f"a probe of {path}", params=dict(params))
        return answer.status

    async def get_json(self, path: str, params: Mapping[str, str], what: str) -> Any:
        """GET `path` and return its JSON (floats as `Decimal`), or raise a `VenueError`."""
        answer = await self._call("GET", path, what, params=dict(params))
        if answer.status != 200:
            raise self._refusal(answer, what)
        return answer.body

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        timeout: float | None = None,
        outcome_unknown: bool = False,
        secrets: Iterable[str] = (),
    ) -> _Answer:
        """One request with the limiter and retries; `timeout` None keeps the client's own."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = httpx.URL(f"{self._base}{path}")
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}

        def send() -> Awaitable[HttpAnswer]:
            return self._http.request(
                method, url, params=params, json=json_body, headers=self._headers, **extra
            )

        try:
            response = await send_with_retries(
                send,
                clock=self._clock,
                limiter=self._limiter,
                policy=self._retry,
                on_send=self._count_request,
            )
        except RetriesExhaustedError as exc:
            raise exhausted(exc, what, outcome_unknown, (*self._secrets, *secrets)) from None
        try:
            body = response.json(parse_float=Decimal)
        except ValueError:
            if response.status_code == 200:
                raise BadResponseError(
                    f"Jupiter sent a non-JSON answer to {what}", status=200
                ) from None
            body = None
        return _Answer(response.status_code, body, response)

    def _count_request(self) -> None:
        self._requests += 1

    def _check_impact(self, impact_pct: Decimal, what: str) -> None:
        if abs(impact_pct) > self._max_impact:
            raise PriceImpactTooHighError(
                f"Jupiter {what} has a price impact of {_pct(impact_pct)} %, above the "
                f"{_pct(self._max_impact)} % cap; not trading",
                impact_pct=impact_pct,
                cap_pct=self._max_impact,
            )

    def _parse_swap(self, body: Any, what: str) -> SwapTransaction:
        data = json_object(body, what)
        encoded = data.get("swapTransaction")
        if encoded is None and data.get("simulationError") is not None:
            detail = self._clean(str(data["simulationError"]))
            raise RequestRejectedError(
                f"Jupiter could not build {what}: simulation failed: {detail}"
            )
        transaction = transaction_field(encoded, what, "swapTransaction")
        if transaction is None:
            raise BadResponseError(f"unexpected Jupiter answer to {what}: no swapTransaction")
        height = int_field(data, "lastValidBlockHeight", what)
        if height is None:
            raise BadResponseError(f"unexpected Jupiter answer to {what}: no lastValidBlockHeight")
        return SwapTransaction(
            transaction,
            height,
            int_field(data, "prioritizationFeeLamports", what),
            int_field(data, "computeUnitLimit", what),
        )

    def _clean(self, text: str, secrets: Iterable[str] = ()) -> str:
        return one_line(text, (*self._secrets, *secrets))

    def _refusal(self, answer: _Answer, what: str, secrets: Iterable[str] = ()) -> VenueError:
        """The error a final non-200 answer means."""
        text = answer.text if answer.body is None else ""  # not JSON: an HTML page, a proxy's
        return refusal(answer.status, answer.body, text, what, (*self._secrets, *secrets))


def _pct(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _address(value: Pubkey | str) -> str:
    """A base58 address, checked: a stray comma or space would change what the query means."""
    if isinstance(value, Pubkey):
        return str(value)
    try:
        return str(Pubkey.from_string(value))
    except ValueError:
        raise ValueError(f"not a Solana address: {value!r}") from None


def _atoms(value: int, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"amounts are integer atoms, got {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero) or value >= 2**64:
        raise ValueError(f"amount out of range for a u64 token amount: {value}")
    return value


def _bps(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise ValueError(f"slippage must be an integer number of basis points in 0..10000: {value}")
    return value


def _check_signed(tx: VersionedTransaction) -> None:
    empty = Signature.default()
    present = [i for i, sig in enumerate(tx.signatures) if sig != empty]
    if not present:
        raise NotFullySignedError("transaction carries no signature; sign it before execute")
    payload = to_bytes_versioned(tx.message)
    keys = tx.message.account_keys
    bad = [i for i in present if not verifies(tx.signatures[i], keys[i], payload)]
    if bad:
        raise NotFullySignedError(
            f"signature in slot {bad[0]} does not verify; sign the versioned message bytes"
        )
