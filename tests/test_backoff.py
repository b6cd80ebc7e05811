"""One back-off rule for every retry: the HTTP clients', the chain's, the quarantine's and the
secret-message deletions' waits are the same doubling, capped, for any failure count."""

from __future__ import annotations

from solbot.backoff import doubling
from solbot.chain.retrying import CHAIN_RETRIES
from solbot.http_retry import RetryPolicy
from solbot.quarantine import BackoffPolicy
from solbot.telegram.deletions import backoff as deletion_backoff


def test_the_wait_doubles_from_the_first_up_to_the_cap() -> None:
    assert [doubling(2.0, 30.0, n) for n in range(1, 7)] == [2, 4, 8, 16, 30, 30]
    assert doubling(2.0, 30.0, 0) == 2.0  # a count below 1 is the first failure
    assert doubling(0.5, 8.0, 10**6) == 8.0  # no overflow, however long it failed


def test_every_retry_uses_it() -> None:
    assert [RetryPolicy(backoff=2.0, max_backoff=60.0).delay(n) for n in (1, 2, 6, 7)] == [
        2.0, 4.0, 60.0, 60.0,
    ]  # fmt: skip
    assert [CHAIN_RETRIES.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert [BackoffPolicy().delay(n) for n in (1, 2, 7, 99)] == [30.0, 60.0, 1800.0, 1800.0]
    assert [deletion_backoff(a) for a in (0, 1, 2, 20)] == [2.0, 4.0, 8.0, 300.0]
