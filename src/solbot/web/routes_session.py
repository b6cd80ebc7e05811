"""Signing in and out, and who you are."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from solbot.web import models
from solbot.web.auth import (
    CSRF_COOKIE,
    MAX_SECRET,
    SESSION_COOKIE,
    Actor,
    Caller,
    Services,
    client_of,
    refuse_if_failing,
)
from solbot.web.credentials import OpenedSession, Principal
from solbot.web.errors import ApiError
from solbot.web.services import WebServices

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["session"])


def me_of(who: Principal) -> models.Me:
    return models.Me(
        role="operator" if who.is_operator else "user", username=who.username, actor=who.actor
    )


@router.post("/session", response_model=models.Me, summary="Sign in (a browser session)")
async def sign_in(
    body: models.SignIn, request: Request, response: Response, web: Services
) -> models.Me:
    """Exchange a one-time link's secret (good once, ten minutes) or an operator token for a
    session cookie (HTTP-only, Secure, SameSite=Strict) and a CSRF cookie the page echoes in
    `X-CSRF-Token` on every action."""
    address = client_of(request)
    refuse_if_failing(web, address)
    opened = await web.credentials.sign_in(body.secret.strip())
    if opened is None:
        web.failed(address)
        log.info("a sign-in from %s failed", address)
        raise ApiError(401, "that link or token is not valid (used, expired or revoked): ask again")
    await start_session(request, response, web, opened)
    return me_of(opened.principal)


async def start_session(
    request: Request, response: Response, web: WebServices, opened: OpenedSession
) -> None:
    """The session's cookies on `response` (HTTP-only, Secure, SameSite=Strict, and the CSRF
    value the page reads); the browser's earlier session ends."""
    earlier = request.cookies.get(SESSION_COOKIE)
    if earlier and len(earlier) <= MAX_SECRET:
        before = await web.credentials.session(earlier)
        if before is not None and before.session_id is not None:
            await web.credentials.sign_out(before.session_id)
    seconds = int(opened.expires_at - web.wall.now())
    for name, value, http_only in (
        (SESSION_COOKIE, opened.secret, True),
        (CSRF_COOKIE, opened.csrf, False),
    ):
        response.set_cookie(
            name,
            value,
            max_age=seconds,
            httponly=http_only,
            secure=True,
            samesite="strict",
            path="/",
        )


@router.get(
    "/sign-in", response_model=models.SignInWays, summary="How one may sign in here (anyone)"
)
async def sign_in_ways(web: Services) -> models.SignInWays:
    cfg = web.settings
    widget = cfg.web_telegram_login is not None and cfg.telegram_login_problem is None
    return models.SignInWays(telegram_login=widget)


@router.delete("/session", response_model=models.Done, summary="Sign out")
async def sign_out(who: Actor, response: Response, web: Services) -> models.Done:
    if who.session_id is not None:
        await web.credentials.sign_out(who.session_id)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=True, samesite="strict")
    return models.Done(changed=who.session_id is not None, message="signed out")


@router.get("/me", response_model=models.Me, summary="Who you are signed in as")
async def me(who: Caller) -> models.Me:
    return me_of(who)
