"""`/web`: a friend's one-time sign-in link to the dashboard, sent protected and without a
link preview (Telegram's preview fetcher must not be the one to open it), its secret in the
address's fragment (never sent to a server, so never in an access log), and deleted from the
chat once it can no longer be used (ten wall-clock minutes)."""

from __future__ import annotations

import httpx

from solbot.web.app import create_app
from solbot.web.credentials import LINK_SECONDS
from solbot.web.services import WebServices
from telegram_bot.conftest import ALICE, World
from telegram_bot.test_basics import onboard
from telegram_bot.test_notifications import user_of
from telegram_bot.test_sensitive import deleted


async def test_web_sends_a_one_time_link_that_disappears(world: World) -> None:
    await onboard(world, ALICE)
    answer = await world.api.reply_to(ALICE, "/web")
    assert answer.params.get("protect_content") in (True, "true", "True")
    preview = answer.params.get("link_preview_options") or {}
    assert preview.get("is_disabled") is True
    url = next(word for word in answer.text.split() if "/signin#" in word)
    base, secret = url.split("#", 1)
    assert base == "http://127.0.0.1:8780/signin"
    assert secret.startswith("solbot_ln_")
    # The link signs alice in, once.
    services = world.services
    web = WebServices(services.settings, services.custody, services.clock, wall=services.wall)
    transport = httpx.ASGITransport(app=create_app(web))
    async with httpx.AsyncClient(transport=transport, base_url="https://dash") as browser:
        signed = await browser.post("/api/v1/session", json={"secret": secret})
        assert signed.json()["username"] == (await user_of(world, ALICE)).username
        again = await browser.post("/api/v1/session", json={"secret": secret})
        assert again.status_code == 401
    # Gone from the chat when it expires.
    message_id = answer.result["message_id"]
    world.pass_time(LINK_SECONDS + 1)
    await world.api.wait_for(lambda c: deleted(world, ALICE, message_id))


async def test_web_needs_a_wallet_and_no_arguments(world: World) -> None:
    assert "/start" in (await world.api.reply_to(ALICE, "/web")).text
    await onboard(world, ALICE)
    assert (await world.api.reply_to(ALICE, "/web now")).text == "Usage: /web"
