"""Polite HTTP for public APIs: a rate limiter and bounded retries on an injected `Clock`.

Every HTTP client of the bot (GeckoTerminal candles, Jupiter swaps and prices) faces the same
three facts: the provider allows a fixed number of calls per window and answers 429 beyond it,
its servers fail now and then (5xx, dropped connections), and tests must never really wait. So
the spacing of calls, the back-off and the reading of `Retry-After` live here once, on a `Clock`
that tests replace with `ManualClock`; each client keeps only what is its own (URLs, headers,
the meaning of a 4xx, the shape of an answer).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import httpx

from solbot.backoff import doubling
from solbot.clock import Clock

__all__ = [
    "HttpAnswer",
    "RateLimiter",
    "RetriesExhaustedError",
    "RetryPolicy",
    "is_retryable_status",
    "rate_window_wait",
    "retry_after_seconds",
    "send_with_retries",
]


class HttpAnswer(Protocol):
    """What the retry loop and the clients read of an HTTP answer. `httpx.Response` is one; the
    embedded sim's in-process Jupiter answers with a lighter one (`sim.jupiter_http.WireAnswer`).
    `headers` must look names up case-insensitively, as HTTP does."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self, **kwargs: Any) -> Any: ...


A = TypeVar("A", bound=HttpAnswer)


class RateLimiter:
    """At most `calls` per `period` seconds, spaced evenly (30 a minute: one every 2 s).

    Even spacing rather than bursts: a burst of 30 followed by a pause is also within the limit on
    paper, but spacing never trips a server whose window is measured differently from ours.
    One limiter is shared by every client that spends the same provider budget (Jupiter counts
    swap, price and token calls of an account in one bucket).
    """

    def __init__(self, clock: Clock, calls: int = 30, period: float = 60.0) -> None:
        if calls < 1 or not period > 0 or not math.isfinite(period):
            raise ValueError("a rate limit needs at least one call in a positive period")
        self._clock = clock
        self._interval = period / calls
        self._next = -math.inf
        self._lock = asyncio.Lock()

    @classmethod
    def per_second(cls, clock: Clock, rate: float) -> RateLimiter:
        """A limiter for a budget in requests per second (fractions allowed: 0.5 = one per 2 s)."""
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError(f"a rate limit must be a positive number of requests, got {rate}")
        return cls(clock, calls=1, period=1.0 / rate)

    @property
    def interval(self) -> float:
        """Seconds between two calls."""
        return self._interval

    def hold(self, until: float) -> None:
        """Send nothing before `until` (the provider said its window is spent until then)."""
        self._next = max(self._next, until)

    async def acquire(self) -> None:
        """Wait until the next call is allowed, then claim it."""
        async with self._lock:
            now = self._clock.now()
            if self._next > now:
                await self._clock.sleep(self._next - now)
                now = self._clock.now()
            self._next = max(now, self._next) + self._interval


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: `max_attempts` sends in all, waiting `backoff * 2**(n-1)` seconds (capped
    at `max_backoff`) after the n-th failure, or what the server's `Retry-After` asks (capped at
    `max_retry_after`, so a confused server cannot park the bot for a day)."""

    max_attempts: int = 5
    backoff: float = 2.0
    max_backoff: float = 60.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff < 0 or self.max_backoff < 0 or self.max_retry_after < 0:
            raise ValueError("back-off delays cannot be negative")

    def delay(self, attempt: int) -> float:
        """The back-off after failed attempt number `attempt` (1-based)."""
        return doubling(self.backoff, self.max_backoff, attempt)


class RetriesExhaustedError(Exception):
    """Every attempt failed in a retryable way. `response` is the last answer (None when the last
    attempt never got one, e.g. a refused connection); `problem` says what happened, briefly."""

    def __init__(self, attempts: int, response: HttpAnswer | None, problem: str) -> None:
        super().__init__(f"failed {attempts} times; last: {problem}")
        self.attempts = attempts
        self.response = response
        self.problem = problem

    @property
    def status(self) -> int | None:
        """The last HTTP status, or None when the last attempt got no answer."""
        return None if self.response is None else self.response.status_code


def is_retryable_status(status: int) -> bool:
    """429 and 5xx may succeed later; any other answer is final."""
    return status == 429 or status >= 500


def retry_after_seconds(response: HttpAnswer, now: float, cap: float) -> float | None:
    """The wait a `Retry-After` header asks for (seconds or an HTTP date), within `[0, cap]`;
    None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), cap)


# Rate-window headers (Jupiter sends `x-ratelimit-remaining`, `-current` and `-reset`; its docs
# do not say whether the reset is in seconds or a Unix time, so both are read).
RATE_REMAINING = "x-ratelimit-remaining"
RATE_RESET = "x-ratelimit-reset"
_UNIX_SECONDS = 1e9  # a reset this large is a point in time, not a duration
_UNIX_MILLISECONDS = 1e12


def rate_window_wait(response: HttpAnswer, now: float, cap: float) -> float | None:
    """Seconds until the provider's window has room again, when its `x-ratelimit-*` headers say
    none is left (`remaining` 0 and a `reset`: seconds, or a Unix time in s or ms), within
    `[0, cap]`; None when there is room, or the headers are absent or unreadable."""
    remaining, reset = response.headers.get(RATE_REMAINING), response.headers.get(RATE_RESET)
    if remaining is None or reset is None:
        return None
    try:
        left, value = float(remaining), float(reset)
    except ValueError:
        return None
    if not (math.isfinite(left) and math.isfinite(value)) or left > 0:
        return None
    if value >= _UNIX_MILLISECONDS:
        value = value / 1000.0 - now
    elif value >= _UNIX_SECONDS:
        value -= now
    return min(max(0.0, value), cap)


async def send_with_retries(
    send: Callable[[], Awaitable[A]],
    *,
    clock: Clock,
    limiter: RateLimiter,
    policy: RetryPolicy,
    on_send: Callable[[], None] | None = None,
) -> A:
    """Send until an answer is final, and return it (any status but 429 and 5xx).

    Each attempt first waits for the limiter. An answer whose rate-window headers say the window
    is spent holds the limiter until it resets (every client sharing it waits). A 429 waits what
    `Retry-After` asks, else the window's reset, else the back-off; a 5xx or a transport error
    (refused, reset, timed out) waits the back-off. Raises `RetriesExhaustedError` after
    `policy.max_attempts` retryable failures. Only use it for requests that are safe to repeat.
    """
    problem = ""
    last: A | None = None
    for attempt in range(1, policy.max_attempts + 1):
        await limiter.acquire()
        if on_send is not None:
            on_send()
        delay = policy.delay(attempt)
        try:
            response = await send()
        except httpx.TransportError as exc:
            last = None
            detail = " ".join(str(exc).split())[:120]
            problem = f"network error ({type(exc).__name__}{': ' + detail if detail else ''})"
        else:
            last = response
            status = response.status_code
            window = rate_window_wait(response, clock.now(), policy.max_retry_after)
            if window is not None:  # whoever shares the limiter waits for the window too
                limiter.hold(clock.now() + window)
            if not is_retryable_status(status):
                return response
            if status == 429:
                problem = "HTTP 429 Too Many Requests"
                asked = retry_after_seconds(response, clock.now(), policy.max_retry_after)
                if asked is None:
                    asked = window
                if asked is not None:
                    delay = asked
            else:
                problem = f"HTTP {status}"
        if attempt < policy.max_attempts:
            await clock.sleep(delay)
    raise RetriesExhaustedError(policy.max_attempts, last, problem)
