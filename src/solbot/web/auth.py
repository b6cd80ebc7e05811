"""Who is asking, and may they: the dependencies every route declares.

A request is signed in by a bearer token (`Authorization: Bearer solbot_op_...`, the
operator's scripts) or by a session cookie (a browser, after a one-time link or a token). A
session's actions must also carry its CSRF value in `X-CSRF-Token` (a cookie is sent by the
browser on its own; a header set by our page is not), and the cookie is `SameSite=Strict`
besides. Each caller has a request budget per minute.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from solbot.store.tables import UserRow
from solbot.store.users import Users
from solbot.web import secrets
from solbot.web.credentials import Principal
from solbot.web.errors import ApiError
from solbot.web.services import WebServices

SESSION_COOKIE = "solbot_session"
CSRF_COOKIE = "solbot_csrf"  # readable by our page, which echoes it in X-CSRF-Token
CSRF_HEADER = "x-csrf-token"
MAX_SECRET = 128  # our secrets are under 60 characters: anything longer is not one


async def services(request: Request) -> WebServices:
    """The services, with the loop's heartbeat read lately (its clock is the trading clock)."""
    web: WebServices = request.app.state.services
    await web.loop.refresh()
    return web


Services = Annotated[WebServices, Depends(services)]


def client_of(request: Request) -> str:
    return request.client.host if request.client is not None else "?"


def refuse_if_failing(web: WebServices, address: str) -> None:
    """429 before any lookup when this address (or everyone) failed too often lately."""
    wait = web.refused_lately(address)
    if wait > 0:
        headers = {"Retry-After": str(max(1, round(wait)))}
        raise ApiError(429, "too many failed sign-ins; wait a minute", headers=headers)


async def principal(request: Request, web: Services) -> Principal:
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if header is None and not cookie:
        raise ApiError(401, "sign in first")
    address = client_of(request)
    refuse_if_failing(web, address)
    if header is not None:
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret or len(secret) > MAX_SECRET:
            web.failed(address)
            raise ApiError(401, "use Authorization: Bearer <token>")
        who = await web.credentials.bearer(secret)
        if who is None:
            web.failed(address)
            raise ApiError(401, "that token is not valid (revoked, or never made here)")
    else:
        who = await web.credentials.session(cookie) if len(cookie or "") <= MAX_SECRET else None
        if who is None:
            web.failed(address)
            raise ApiError(401, "your session has ended; sign in again")
    if not web.requests.take(who.actor):
        wait = max(1, round(web.requests.retry_after(who.actor)))
        raise ApiError(429, "too many requests; slow down", headers={"Retry-After": str(wait)})
    return who


Caller = Annotated[Principal, Depends(principal)]


async def acting(request: Request, who: Caller) -> Principal:
    """A caller allowed to change something: a session's request carries its CSRF value."""
    if who.session_id is not None:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or who.csrf_digest is None or not secrets.same(sent, who.csrf_digest):
            raise ApiError(403, "missing or wrong CSRF token (reload the page)", code="csrf")
    return who


Actor = Annotated[Principal, Depends(acting)]


def operator_only(who: Principal) -> Principal:
    if not who.is_operator:
        raise ApiError(403, "only the operator may do this")
    return who


async def user_for(web: WebServices, who: Principal, username: str) -> UserRow:
    """The user `username`, if the caller may see them: their own account, or anyone's for the
    operator. A friend asking for another name is refused without saying whether it exists."""
    if not who.is_operator and username != who.username:
        raise ApiError(403, "you may only see your own account")
    async with web.db.session(read_only=True) as s:
        user = await Users(s, web.clock).by_username(username)
    if user is None:
        raise ApiError(404, f"no user named {username!r}")
    return user
