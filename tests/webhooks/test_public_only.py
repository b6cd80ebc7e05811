"""The webhooks added from the dashboard post only to the public internet: the address is
judged where the connection is made (every address the name resolves to), and the connection
goes to the address that was judged (no second lookup: DNS rebinding finds nothing to rebind).
A refused address is a dead letter at once; the operator's own webhooks may post anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import httpcore
import pytest

from solbot.webhooks import public_only, sender
from solbot.webhooks.public_only import PublicOnly, is_public, literal_problem

from .conftest import Endpoints

NOT_PUBLIC = [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.10", "::1", "::",
    "fe80::1", "fe80::1%eth0", "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3",
    "2002:7f00:1::", "2001:db8::1", "not an address", "64:ff9b::10.0.0.1",
    "64:ff9b::a9fe:a9fe", "64:ff9b:1::a00:1", "::127.0.0.1", "::ffff:0:7f00:1", "fec0::1",
    "100::1",
]  # fmt: skip
PUBLIC = [
    "8.8.8.8", "1.1.1.1", "162.159.128.233", "2606:4700:4700::1111", "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",
]  # fmt: skip


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_addresses_that_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public(address)


def test_a_literal_is_judged_when_added_a_name_when_posted_to() -> None:
    assert literal_problem("localhost") == "that address is this machine"
    assert literal_problem("api.localhost.") == "that address is this machine"
    assert literal_problem("127.0.0.1") == "that address is not on the public internet"
    assert literal_problem("[::1]") == "that address is not on the public internet"
    assert literal_problem("169.254.169.254") == "that address is not on the public internet"
    assert literal_problem("8.8.8.8") is None
    assert literal_problem("discord.com") is None  # resolved at each connection


class Recording(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.asked.append((host, port))
        raise httpcore.ConnectError("recorded, not connected")

    async def sleep(self, seconds: float) -> None:
        pass


def resolving_to(*addresses: str) -> public_only.Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


async def test_the_connection_goes_to_the_address_that_was_judged() -> None:
    inner = Recording()
    backend = PublicOnly(inner, resolving_to("8.8.8.8", "8.8.4.4"))
    with pytest.raises(httpcore.ConnectError, match="recorded"):
        await backend.connect_tcp("hooks.example.com", 443)
    assert inner.asked == [("8.8.8.8", 443)]  # the address, never the name again


@pytest.mark.parametrize(
    "answers", [("8.8.8.8", "127.0.0.1"), ("10.0.0.7",), ("::ffff:192.168.0.1",), ()]
)
async def test_a_name_with_any_address_not_public_is_refused(answers: tuple[str, ...]) -> None:
    inner = Recording()
    with pytest.raises(httpcore.ConnectError, match=public_only.REFUSED):
        await PublicOnly(inner, resolving_to(*answers)).connect_tcp("rebind.example.com", 443)
    assert inner.asked == []
    with pytest.raises(httpcore.ConnectError, match=public_only.REFUSED):
        await PublicOnly(inner).connect_unix_socket("/run/docker.sock")


async def test_a_name_that_does_not_resolve_is_not_reached() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    inner = Recording()
    with pytest.raises(httpcore.ConnectError, match="does not resolve"):
        await PublicOnly(inner, fails).connect_tcp("nowhere.invalid", 443)
    assert inner.asked == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_dashboard_webhook_never_reaches_this_machine(
    endpoints: Endpoints, host: str
) -> None:
    """Through the real client: the endpoint on 127.0.0.1 gets the operator's post and not the
    guarded one, which is a dead letter at once (waiting will not make it public)."""
    body = json.dumps({"content": "hello"})
    url = endpoints.json().replace("127.0.0.1", host)
    async with sender.client(public_only=True) as guarded:
        answer = await sender.post(guarded, url, body)
    assert (answer.delivered, answer.never, answer.error) == (False, True, sender.PRIVATE)
    assert endpoints.received == {}
    async with sender.client() as operators:
        assert (await sender.post(operators, url, body)).delivered
    assert endpoints.received["json"] == [{"content": "hello"}]
