"""A friend's own webhooks, added from the dashboard: https to the public internet only (a
literal private address or this machine refused as it is added, a name judged as it resolves
at every post), five at most, theirs only (another's is "no webhook"), audited under their
name, the address never answered back. Both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from solbot.config import Settings
from solbot.errors import UserError
from solbot.events import Event
from solbot.store.tables import AuditRow
from solbot.store.webhook_tables import WebhookDeliveryRow, WebhookRow
from solbot.webhooks import public_only, sender
from solbot.webhooks.dispatcher import WebhookDispatcher
from solbot.webhooks.registry import Webhooks
from web.conftest import Site, site_of

from .conftest import Endpoints, Group

DISCORD = "https://discord.com/api/webhooks/42/friend-token-7d3c"
HOOKS = "/api/v1/users/alice/webhooks"


@pytest.fixture
async def site(db_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    async with site_of(db_url, tmp_path) as made:
        yield made


@pytest.fixture
def resolving_to(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Names resolve to the given addresses, here and nowhere else (no DNS query leaves)."""

    def answer(*addresses: str) -> None:
        async def resolve(host: str, port: int) -> list[str]:
            return list(addresses)

        monkeypatch.setattr(public_only, "resolve", resolve)

    return answer


async def test_a_friend_adds_lists_and_removes_their_own(site: Site) -> None:
    alice = await site.signed_in("alice")
    added = await alice.post(HOOKS, json={"name": "alice-discord", "url": DISCORD})
    assert added.status_code == 200, added.text
    assert "friend-token" not in added.text
    (listed,) = (await alice.get(HOOKS)).json()
    assert listed["name"] == "alice-discord"
    assert listed["kind"] == "discord"
    assert listed["address"] == "https://discord.com/…7d3c"
    assert listed["events"] == ["breaker", "entry", "exit", "summary"]
    assert listed["from_dashboard"] is True
    async with site.db.session() as s:
        row = await s.scalar(select(WebhookRow))
        assert row is not None
        assert row.created_by == "web:alice"
        assert b"friend-token" not in row.url_sealed
        audit = list(await s.scalars(select(AuditRow.action).where(AuditRow.actor == "web:alice")))
    assert "webhook_add" in audit
    bob = await site.signed_in("bob")
    assert (await bob.get("/api/v1/users/bob/webhooks")).json() == []  # alice's are hers
    gone = await alice.delete(f"{HOOKS}/alice-discord")
    assert gone.json() == {"changed": True, "message": "webhook 'alice-discord' removed"}
    assert (await alice.get(HOOKS)).json() == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/x", "must be https://"),
        ("https://127.0.0.1:8780/api/v1/group/pause", "not on the public internet"),
        ("https://localhost/x", "this machine"),
        ("https://[::1]/x", "not on the public internet"),
        ("https://169.254.169.254/latest/meta-data", "not on the public internet"),
        ("https://10.0.0.1/hook", "not on the public internet"),
        ("https://192.168.1.1/admin", "not on the public internet"),
        ("not an address", "not a web address"),
    ],
)
async def test_an_address_off_the_public_internet_is_refused(
    site: Site, url: str, says: str
) -> None:
    alice = await site.signed_in("alice")
    refused = await alice.post(HOOKS, json={"name": "sneaky", "url": url})
    assert refused.status_code == 409, refused.text
    message = refused.json()["error"]["message"]
    assert says in message
    assert url not in message
    assert (await alice.get(HOOKS)).json() == []


async def test_five_at_most_and_only_ones_own_removed(site: Site) -> None:
    alice = await site.signed_in("alice")
    for n in range(5):
        added = await alice.post(HOOKS, json={"name": f"a{n}", "url": f"{DISCORD}{n}"})
        assert added.status_code == 200, added.text
    sixth = await alice.post(HOOKS, json={"name": "a5", "url": DISCORD})
    assert sixth.status_code == 409
    assert "remove one first" in sixth.json()["error"]["message"]
    await Webhooks(site.services.custody).add("bobs", DISCORD, actor="cli", username="bob")
    theirs = await alice.delete(f"{HOOKS}/bobs")  # bob's, by its name, from alice's account
    assert theirs.status_code == 409
    assert "no webhook named 'bobs'" in theirs.json()["error"]["message"]
    assert "bobs" in [h.name for h in await Webhooks(site.services.custody).all()]
    assert (await alice.post(f"{HOOKS}/bobs/test")).status_code == 409


async def test_five_at_most_when_many_are_added_at_once(group: Group) -> None:
    hooks = Webhooks(group.custody)

    async def add(n: int) -> bool:
        try:
            await hooks.add(f"r{n}", f"{DISCORD}{n}", actor="web:alice", username="alice")
        except UserError:
            return False
        return True

    added = await asyncio.gather(*(add(n) for n in range(12)))
    assert sum(added) == 5
    assert len(await hooks.of_user("alice")) == 5


async def test_a_name_that_resolves_inward_is_refused_when_posted_to(
    site: Site,
    resolving_to,  # type: ignore[no-untyped-def]
) -> None:
    """Public when added (a name is not resolved then), 127.0.0.1 when the bot posts: the
    connection is refused, not made."""
    resolving_to("127.0.0.1")
    alice = await site.signed_in("alice")
    url = "https://rebind.example.com/hook"
    assert (await alice.post(HOOKS, json={"name": "rebind", "url": url})).status_code == 200
    tested = (await alice.post(f"{HOOKS}/rebind/test")).json()
    assert tested == {"changed": False, "message": f"webhook 'rebind' did not: {sender.PRIVATE}"}


async def test_the_loop_never_posts_a_dashboard_webhook_inward(
    group: Group,
    endpoints: Endpoints,
    resolving_to,  # type: ignore[no-untyped-def]
) -> None:
    """The same endpoint on 127.0.0.1: the operator's webhook gets the event; the one alice
    added from the dashboard, whose name resolves there, is a dead letter at once."""
    resolving_to("127.0.0.1")
    hooks = Webhooks(group.custody)
    await hooks.add("ops", endpoints.json(), actor="cli")
    port = endpoints.url.rsplit(":", 1)[1]
    await hooks.add(
        "alices", f"https://inward.example.com:{port}/hook", actor="web:alice", username="alice"
    )
    sending = WebhookDispatcher(group.db, group.key, Settings(), group.clock, group.wall)
    try:
        sending.on_event(
            Event(group.clock.now(), group.users["alice"], "entry", "bought", user="alice")
        )
        await sending.flush()
    finally:
        await sending.stop()
    assert [body["text"] for body in endpoints.received["json"]] == ["bought"]
    async with group.db.session() as s:
        rows = list(await s.scalars(select(WebhookDeliveryRow)))
    (dead,) = rows
    assert (dead.state, dead.last_error) == ("dead", sender.PRIVATE)
