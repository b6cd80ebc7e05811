"""A fake Jupiter on 127.0.0.1 speaking the real API's JSON shapes, for the real httpx client.

It serves Swap v2 (`/swap/v2/order`, `/swap/v2/execute`), legacy Swap v1 (`/swap/v1/quote`,
`/swap/v1/swap`) and Price v3 (`/price/v3`) with the shapes of Jupiter's OpenAPI specs and
published examples (see the docstring of `solbot.execution.jupiter`). Orders carry real
transactions: an aggregator order is signed by the taker alone; a JupiterZ (RFQ) order has the
maker as fee payer in slot 0, and the maker signs at execute, as Jupiter does. `/execute` checks
the signatures for real and answers the documented failure codes.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from local_http import QuietHandler, Scripted, loopback_server, send_answer

SOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
JUP_MINT = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"
BLOCKHASH = Hash(bytes([7]) * 32)
LAST_VALID_BLOCK_HEIGHT = 279_632_475
MAX_PRICE_IDS = 50


@dataclass
class Seen:
    """One request as the server saw it (header names lower-cased)."""

    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Issued:
    message: bytes
    taker: Pubkey
    in_amount: int
    out_amount: int


class FakeJupiter:
    """State and answers of the fake; tests set the knobs and read `requests`."""

    def __init__(self) -> None:
        self.base_url = ""
        self.maker = Keypair.from_seed(bytes([9]) * 32)
        self.router = "metis"  # or "jupiterz" (RFQ: the maker pays the fee and co-signs)
        self.price_impact_pct = "-0.0001311599520149334"  # a ratio, as Jupiter sends it
        self.price_impact = Decimal("-0.013115995201493341")  # percent
        self.out_per_in = (3, 2)  # outAmount = inAmount * 3 // 2
        self.no_route = False
        self.quotes_expire = False
        self.prices: dict[str, dict[str, Any]] = {}
        self.requests: list[Seen] = []
        self.issued: dict[str, Issued] = {}
        self._scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self._lock = threading.Lock()

    def script(self, path: str, *answers: Scripted) -> None:
        """Answer the next requests to `path` with `answers`, in order, before anything else."""
        with self._lock:
            self._scripts[path].extend(answers)

    def calls(self, path: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.path == path]

    def answer(self, seen: Seen) -> Scripted:
        with self._lock:
            self.requests.append(seen)
            queue = self._scripts.get(seen.path)
            if queue:
                return queue.popleft()
        routes = {
            ("GET", "/swap/v2/order"): self._order,
            ("POST", "/swap/v2/execute"): self._execute,
            ("GET", "/swap/v1/quote"): self._quote,
            ("POST", "/swap/v1/swap"): self._swap,
            ("GET", "/price/v3"): self._price,
        }
        handler = routes.get((seen.method, seen.path))
        if handler is None:
            return Scripted(404, {}, {"error": "Not Found"})
        return handler(seen)

    # Swap v2 -----------------------------------------------------------------------------

    def _order(self, seen: Seen) -> Scripted:
        p = seen.params
        if self.no_route:
            return Scripted(400, {}, {"error": "Failed to get quotes", "requestId": _uuid()})
        in_amount = int(p["amount"])
        out_amount = in_amount * self.out_per_in[0] // self.out_per_in[1]
        threshold = out_amount - out_amount * int(p.get("slippageBps", "50")) // 10_000
        request_id = _uuid()
        rfq = self.router == "jupiterz"
        body: dict[str, Any] = {
            "mode": "ultra",
            "inputMint": p["inputMint"],
            "outputMint": p["outputMint"],
            "inAmount": str(in_amount),
            "outAmount": str(out_amount),
            "otherAmountThreshold": str(threshold),
            "swapMode": "ExactIn",
            "slippageBps": int(p.get("slippageBps", "0" if rfq else "50")),
            "priceImpactPct": self.price_impact_pct,
            "priceImpact": self.price_impact,
            "routePlan": [
                {
                    "swapInfo": {
                        "ammKey": str(self.maker.pubkey())
                        if rfq
                        else "HTvjzsfX3yU6BUodCjZ5vZkUrAxMDTrBs3CJaq43ashR",
                        "label": "JupiterZ" if rfq else "MeteoraDLMM",
                        "inputMint": p["inputMint"],
                        "outputMint": p["outputMint"],
                        "inAmount": str(in_amount),
                        "outAmount": str(out_amount),
                    },
                    "percent": 100,
                    "bps": 10_000,
                }
            ],
            "feeMint": p["inputMint"],
            "feeBps": 2,
            "platformFee": {"amount": "92050", "feeBps": 2},
            "signatureFeeLamports": 0 if rfq else 5000,
            "signatureFeePayer": str(self.maker.pubkey()) if rfq else p.get("taker"),
            "prioritizationFeeLamports": 0 if rfq else 696_237,
            "prioritizationFeePayer": str(self.maker.pubkey()) if rfq else p.get("taker"),
            "rentFeeLamports": 0,
            "rentFeePayer": None,
            "swapType": "rfq" if rfq else "aggregator",
            "router": self.router,
            "transaction": None,
            "gasless": rfq,
            "requestId": request_id,
            "totalTime": 359,
            "taker": p.get("taker"),
            "inUsdValue": Decimal("99.96761068334662"),
            "outUsdValue": Decimal("99.95449893632635"),
            "swapUsdValue": Decimal("99.96761068334662"),
        }
        if rfq:
            body.update(
                quoteId=_uuid(), maker=str(self.maker.pubkey()), expireAt=str(1_750_000_030)
            )
        if "taker" in p:
            taker = Pubkey.from_string(p["taker"])
            message = self._swap_message(taker, in_amount, out_amount, rfq)
            unsigned = VersionedTransaction.populate(
                message, [Signature.default()] * message.header.num_required_signatures
            )
            body["transaction"] = base64.b64encode(bytes(unsigned)).decode()
            body["lastValidBlockHeight"] = str(LAST_VALID_BLOCK_HEIGHT)
            with self._lock:
                self.issued[request_id] = Issued(bytes(message), taker, in_amount, out_amount)
        return Scripted(200, {}, body)

    def _swap_message(self, taker: Pubkey, in_amount: int, out_amount: int, rfq: bool) -> MessageV0:
        maker = self.maker.pubkey()
        legs = [transfer(TransferParams(from_pubkey=taker, to_pubkey=maker, lamports=in_amount))]
        if rfq:
            legs.append(
                transfer(TransferParams(from_pubkey=maker, to_pubkey=taker, lamports=out_amount))
            )
        return MessageV0.try_compile(maker if rfq else taker, legs, [], BLOCKHASH)

    def _execute(self, seen: Seen) -> Scripted:
        body = seen.body if isinstance(seen.body, dict) else {}
        if "requestId" not in body:
            return Scripted(400, {}, {"code": -4, "error": "Missing request id"})
        if "signedTransaction" not in body:
            return Scripted(400, {}, {"code": -5, "error": "Missing signed transaction"})
        issued = self.issued.get(body["requestId"])
        if issued is None:
            return Scripted(
                400, {}, {"code": -1, "error": "Order not found, it might have expired"}
            )
        try:
            tx = VersionedTransaction.from_bytes(base64.b64decode(body["signedTransaction"]))
        except ValueError:
            return Scripted(400, {}, {"code": -2, "error": "Invalid signed transaction"})
        if bytes(tx.message) != issued.message:
            return Scripted(400, {}, {"code": -3, "error": "Invalid message bytes"})
        if self.quotes_expire:
            return Scripted(
                200, {}, {"status": "Failed", "slot": "0", "code": -2003, "error": "Quote expired"}
            )
        signatures = list(tx.signatures)
        if self.router == "jupiterz":
            signatures[0] = self.maker.sign_message(to_bytes_versioned(tx.message))
            tx = VersionedTransaction.populate(tx.message, signatures)
        if not all(tx.verify_with_results()):
            failed = {
                "status": "Failed",
                "slot": "0",
                "code": -1003,
                "error": "Transaction not fully signed",
            }
            return Scripted(200, {}, failed)
        del self.issued[body["requestId"]]
        return Scripted(
            200,
            {},
            {
                "status": "Success",
                "signature": str(tx.signatures[0]),
                "slot": "323598314",
                "code": 0,
                "totalInputAmount": str(issued.in_amount),
                "totalOutputAmount": str(issued.out_amount),
                "inputAmountResult": str(issued.in_amount),
                "outputAmountResult": str(issued.out_amount),
                "swapEvents": [
                    {
                        "inputMint": SOL_MINT,
                        "inputAmount": str(issued.in_amount),
                        "outputMint": USDC_MINT,
                        "outputAmount": str(issued.out_amount),
                    }
                ],
            },
        )

    # Swap v1 -----------------------------------------------------------------------------

    def quote_body(self, params: dict[str, str]) -> dict[str, Any]:
        """The v1 quote this fake answers for `params` (tests compare what is posted back)."""
        in_amount = int(params["amount"])
        out_amount = in_amount * self.out_per_in[0] // self.out_per_in[1]
        slippage = int(params.get("slippageBps", "50"))
        return {
            "inputMint": params["inputMint"],
            "inAmount": str(in_amount),
            "outputMint": params["outputMint"],
            "outAmount": str(out_amount),
            "otherAmountThreshold": str(out_amount - out_amount * slippage // 10_000),
            "swapMode": params.get("swapMode", "ExactIn"),
            "slippageBps": slippage,
            "platformFee": None,
            "priceImpactPct": self.price_impact_pct,
            "routePlan": [
                {
                    "swapInfo": {
                        "ammKey": "HXpGFJGCEEFdV31tDmjDBaJMEB1fKLiAoKoWr3Fnonid",
                        "label": "Meteora DLMM",
                        "inputMint": params["inputMint"],
                        "outputMint": params["outputMint"],
                        "inAmount": str(in_amount),
                        "outAmount": str(out_amount),
                        "feeAmount": "1285",
                        "feeMint": params["outputMint"],
                    },
                    "percent": 100,
                    "bps": 10_000,
                }
            ],
            "contextSlot": 324_307_186,
            "timeTaken": Decimal("0.012"),
        }

    def _quote(self, seen: Seen) -> Scripted:
        if self.no_route:
            return Scripted(
                400,
                {},
                {"error": "Could not find any route", "errorCode": "COULD_NOT_FIND_ANY_ROUTE"},
            )
        return Scripted(200, {}, self.quote_body(seen.params))

    def _swap(self, seen: Seen) -> Scripted:
        body = seen.body if isinstance(seen.body, dict) else {}
        if not isinstance(body.get("quoteResponse"), dict) or "userPublicKey" not in body:
            return Scripted(400, {}, {"error": "Invalid quote response"})
        user = Pubkey.from_string(body["userPublicKey"])
        quote = body["quoteResponse"]
        leg = transfer(
            TransferParams(
                from_pubkey=user, to_pubkey=self.maker.pubkey(), lamports=int(quote["inAmount"])
            )
        )
        message = MessageV0.try_compile(user, [leg], [], BLOCKHASH)
        unsigned = VersionedTransaction.populate(message, [Signature.default()])
        return Scripted(
            200,
            {},
            {
                "swapTransaction": base64.b64encode(bytes(unsigned)).decode(),
                "lastValidBlockHeight": LAST_VALID_BLOCK_HEIGHT,
                "prioritizationFeeLamports": 52_000,
                "computeUnitLimit": 200_000,
                "prioritizationType": {
                    "computeBudget": {"microLamports": 260_000, "estimatedMicroLamports": 260_000}
                },
                "dynamicSlippageReport": None,
                "simulationError": None,
            },
        )

    # Price v3 ----------------------------------------------------------------------------

    def _price(self, seen: Seen) -> Scripted:
        ids = [mint for mint in seen.params.get("ids", "").split(",") if mint]
        if not ids:
            return Scripted(400, {}, {"error": "ids is required"})
        if len(ids) > MAX_PRICE_IDS:
            return Scripted(400, {}, {"error": f"at most {MAX_PRICE_IDS} ids are allowed"})
        return Scripted(200, {}, {mint: self.prices[mint] for mint in ids if mint in self.prices})


def _uuid() -> str:
    return str(uuid.uuid4())


def dumps(value: Any) -> str:
    """JSON with `Decimal` written as the exact number it is, as Jupiter's servers write them."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def _handler(fake: FakeJupiter) -> type[BaseHTTPRequestHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server names it)
            self._serve(None)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            self._serve(body)

        def _serve(self, body: Any) -> None:
            url = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.answer(Seen(self.command, url.path, params, headers, body))
            send_answer(self, answer, dumps)

    return Handler


@contextmanager
def serve() -> Iterator[FakeJupiter]:
    """Run a fake Jupiter on an ephemeral port of 127.0.0.1 for the duration."""
    fake = FakeJupiter()
    with loopback_server(_handler(fake)) as url:
        fake.base_url = url
        yield fake
