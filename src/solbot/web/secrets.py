"""The dashboard's secrets: 256-bit random values, each kind with its own prefix (so a log
line carrying one by accident is masked: `wallet.redact`), stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets

OPERATOR_TOKEN = "solbot_op_"  # an operator's API token (`solbot web token create`)
SIGN_IN_LINK = "solbot_ln_"  # a one-time sign-in link's secret (Telegram's /web)


def new(prefix: str = "") -> str:
    """A fresh secret: 32 random bytes, base64url, after `prefix`."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the database keeps of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(secret: str, expected_digest: str) -> bool:
    """Whether `secret` is the one `expected_digest` was made from (constant time)."""
    return hmac.compare_digest(digest(secret), expected_digest)
