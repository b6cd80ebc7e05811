"""A webhook's address: which ones a webhook may post to, and the address sealed under the
master key (it carries the endpoint's token), bound to the webhook's id; re-sealed by a key
rotation like every other sealed secret."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.errors import UserError
from solbot.store.webhook_tables import WebhookRow
from solbot.wallet import redact, sealed_text
from solbot.wallet.master import MasterKey
from solbot.webhooks.public_only import literal_problem

MAX_URL = 2048
_LABEL = b"solbot-webhook-v1"


def check_address(url: str, *, public: bool = False) -> str:
    """`url` if a webhook may post to it: https, or plain http to this machine only (a token
    must not cross a network in clear); `public` (added from the dashboard): https to a host
    that is not this machine or a private address (`public_only`; a name is judged again at
    every connection). `UserError` naming what is wrong."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise UserError(f"that address is longer than {MAX_URL} characters")
    try:
        httpx.URL(url)  # what the sender will parse: an address it refuses is refused now
        parts = urlsplit(url)
        host = parts.hostname or ""
    except (ValueError, httpx.InvalidURL):
        raise UserError("that is not a web address (https://host/path)") from None
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise UserError("that is not a web address (https://host/path)")
    if public:
        problem = literal_problem(host) if host else "that address has no host"
        if parts.scheme != "https":
            problem = "a webhook added here must be https://"
        if problem is not None:
            raise UserError(f"{problem}: a webhook posts to the public internet only")
        return url
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _loopback(host):
        return url
    raise UserError(
        "a webhook address must be https:// (plain http only to this machine): its token "
        "would cross the network in clear"
    )


def hint_of(url: str) -> str:
    parts = urlsplit(url)
    tail = parts.path.rstrip("/")[-4:]
    return f"{parts.scheme}://{parts.hostname}/…{tail}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def seal_address(key: MasterKey, hook_id: str, url: str) -> bytes:
    return sealed_text.seal(key, key.webhook_key(), _LABEL, url, hook_id)


class AddressError(UserError):
    """A sealed address that does not open, and why (`sealed_text.Unsealed`)."""

    def __init__(self, name: str, why: sealed_text.Unsealed) -> None:
        advice = (
            "restart the bot after a key rotation"
            if why is sealed_text.Unsealed.OTHER_KEY
            else "add it again"
        )
        super().__init__(f"webhook {name!r}: its address {why.value}; {advice}")
        self.why = why


def open_address(key: MasterKey, hook_id: str, name: str, sealed: bytes) -> str:
    """The address to post to (the sender's only). It is registered with the log's masking
    (`redact.register`) as it is opened: a library's log line or an endpoint's answer that
    repeats it, or its path, shows a mask."""
    try:
        url = sealed_text.unseal(key, key.webhook_key(), _LABEL, sealed, hook_id)
    except sealed_text.SealError as exc:
        raise AddressError(name, exc.why) from None
    parts = urlsplit(url)
    redact.register(url, parts.path, f"{parts.path}?{parts.query}" if parts.query else "")
    return url


async def reseal_all(s: AsyncSession, old: MasterKey, new: MasterKey) -> None:
    """Every webhook's address sealed under `new` (a key rotation, in its transaction)."""
    for row in await s.scalars(select(WebhookRow)):
        url = open_address(old, row.id, row.name, row.url_sealed)
        row.url_sealed = seal_address(new, row.id, url)
