"""What Jupiter's refusals mean: a final non-200 answer, or retries run out, turned into the
`VenueError` the executor acts on (no route, quote expired, not fully signed, rate-limited, a
server failing, a refusal), each message one line without secrets or transaction blobs.

The codes are Jupiter's documented ones (`jupiter`'s module docstring); where the docs are
silent, a 400 whose text says "no route(s)", "could not find any route" or "failed to get
quotes" is no route.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from solbot.execution.jupiter_types import (
    NoRouteError,
    NotFullySignedError,
    QuoteExpiredError,
    RateLimitedError,
    RequestRejectedError,
    VenueError,
    VenueServerError,
)
from solbot.http_retry import RetriesExhaustedError

__all__ = ["NOT_SIGNED_CODES", "QUOTE_EXPIRED_CODES", "exhausted", "one_line", "refusal"]

_NO_ROUTE_CODES = {"COULD_NOT_FIND_ANY_ROUTE", "NO_ROUTES_FOUND", "TOKEN_NOT_TRADABLE"}
_NO_ROUTE_TEXT = re.compile(r"no routes? found|could not find any route|failed to get quotes", re.I)
QUOTE_EXPIRED_CODES = {-1, -1004, -1005, -2003}
NOT_SIGNED_CODES = {-2, -1003}
# Runs of base64/base58 characters this long are transactions or key material, never a message.
_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{100,}")
_MESSAGE_LIMIT = 200


def refusal(
    status: int, body: Any, raw_text: str, what: str, secrets: Iterable[str] = ()
) -> VenueError:
    """The error a final non-200 answer means: `body` is its JSON (None when it was not JSON,
    and then `raw_text`, an HTML error page or a proxy's message, is what it said)."""
    fields = body if isinstance(body, dict) else {}
    text = ""
    for key in ("error", "errorMessage", "message"):
        if isinstance(fields.get(key), str) and fields[key].strip():
            text = fields[key]
            break
    if not text and body is None:
        text = raw_text
    detail = one_line(text or f"HTTP {status}", secrets)
    raw_code = fields.get("errorCode", fields.get("code"))
    code: int | str | None = (
        raw_code if isinstance(raw_code, int | str) and not isinstance(raw_code, bool) else None
    )
    if (isinstance(code, str) and code in _NO_ROUTE_CODES) or _NO_ROUTE_TEXT.search(text):
        return NoRouteError(
            f"Jupiter found no route for {what}: {detail}", status=status, code=code
        )
    if code in QUOTE_EXPIRED_CODES:
        return QuoteExpiredError(
            f"Jupiter refused {what}: quote expired (code {code}): {detail}",
            status=status,
            code=code,
        )
    if code in NOT_SIGNED_CODES:
        return NotFullySignedError(
            f"Jupiter refused {what}: transaction not fully signed (code {code}): {detail}",
            status=status,
            code=code,
        )
    hint = "; check the API key" if status in (401, 403) else ""
    shown = f" (code {code})" if code is not None else ""
    return RequestRejectedError(
        f"Jupiter refused {what} with HTTP {status}{shown}: {detail}{hint}",
        status=status,
        code=code,
    )


def exhausted(
    exc: RetriesExhaustedError, what: str, outcome_unknown: bool, secrets: Iterable[str] = ()
) -> VenueError:
    """The error when retries ran out; `outcome_unknown` (an `/execute`) says the swap may have
    executed, with the signature Jupiter's last answer named, if any."""
    signature = None
    if exc.response is not None:
        try:
            data = exc.response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("signature"), str):
            signature = data["signature"]
    tail = ""
    if outcome_unknown:
        tail = "; the swap may have executed: check the chain before signing again"
        if signature:
            tail += f" (signature {signature})"
    if exc.status == 429:
        return RateLimitedError(
            f"Jupiter rate-limited {what} {exc.attempts} times (HTTP 429); lower the request "
            f"rate or use a higher plan{tail}",
            status=429,
            signature=signature,
            outcome_unknown=outcome_unknown,
        )
    problem = one_line(exc.problem, secrets)
    return VenueServerError(
        f"Jupiter failed {what} {exc.attempts} times; last: {problem}{tail}",
        status=exc.status,
        signature=signature,
        outcome_unknown=outcome_unknown,
    )


def one_line(text: str, secrets: Iterable[str] = ()) -> str:
    """Server text fit for an error message: one line, short, without secrets or blobs."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    text = _BLOB.sub("<redacted>", " ".join(text.split()))
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    return text
