"""The Telegram Login Widget, where the operator has a domain: a friend signs in with their
Telegram account instead of a `/web` link. Telegram's widget (on a page of its own, the only
one that runs Telegram's script) sends the browser back to `/signin/telegram/callback` with
the account's fields and a `hash`: the fields are Telegram's when the hash is the HMAC-SHA-256
of the sorted `key=value` lines keyed by SHA-256 of the bot's token (Telegram's documented
check, core.telegram.org/widgets/login). An answer is good for five minutes and once (its
hash is spent like a link: `Credentials.sign_in_telegram`), and only for a friend the bot
knows and has not refused."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

FRESH_SECONDS = 300  # an answer older than this is refused (Telegram's auth_date, wall clock)
SKEW_SECONDS = 60  # an auth_date this far in the future is still believed (clocks differ)
MAX_FIELDS = 12
MAX_VALUE = 512
WIDGET_SCRIPT = "https://telegram.org/js/telegram-widget.js?22"
HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class WidgetLogin:
    telegram_id: int
    auth_date: int
    hash: str


def check_string(fields: Mapping[str, str]) -> str:
    """Every field but the hash, sorted by name, as `key=value` lines."""
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")


def signature(fields: Mapping[str, str], bot_token: str) -> str:
    secret = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(secret, check_string(fields).encode(), hashlib.sha256).hexdigest()


def verify(fields: Mapping[str, str], bot_token: str, now: float) -> WidgetLogin | None:
    """The Telegram account these fields prove, or None (forged, altered, stale, malformed)."""
    given = fields.get("hash", "")
    if len(fields) > MAX_FIELDS or any(len(v) > MAX_VALUE for v in fields.values()):
        return None
    if not HEX64.fullmatch(given) or not hmac.compare_digest(
        signature(fields, bot_token), given.lower()
    ):
        return None
    try:
        telegram_id, auth_date = int(fields["id"]), int(fields["auth_date"])
    except (KeyError, ValueError):
        return None
    if not now - FRESH_SECONDS <= auth_date <= now + SKEW_SECONDS:
        return None
    return WidgetLogin(telegram_id, auth_date, given.lower())


def widget_page(bot: str, callback: str) -> str:
    """The page that shows Telegram's button: Telegram's script and nothing of ours."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>solbot: sign in with Telegram</title>
<style>body{{background:#0d1117;color:#e6edf3;font-family:system-ui,sans-serif;
display:grid;place-items:center;min-height:90vh}}a{{color:#4493f8}}</style></head>
<body><main><h1>Sign in with Telegram</h1>
<script async src="{WIDGET_SCRIPT}" data-telegram-login="{escape(bot)}" data-size="large"
 data-auth-url="{escape(callback)}"></script>
<p><a href="/">Back</a></p></main></body></html>
"""
