"""Signing in with the Telegram Login Widget, where the operator turned it on: the widget's
page runs Telegram's script and nothing of ours; the callback opens a session for the friend
whose Telegram account Telegram vouched for (its hash checked as Telegram documents), once,
within five minutes; a forged, altered, stale or replayed answer, a stranger or a refused
friend signs nobody in. Off, both pages are 404 and the page does not offer it. Both
databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from solbot.config import Settings
from solbot.group_admin import REFUSED
from solbot.store.tables import AuditRow, TelegramAccessRow
from solbot.store.types import utc_from_timestamp
from solbot.web.telegram_login import signature
from web.conftest import START, TELEGRAM_IDS, Site, site_of

BOT_TOKEN = "123456:test-bot-token"
ON = {
    "web_telegram_login": "solbot_friends_bot",
    "telegram_bot_token": BOT_TOKEN,
    "web_url": "https://bot.example.org",
}


@pytest.fixture
async def widget_site(db_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    async with site_of(db_url, tmp_path / "data", **ON) as made:
        yield made


def answer(telegram_id: int, auth_date: float = START, token: str = BOT_TOKEN) -> dict[str, str]:
    """What Telegram's widget sends back (its fields and their hash)."""
    fields = {
        "id": str(telegram_id),
        "first_name": "Alice",
        "username": "alice_tg",
        "auth_date": str(int(auth_date)),
    }
    return {**fields, "hash": signature(fields, token)}


async def test_the_widgets_page_runs_telegrams_script_only(widget_site: Site) -> None:
    page = await widget_site.client().get("/signin/telegram")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src https://telegram.org;" in policy
    assert "'self'" not in policy.split("script-src")[1].split(";")[0]  # nothing of ours
    assert 'data-telegram-login="solbot_friends_bot"' in page.text
    assert 'data-auth-url="https://bot.example.org/signin/telegram/callback"' in page.text
    ways = await widget_site.client().get("/api/v1/sign-in")
    assert ways.json() == {"telegram_login": True}


async def started(site: Site) -> httpx.AsyncClient:
    """A browser that opened the widget's page (and so carries its cookie)."""
    browser = site.client()
    assert (await browser.get("/signin/telegram")).status_code == 200
    return browser


async def test_a_friend_signs_in_with_telegram(widget_site: Site) -> None:
    browser = await started(widget_site)
    back = await browser.get("/signin/telegram/callback", params=answer(TELEGRAM_IDS[0]))
    assert back.status_code == 303
    assert back.headers["location"] == "/"
    me = await browser.get("/api/v1/me")
    assert me.json() == {"role": "user", "username": "alice", "actor": "web:alice"}
    async with widget_site.db.session() as s:
        audits = [(a.actor, a.action, a.details) for a in await s.scalars(select(AuditRow))]
    assert ("web:alice", "web_sign_in", '{"via":"telegram"}') in audits
    # The same answer again (a copied address, a reloaded page): nobody.
    again = await (await started(widget_site)).get(
        "/signin/telegram/callback", params=answer(TELEGRAM_IDS[0])
    )
    assert again.status_code == 401
    assert "did not work" in again.text


@pytest.mark.parametrize(
    "case",
    [
        "forged",
        "altered",
        "stale",
        "future",
        "stranger",
        "no hash",
        "huge",
        "not hex",
        "not begun here",
    ],
)
async def test_what_signs_nobody_in(widget_site: Site, case: str) -> None:
    fields = answer(TELEGRAM_IDS[0])
    if case == "forged":
        fields = answer(TELEGRAM_IDS[0], token="999:another-bot")
    elif case == "altered":
        fields["id"] = str(TELEGRAM_IDS[1])  # bob's id under alice's hash
    elif case == "stale":
        fields = answer(TELEGRAM_IDS[0], auth_date=START - 301)
    elif case == "future":
        fields = answer(TELEGRAM_IDS[0], auth_date=START + 3600)
    elif case == "stranger":
        fields = answer(424242)
    elif case == "no hash":
        fields.pop("hash")
    elif case == "huge":
        fields["first_name"] = "A" * 5000
    elif case == "not hex":
        fields["hash"] = "é" * 64  # as long as a hash: compared, never a crash
    browser = widget_site.client() if case == "not begun here" else await started(widget_site)
    refused = await browser.get("/signin/telegram/callback", params=fields)
    assert refused.status_code == 401
    assert (await browser.get("/api/v1/me")).status_code == 401


async def test_a_refused_friend_is_not_signed_in(widget_site: Site) -> None:
    async with widget_site.db.session() as s:
        s.add(
            TelegramAccessRow(
                telegram_id=TELEGRAM_IDS[1], name="bob", state=REFUSED,
                asked_at=utc_from_timestamp(START), decided_at=utc_from_timestamp(START),
                decided_by="telegram:1",
            )
        )  # fmt: skip
    refused = await (await started(widget_site)).get(
        "/signin/telegram/callback", params=answer(TELEGRAM_IDS[1])
    )
    assert refused.status_code == 401


async def test_off_by_default(site: Site) -> None:
    anonymous = site.client()
    assert (await anonymous.get("/signin/telegram")).status_code == 404
    callback = await anonymous.get("/signin/telegram/callback", params=answer(TELEGRAM_IDS[0]))
    assert callback.status_code == 404
    assert (await anonymous.get("/api/v1/sign-in")).json() == {"telegram_login": False}


def test_turning_it_on_needs_a_token_and_https() -> None:
    assert Settings(**ON).telegram_login_problem is None
    no_token = {**ON, "telegram_bot_token": None}
    assert "needs TELEGRAM_BOT_TOKEN" in str(Settings(**no_token).telegram_login_problem)
    plain = {**ON, "web_url": "http://bot.example.org"}
    assert "needs SOLBOT_WEB_URL=https://" in str(Settings(**plain).telegram_login_problem)
