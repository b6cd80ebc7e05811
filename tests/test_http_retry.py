"""The shared limiter and retry policy (their use over HTTP is tested with each client)."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from solbot.clock import ManualClock
from solbot.http_retry import (
    RateLimiter,
    RetriesExhaustedError,
    RetryPolicy,
    is_retryable_status,
    rate_window_wait,
    retry_after_seconds,
    send_with_retries,
)

T0 = 1_750_000_000.0


async def test_per_second_limiter_spaces_calls() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter.per_second(clock, 0.5)
    times = []
    for _ in range(3):
        await limiter.acquire()
        times.append(clock.now())
    assert times == [T0, T0 + 2.0, T0 + 4.0]
    assert limiter.interval == 2.0


@pytest.mark.parametrize("rate", [0.0, -1.0, float("inf"), float("nan")])
def test_a_rate_must_be_positive_and_finite(rate: float) -> None:
    with pytest.raises(ValueError, match="positive number"):
        RateLimiter.per_second(ManualClock(), rate)


def test_policy_delays_double_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=6, backoff=1.0, max_backoff=5.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)


def test_retryable_statuses() -> None:
    assert [s for s in (200, 400, 404, 429, 500, 503) if is_retryable_status(s)] == [429, 500, 503]


def test_retry_after_reads_seconds_and_dates_within_the_cap() -> None:
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after_seconds(answer("7"), T0, 60.0) == 7.0
    assert retry_after_seconds(answer("9999"), T0, 60.0) == 60.0
    assert retry_after_seconds(answer("-3"), T0, 60.0) == 0.0
    assert retry_after_seconds(answer(formatdate(T0 + 30, usegmt=True)), T0, 60.0) == 30.0
    assert retry_after_seconds(answer("soon"), T0, 60.0) is None
    assert retry_after_seconds(httpx.Response(429), T0, 60.0) is None


async def test_exhaustion_keeps_the_last_answer() -> None:
    clock = ManualClock(T0)
    answers = iter([httpx.Response(503), httpx.Response(500, json={"error": "x"})])

    async def send() -> httpx.Response:
        return next(answers)

    with pytest.raises(RetriesExhaustedError, match="failed 2 times; last: HTTP 500") as caught:
        await send_with_retries(
            send,
            clock=clock,
            limiter=RateLimiter.per_second(clock, 100.0),
            policy=RetryPolicy(max_attempts=2, backoff=3.0),
        )
    assert caught.value.status == 500
    assert caught.value.response is not None
    assert caught.value.response.json() == {"error": "x"}
    assert clock.now() == T0 + 3.0  # one back-off, none after the last attempt


async def test_a_final_answer_is_returned_at_once() -> None:
    clock = ManualClock(T0)
    sends = 0

    async def send() -> httpx.Response:
        nonlocal sends
        sends += 1
        return httpx.Response(404)

    response = await send_with_retries(
        send, clock=clock, limiter=RateLimiter.per_second(clock, 1.0), policy=RetryPolicy()
    )
    assert (response.status_code, sends, clock.now()) == (404, 1, T0)


def test_the_rate_window_headers_say_when_there_is_room_again() -> None:
    def answer(remaining: str, reset: str) -> httpx.Response:
        return httpx.Response(
            200, headers={"x-ratelimit-remaining": remaining, "x-ratelimit-reset": reset}
        )

    assert rate_window_wait(answer("0", "7"), T0, 60.0) == 7.0  # seconds to wait
    assert rate_window_wait(answer("0", str(int(T0) + 12)), T0, 60.0) == 12.0  # a Unix time
    assert rate_window_wait(answer("0", str(int(T0 * 1000) + 1500)), T0, 60.0) == 1.5  # in ms
    assert rate_window_wait(answer("0", "9999"), T0, 60.0) == 60.0  # within the cap
    assert rate_window_wait(answer("3", "7"), T0, 60.0) is None  # room left: no wait
    assert rate_window_wait(answer("0", "soon"), T0, 60.0) is None
    assert rate_window_wait(httpx.Response(200), T0, 60.0) is None


async def test_an_empty_window_holds_the_shared_limiter_until_it_resets() -> None:
    """Jupiter counts every key of an account in one window: when its headers say the window
    is spent, no client sharing the limiter sends before it resets (instead of earning 429s)."""
    clock = ManualClock(T0)
    limiter = RateLimiter.per_second(clock, 100.0)
    sent: list[float] = []
    answers = iter(
        [
            httpx.Response(200, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "9"}),
            httpx.Response(200, headers={"x-ratelimit-remaining": "59"}),
        ]
    )

    async def send() -> httpx.Response:
        sent.append(clock.now())
        return next(answers)

    for _ in range(2):
        await send_with_retries(send, clock=clock, limiter=limiter, policy=RetryPolicy())
    assert sent == [T0, T0 + 9.0]


async def test_a_429_without_retry_after_waits_for_the_window() -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter.per_second(clock, 100.0)
    sent: list[float] = []
    answers = iter(
        [
            httpx.Response(429, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "20"}),
            httpx.Response(200),
        ]
    )

    async def send() -> httpx.Response:
        sent.append(clock.now())
        return next(answers)

    policy = RetryPolicy(backoff=1.0)
    response = await send_with_retries(send, clock=clock, limiter=limiter, policy=policy)
    assert response.status_code == 200
    assert sent == [T0, T0 + 20.0]  # the window's reset, not the 1 s back-off
