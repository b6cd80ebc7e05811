"""`solbot webhook ...` as the operator uses it (both databases): add with the address shown
only as a hint from then on, list (also --json), test against a local endpoint that answers
as Discord does, the failed deliveries and their replay, remove; a key rotation re-seals the
addresses; and mistakes are one line and exit 2."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest

from local_http import QuietHandler, loopback_server
from solbot.store.db import Database
from solbot.store.types import utc_from_timestamp
from solbot.store.webhook_tables import WebhookDeliveryRow
from solbot.wallet.master import MasterKey

from .support import OLD, Run

TOKEN = "discordTokenAbc123"


class Discord(QuietHandler):
    """Discord's execute-webhook: 204 for the right token, 401 for another."""

    got: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != f"/api/webhooks/42/{TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        Discord.got.append(body)
        self.send_response(204)
        self.end_headers()


def test_add_list_test_and_remove(cli: Run, empty_url: str) -> None:
    Discord.got = []
    with loopback_server(Discord) as url:
        address = f"{url}/api/webhooks/42/{TOKEN}"
        added = cli("webhook", "add", "ops", address, "--kind", "discord")
        assert added.code == 0, added.err
        assert TOKEN not in added.out
        assert "webhook 'ops' added (discord, the operator's, http://127.0.0.1/…c123)" in added.out
        listed = cli("webhook", "list", "--json")
        (hook,) = json.loads(listed.out)["webhooks"]
        assert hook == {
            "name": "ops", "user": None, "kind": "discord",
            "address": "http://127.0.0.1/…c123",
            "events": ["alert", "breaker", "entry", "exit", "summary"],
            "pending": 0, "failed": 0,
        }  # fmt: skip
        assert TOKEN not in cli("webhook", "list").out
        tested = cli("webhook", "test", "ops")
        assert tested.code == 0, tested.err
        assert tested.out.strip() == "webhook 'ops' took the test message"
        (message,) = Discord.got
        assert message["content"].startswith("• a test from solbot")
        assert message["allowed_mentions"] == {"parse": []}
        wrong = cli("webhook", "add", "wrong", f"{url}/api/webhooks/42/nope", "--kind", "discord")
        assert wrong.code == 0
        refused = cli("webhook", "test", "wrong")
        assert refused.code == 2
        assert refused.error_line() == "error: webhook 'wrong' did not take the test: HTTP 401"
    assert cli("webhook", "remove", "ops").out.strip() == "webhook 'ops' removed"
    assert [h["name"] for h in json.loads(cli("webhook", "list", "--json").out)["webhooks"]] == [
        "wrong"
    ]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("add", "x", "http://10.0.0.5/hook"), "a webhook address must be https://"),
        (("add", "x", "https://e.org/h", "--kind", "teams"), "unknown kind 'teams'"),
        (("add", "x", "https://[::1/x"), "that is not a web address"),
        (("add", "x", "https://e.org/h", "--user", "nobody"), "no user 'nobody'"),
        (("remove", "nothing"), "no webhook named 'nothing'"),
        (("test", "nothing"), "no webhook named 'nothing'"),
        (("replay",), "name failed deliveries by id"),
        (("replay", "abcd"), "'abcd' names no failed deliveries"),
    ],
)
def test_mistakes_are_one_line(cli: Run, args: tuple[str, ...], said: str) -> None:
    outcome = cli("webhook", *args)
    assert outcome.code == 2
    assert said in outcome.error_line()


def test_failed_deliveries_listed_and_replayed(cli: Run, empty_url: str) -> None:
    assert cli("webhook", "add", "ops", "https://hooks.example.org/h/1").code == 0
    (hook,) = json.loads(cli("webhook", "list", "--json").out)["webhooks"]
    asyncio.run(_dead_letter(empty_url, "ops"))
    failed = json.loads(cli("webhook", "failed", "--json").out)["failed"]
    assert [(f["webhook"], f["event"], f["error"]) for f in failed] == [
        ("ops", "entry", "HTTP 404")
    ]
    assert "HTTP 404" in cli("webhook", "failed").out
    replayed = cli("webhook", "replay", failed[0]["id"][:8])
    assert replayed.out.strip() == "1 deliveries owed again"
    assert json.loads(cli("webhook", "failed", "--json").out)["failed"] == []
    (hook,) = json.loads(cli("webhook", "list", "--json").out)["webhooks"]
    assert (hook["pending"], hook["failed"]) == (1, 0)


async def _dead_letter(url: str, name: str) -> None:
    from sqlalchemy import select

    from solbot.store.webhook_tables import WebhookRow

    db = Database(url)
    try:
        async with db.session() as s:
            hook_id = await s.scalar(select(WebhookRow.id).where(WebhookRow.name == name))
            now = utc_from_timestamp(1_800_000_000)
            s.add(
                WebhookDeliveryRow(
                    id="d0a1b2c3-0000-4000-8000-000000000001", webhook_id=hook_id, kind="entry",
                    body="{}", state="dead", attempts=1, next_try_at=now, last_error="HTTP 404",
                    created_at=now,
                )
            )  # fmt: skip
    finally:
        await db.dispose()


def test_a_key_rotation_reseals_the_addresses(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    Discord.got = []
    with loopback_server(Discord) as url:
        address = f"{url}/api/webhooks/42/{TOKEN}"
        assert cli("webhook", "add", "ops", address, "--kind", "discord").code == 0
        new = MasterKey.generate()
        monkeypatch.setenv("MASTER_ENCRYPTION_KEY", new.hex())
        monkeypatch.setenv("MASTER_ENCRYPTION_KEY_OLD", OLD.hex())
        rotated = cli("rotate-master-key")
        assert rotated.code == 0, rotated.err
        monkeypatch.delenv("MASTER_ENCRYPTION_KEY_OLD")
        assert cli("webhook", "test", "ops").code == 0
    assert len(Discord.got) == 1


def test_the_address_can_be_piped_in(cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Off the command line (shell history, the process list): read from stdin."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(f"https://hooks.example.org/h/{TOKEN}\n"))
    added = cli("webhook", "add", "piped")
    assert added.code == 0, added.err
    assert TOKEN not in added.out
    assert "https://hooks.example.org/…c123" in added.out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert "no address" in cli("webhook", "add", "empty").error_line()
