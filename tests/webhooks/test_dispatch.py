"""The loop's events to webhooks, end to end against local endpoints that answer as Discord,
Slack and a JSON receiver do (both databases): each event reaches the operator's webhooks and
its user's, in each endpoint's shape; failures wait and try again, an endpoint's "never"
and too many tries end in the dead-letter log, which is replayed; what was recorded before a
crash is delivered by the next run; and the address (its token) is never in the database in
clear, in a listing, an error or the log."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.responses import JSONResponse, Response

from solbot.config import Settings
from solbot.errors import UserError
from solbot.events import Event
from solbot.store.tables import AuditRow
from solbot.store.webhook_tables import WebhookDeliveryRow, WebhookRow
from solbot.wallet.master import MasterKey
from solbot.webhooks.addresses import reseal_all
from solbot.webhooks.dispatcher import WebhookDispatcher
from solbot.webhooks.formats import HookKind
from solbot.webhooks.outbox import MAX_ATTEMPTS
from solbot.webhooks.registry import Webhooks

from .conftest import DISCORD_TOKEN, START, Endpoints, Group

DISCORD, SLACK = HookKind.DISCORD, HookKind.SLACK


def dispatcher(group: Group) -> WebhookDispatcher:
    return WebhookDispatcher(group.db, group.key, Settings(), group.clock, group.wall)


async def three_hooks(group: Group, endpoints: Endpoints) -> Webhooks:
    hooks = Webhooks(group.custody)
    await hooks.add(
        "ops", endpoints.discord(), actor="cli", kind=DISCORD
    )  # the operator's: everything
    await hooks.add(
        "alice", endpoints.slack(), actor="cli", username="alice", events="entry,exit", kind=SLACK
    )
    await hooks.add("bob", endpoints.json(), actor="cli", username="bob")
    return hooks


def event(group: Group, kind: str, user: str | None, text: str) -> Event:
    user_id = group.users[user] if user else None
    return Event(START, user_id, kind, text, user or "")


async def test_each_event_reaches_the_operator_and_its_user(
    group: Group, endpoints: Endpoints
) -> None:
    await three_hooks(group, endpoints)
    sender = dispatcher(group)
    sender.start()
    try:
        sender.on_event(event(group, "entry", "alice", "bought 12.5 JUP for 6.00 USDC <@here>"))
        sender.on_event(event(group, "breaker", "bob", "daily loss limit: entries stop"))
        sender.on_event(event(group, "decrypt_alert", None, "decryption burst: 40 in a minute"))
        sender.on_event(event(group, "prices", None, "no prices this tick"))  # not a webhook's
        await sender.flush()
    finally:
        await sender.stop()
    discord = [m["content"] for m in endpoints.received["discord"]]
    assert discord == [
        "🟢 **alice** bought 12.5 JUP for 6.00 USDC <@here>",
        "⛔ **bob** daily loss limit: entries stop",
        "🚨 decryption burst: 40 in a minute",
    ]
    assert all(m["allowed_mentions"] == {"parse": []} for m in endpoints.received["discord"])
    (slack,) = endpoints.received["slack"]  # alice's: her entry only
    assert slack == {"text": "🟢 *alice* bought 12.5 JUP for 6.00 USDC &lt;@here&gt;"}
    (generic,) = endpoints.received["json"]  # bob's: his breaker, never the operator's alert
    assert generic["event"] == "breaker"
    assert generic["group"] == "breaker"
    assert generic["user"] == "bob"
    assert generic["world"] == "sim"
    assert generic["at"].startswith("2027-01-15T08:00:00")
    async with group.db.session() as s:
        assert list(await s.scalars(select(WebhookDeliveryRow))) == []  # all delivered


async def test_a_failure_waits_and_tries_again(group: Group, endpoints: Endpoints) -> None:
    await Webhooks(group.custody).add("ops", endpoints.discord(), actor="cli", kind=DISCORD)
    endpoints.fail("discord", Response(status_code=502))
    endpoints.fail("discord", JSONResponse({"retry_after": 30.5, "global": False}, 429))
    sender = dispatcher(group)
    sender.on_event(event(group, "exit", "alice", "sold 12.5 JUP (stop-loss hit)"))
    await sender._record_queued()
    assert await sender.send_due() == 0  # 502: later
    (row,) = await rows(group)
    assert (row.attempts, row.state, row.last_error) == (1, "pending", "HTTP 502")
    assert await sender.send_due() == 0  # not due yet
    group.wall.advance(2)
    assert await sender.send_due() == 0  # 429: as long as Discord asks
    (row,) = await rows(group)
    assert row.next_try_at.timestamp() >= group.wall.now() + 30.5
    group.wall.advance(31)
    assert await sender.send_due() == 1
    assert [m["content"] for m in endpoints.received["discord"]] == [
        "🔴 **alice** sold 12.5 JUP (stop-loss hit)"
    ]
    assert await rows(group) == []
    await sender.stop()


async def test_never_and_too_many_tries_are_dead_letters_replayed(
    group: Group, endpoints: Endpoints, caplog: pytest.LogCaptureFixture
) -> None:
    hooks = Webhooks(group.custody)
    await hooks.add("ops", endpoints.discord(), actor="cli", kind=DISCORD)
    await hooks.add("bob", endpoints.json(), actor="cli", username="bob")
    endpoints.fail("discord", JSONResponse({"message": "Unknown Webhook", "code": 10015}, 404))
    endpoints.fail("json", *[Response(status_code=500) for _ in range(MAX_ATTEMPTS)])
    sender = dispatcher(group)
    sender.on_event(event(group, "entry", "bob", "bought 1 JUP"))
    await sender._record_queued()
    with caplog.at_level(logging.WARNING):
        for _ in range(MAX_ATTEMPTS):
            await sender.send_due()
            group.wall.advance(601)
    dead = await sender.outbox.dead()
    assert sorted((d.webhook, d.attempts) for d in dead) == [("bob", MAX_ATTEMPTS), ("ops", 1)]
    assert {d.last_error for d in dead} == {
        "HTTP 500",
        'HTTP 404: {"message":"Unknown Webhook","code":10015}',
    }
    assert "solbot webhook failed" in caplog.text
    assert DISCORD_TOKEN not in caplog.text
    assert await sender.outbox.replay() == 2  # the endpoints mend; the log is replayed
    assert await sender.send_due() == 2
    assert endpoints.received["discord"][0]["content"] == "🟢 **bob** bought 1 JUP"
    assert endpoints.received["json"][0]["text"] == "bought 1 JUP"
    assert await sender.outbox.dead() == []
    await sender.stop()


async def test_what_was_recorded_before_a_crash_is_delivered_next_run(
    group: Group, endpoints: Endpoints
) -> None:
    await Webhooks(group.custody).add("ops", endpoints.discord(), actor="cli", kind=DISCORD)
    before = dispatcher(group)
    before.on_event(event(group, "entry", "alice", "bought 2 JUP"))
    await before._record_queued()  # written; the process dies before sending
    after = dispatcher(group)  # the next run
    after.start()
    try:
        await after.flush()
    finally:
        await after.stop()
    assert [m["content"] for m in endpoints.received["discord"]] == ["🟢 **alice** bought 2 JUP"]


async def test_a_daily_summary_for_those_who_want_one(group: Group, endpoints: Endpoints) -> None:
    hooks = Webhooks(group.custody)
    await hooks.add("alice", endpoints.json(), actor="cli", username="alice", events="summary")
    sender = dispatcher(group)
    assert await sender.summaries(START) == 1  # alice's hook only: not bob
    await sender.flush()
    (summary,) = endpoints.received["json"]
    assert summary["event"] == "summary"
    assert summary["user"] == "alice"
    assert summary["text"] == "your day: value 0.00 USDC, realised PnL +0.00 USDC, 0 trade(s)"
    await sender.stop()


async def test_the_address_is_a_sealed_secret(group: Group, endpoints: Endpoints) -> None:
    hooks = Webhooks(group.custody)
    added = await hooks.add("ops", endpoints.discord(), actor="cli", kind=DISCORD)
    assert DISCORD_TOKEN not in added.hint
    assert added.hint == "http://127.0.0.1/…4f9a"  # its last 4 characters only
    async with group.db.session() as s:
        (row,) = list(await s.scalars(select(WebhookRow)))
        audits = [(a.action, a.details) for a in await s.scalars(select(AuditRow))]
    assert DISCORD_TOKEN.encode() not in row.url_sealed
    assert DISCORD_TOKEN not in json.dumps([row.url_hint, row.events, row.name, audits])
    assert (
        "webhook_add",
        '{"events":"alert,breaker,entry,exit,summary","kind":"discord","name":"ops"}',
    ) in audits
    # Copied onto another webhook's row, a sealed address does not open.
    other = await hooks.add("copy", endpoints.json(), actor="cli")
    async with group.db.session() as s:
        copy = await s.get(WebhookRow, other.id)
        assert copy is not None
        copy.url_sealed = row.url_sealed
    sender = dispatcher(group)
    sender.on_event(event(group, "decrypt_alert", None, "burst"))
    await sender._record_queued()
    await sender.send_due()
    dead = await sender.outbox.dead()
    assert [(d.webhook, d.last_error) for d in dead] == [
        ("copy", "webhook 'copy': its address does not open; add it again")
    ]
    await sender.stop()


async def test_what_a_webhook_may_be(group: Group, endpoints: Endpoints) -> None:
    hooks = Webhooks(group.custody)
    for name, url, user, events, said in [
        ("Bad Name", endpoints.json(), None, None, "invalid webhook name"),
        ("lan", "http://192.168.1.5/hook", None, None, "must be https://"),
        ("ftp", "ftp://example.org/x", None, None, "must be https://"),
        ("mine", endpoints.json(), "alice", "alert", "unknown event group(s) alert"),
        ("who", endpoints.json(), "carol", None, "no user 'carol'"),
        ("odd", endpoints.json(), None, "entry,lunch", "unknown event group(s) lunch"),
    ]:
        with pytest.raises(UserError, match=said.replace("(", r"\(").replace(")", r"\)")):
            await hooks.add(name, url, actor="cli", username=user, events=events)
    await hooks.add("ops", endpoints.json(), actor="cli")
    with pytest.raises(UserError, match="exists"):
        await hooks.add("ops", endpoints.json(), actor="cli")
    await hooks.remove("ops", actor="cli")
    assert await hooks.all() == []
    with pytest.raises(UserError, match="no webhook named 'ops'"):
        await hooks.remove("ops", actor="cli")


async def rows(group: Group) -> list[WebhookDeliveryRow]:
    async with group.db.session() as s:
        return list(await s.scalars(select(WebhookDeliveryRow)))


async def test_the_address_never_reaches_the_log(
    group: Group, endpoints: Endpoints, tmp_path: Path
) -> None:
    """httpx logs every request's address at info (`solbot run --verbose`); an endpoint may
    echo it back in an error: the log file shows a mask."""
    from solbot.logs import NOISY, log_to_file

    log = tmp_path / "solbot.log"
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY}
    log_to_file(log, verbose=True, level="info")
    try:
        await Webhooks(group.custody).add("ops", endpoints.discord(), actor="cli", kind=DISCORD)
        endpoints.fail("discord", Response(f"Cannot POST {endpoints.discord()}", 404))
        sender = dispatcher(group)
        sender.on_event(event(group, "entry", "alice", "bought 1 JUP"))
        sender.on_event(event(group, "exit", "alice", "sold 1 JUP"))
        await sender.flush()
        await sender.stop()
        for handler in root.handlers:
            handler.flush()
        written = log.read_text()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in noisy.items():
            logging.getLogger(name).setLevel(was)
    assert "HTTP Request: POST" in written  # httpx did log the requests ...
    assert DISCORD_TOKEN not in written  # ... with the address masked
    (dead,) = await sender.outbox.dead()
    assert DISCORD_TOKEN not in str(dead.last_error)
    assert "<redacted secret>" in str(dead.last_error)


async def test_one_bad_row_or_a_silent_endpoint_never_holds_the_others(
    group: Group, endpoints: Endpoints
) -> None:
    from solbot.webhooks.addresses import seal_address

    hooks = Webhooks(group.custody)
    await hooks.add("silent", "http://127.0.0.1:9/never", actor="cli")  # nobody there
    broken = await hooks.add("broken", endpoints.json(), actor="cli")
    await hooks.add("good", endpoints.json(), actor="cli")
    async with group.db.session() as s:  # an address httpx refuses, sealed as if it were good
        row = await s.get(WebhookRow, broken.id)
        assert row is not None
        row.url_sealed = seal_address(group.key, broken.id, "https://127.0.0.1/a\nb")
    sender = dispatcher(group)
    for n in range(3):
        sender.on_event(event(group, "decrypt_alert", None, f"burst {n}"))
    await sender._record_queued()
    assert await sender.send_due() == 3  # the good endpoint got all three, in one pass
    assert [m["text"] for m in endpoints.received["json"]] == ["burst 0", "burst 1", "burst 2"]
    pending = {(d.webhook, d.attempts) for d in await sender.outbox._listed((), None)}
    assert ("silent", 1) in pending  # tried once this pass, then left for the next
    assert ("silent", 0) in pending
    dead = {d.webhook for d in await sender.outbox.dead()}
    assert dead == {"broken"}
    await sender.stop()


async def test_a_key_rotated_under_the_running_bot_waits_for_its_restart(
    group: Group, endpoints: Endpoints
) -> None:
    await Webhooks(group.custody).add("ops", endpoints.json(), actor="cli")
    running = dispatcher(group)  # the bot, with the key it started with
    new = MasterKey.generate()
    async with group.db.session() as s:
        await reseal_all(s, group.key, new)  # what rotate-master-key does to the addresses
    running.on_event(event(group, "key_rotated", None, "the master key was rotated"))
    await running._record_queued()
    assert await running.send_due() == 0
    assert await running.outbox.dead() == []  # not given up: owed to the restarted bot
    restarted = WebhookDispatcher(group.db, new, Settings(), group.clock, group.wall)
    group.wall.advance(301)
    assert await restarted.send_due() == 1
    assert endpoints.received["json"][0]["event"] == "key_rotated"
    await running.stop()
    await restarted.stop()
