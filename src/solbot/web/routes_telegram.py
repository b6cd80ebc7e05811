"""The Telegram Login Widget's two pages: `/signin/telegram` shows Telegram's button (the only
page that runs Telegram's script, under a policy that allows it and nothing of ours), and
`/signin/telegram/callback` is where Telegram sends the browser back: checked, spent, and a
session opened (the same cookies as any sign-in), then the dashboard. Both are 404 unless the
operator turned the widget on (`SOLBOT_WEB_TELEGRAM_LOGIN`, with a bot token and an https
address)."""

from __future__ import annotations

import logging
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from solbot.web import secrets
from solbot.web.auth import Services, client_of, refuse_if_failing
from solbot.web.errors import ApiError
from solbot.web.routes_session import start_session
from solbot.web.services import WebServices
from solbot.web.telegram_login import FRESH_SECONDS, verify, widget_page

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
WIDGET_CSP = (
    "default-src 'none'; script-src https://telegram.org; frame-src https://oauth.telegram.org; "
    "style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
CALLBACK = "/signin/telegram/callback"
STARTED_COOKIE = "solbot_tg_started"


def _widget(web: WebServices) -> tuple[str, str]:
    """(the bot's username, its token) when the widget is on; 404 otherwise."""
    cfg = web.settings
    if cfg.web_telegram_login is None or cfg.telegram_login_problem is not None:
        raise ApiError(404, "signing in with Telegram is not set up here")
    assert cfg.telegram_bot_token is not None
    return cfg.web_telegram_login, cfg.telegram_bot_token.get_secret_value()


@router.get("/signin/telegram")
async def widget(web: Services) -> Response:
    bot, _token = _widget(web)
    page = widget_page(bot, web.settings.web_address + CALLBACK)
    response = HTMLResponse(page, headers={"Content-Security-Policy": WIDGET_CSP})
    # Proof that this browser began the sign-in: a callback address someone else's browser
    # opens (to sign it into their account) finds none. Lax: Telegram's return is a top-level
    # navigation from its own site.
    response.set_cookie(
        STARTED_COOKIE, secrets.new(), max_age=FRESH_SECONDS * 2, httponly=True, secure=True,
        samesite="lax", path="/signin/telegram",
    )  # fmt: skip
    return response


@router.get(CALLBACK)
async def callback(request: Request, web: Services) -> Response:
    _bot, token = _widget(web)
    address = client_of(request)
    refuse_if_failing(web, address)
    fields = dict(request.query_params)
    login = verify(fields, token, web.wall.now())
    began_here = bool(request.cookies.get(STARTED_COOKIE))
    opened = None
    if login is not None and began_here:
        opened = await web.credentials.sign_in_telegram(login)
    if opened is None:
        web.failed(address)
        log.info("a Telegram sign-in from %s was refused", address)
        return _refused(
            "That sign-in did not work: it is not Telegram's, it did not begin in this "
            "browser, it is older than five minutes or used already, or this Telegram account "
            "is not one of the bot's friends."
        )
    response = RedirectResponse("/", status_code=303)
    await start_session(request, response, web, opened)
    response.delete_cookie(STARTED_COOKIE, path="/signin/telegram", secure=True, samesite="lax")
    return response


def _refused(text: str) -> Response:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>solbot</title>'
        "</head><body><p>" + escape(text) + '</p><p><a href="/">Back</a></p></body></html>'
    )
    return HTMLResponse(page, status_code=401, headers={"Content-Security-Policy": PAGE_CSP})
