"""Posting only to the public internet: the webhooks added from the dashboard.

A webhook a friend adds makes the bot's machine send a request wherever its address says. The
operator's own (`solbot webhook add`, which needs a shell and the master key) may point at
this machine or the home network on purpose; a friend's must not reach either: not the
dashboard or the sim server on 127.0.0.1, not the router's admin page, not a cloud's metadata
service (169.254.169.254). Checking the name once when it is added is not enough: the name can
resolve to a public address then and to 127.0.0.1 when the bot posts (DNS rebinding).

So the check is where the connection is made. `PublicOnly` is the network backend of the
client those webhooks are posted with: it resolves the host itself, refuses the connection
if any of its addresses is not a public one, and connects to the address it checked (pinned:
nothing resolves the name a second time). TLS still checks the certificate against the name
(httpcore gives the origin's host as the server name, whatever address it connected to), and
redirects are never followed (`sender.client`), so a public endpoint cannot bounce the post
inward. Only TCP: a Unix socket is refused outright."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

REFUSED = "refused: not a public address"

Resolver = Callable[[str, int], Awaitable[list[str]]]


GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")  # every public IPv6 address is in here
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # the well-known prefix: an IPv4 address inside


def is_public(address: str) -> bool:
    """True for an address of the public internet: not loopback, private, link-local, shared
    (CGNAT), multicast, reserved or documentation. An IPv6 address must be global unicast
    (2000::/3: not site-local, not IPv4-compatible or SIIT forms, not a local-use NAT64
    prefix); one that carries an IPv4 address (mapped, 6to4, Teredo, NAT64) is judged as the
    IPv4 address it leads to."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return is_public(str(inner))
        if ip not in GLOBAL_UNICAST:
            return False
    return ip.is_global and not ip.is_multicast


def literal_problem(host: str) -> str | None:
    """What is wrong with `host` without resolving it (checked when a webhook is added): a
    literal address that is not public, or a name of this machine. Names are judged as they
    resolve, at each connection."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "that address is this machine"
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return None
    return None if is_public(name) else "that address is not on the public internet"


async def resolve(host: str, port: int) -> list[str]:
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


class PublicOnly(httpcore.AsyncNetworkBackend):
    """Connects to `host` only if every address it resolves to is public, at the address it
    checked."""

    def __init__(
        self, inner: httpcore.AsyncNetworkBackend | None = None, resolver: Resolver | None = None
    ) -> None:
        self.inner = inner or httpcore.AnyIOBackend()
        self.resolver = resolver or resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.resolver(host, port)
        except (OSError, TimeoutError) as exc:
            why = f"the name does not resolve ({type(exc).__name__})"
            raise httpcore.ConnectError(why) from None
        if not addresses or not all(is_public(a) for a in addresses):
            raise httpcore.ConnectError(REFUSED)
        return await self.inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(REFUSED)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def public_transport(backend: PublicOnly | None = None) -> httpx.AsyncHTTPTransport:
    """httpx's transport with `PublicOnly` beneath it. httpx 0.28 builds its connection pool
    without a network backend option, so the pool is built here with the same TLS context
    (pinned in requirements; tests/webhooks/test_public_only.py fails if that changes)."""
    made = httpx.AsyncHTTPTransport(trust_env=False)
    limits = httpx.Limits()  # httpx's own defaults: idle connections closed after 5 s
    made._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend or PublicOnly(),
    )
    return made
