"""Exponential back-off, written once: the HTTP clients' retries (`http_retry.RetryPolicy`, which
the chain's retries use too), the order quarantine (`quarantine.BackoffPolicy`) and the deletion
of secret chat messages (`telegram.deletions`) all wait `first × 2**(n-1)` after the n-th failure
in a row, capped."""

from __future__ import annotations


def doubling(first: float, cap: float, failures: int) -> float:
    """Seconds to wait after the `failures`-th failure in a row (1-based; 0 or less counts as
    1): `first`, then twice that, and so on up to `cap`. Safe for any count (no float
    overflow)."""
    n = max(1, failures)
    if n >= 64 or first * 2.0 ** (n - 1) > cap:
        return cap
    return first * 2.0 ** (n - 1)
