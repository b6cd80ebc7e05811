"""Signing in: operator tokens stored as digests, revocable (ending their sessions), listed
with their last use; one-time links good once, for ten wall-clock minutes, one winner when
two browsers race; every sign-in and token change audited. Both databases."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from solbot.errors import UserError
from solbot.store.tables import AuditRow
from solbot.store.web_tables import WebLinkRow, WebSessionRow, WebTokenRow
from solbot.web import secrets
from solbot.web.credentials import LINK_SECONDS, SESSION_SECONDS
from web.conftest import Site


async def dump(site: Site) -> str:
    """Every value of the sign-in tables, as text."""
    async with site.db.session() as s:
        out = []
        for table in ("web_tokens", "web_links", "web_sessions"):
            out += [repr(tuple(row)) for row in await s.execute(text(f"SELECT * FROM {table}"))]
    return "\n".join(out)


async def audit(site: Site) -> list[tuple[str, str]]:
    async with site.db.session() as s:
        rows = await s.scalars(select(AuditRow).order_by(AuditRow.seq))
        return [(r.actor, r.action) for r in rows]


async def test_secrets_are_stored_as_digests_only(site: Site) -> None:
    link = await site.services.credentials.create_link(site.users["alice"].id)
    browser = await site.signed_in("bob")
    stored = await dump(site)
    cookie = browser.cookies["solbot_session"]
    for secret in (site.operator_token, link, cookie, browser.headers["X-CSRF-Token"]):
        assert secret not in stored
    assert secrets.digest(site.operator_token) in stored
    assert site.operator_token.startswith(secrets.OPERATOR_TOKEN)


async def test_a_token_is_listed_with_its_last_use_and_revoked_with_its_sessions(
    site: Site,
) -> None:
    creds = site.services.credentials
    (listed,) = await creds.tokens()
    assert (listed.name, listed.last_used_at, listed.revoked_at) == ("laptop", None, None)
    operator = site.bearer()
    browser = await site.signed_in()  # a session opened with the token
    assert (await operator.get("/api/v1/me")).json()["actor"] == "web:operator:laptop"
    (listed,) = await creds.tokens()
    assert listed.last_used_at is not None
    assert await creds.revoke_token("laptop", actor="cli")
    assert not await creds.revoke_token("laptop", actor="cli")  # once
    assert (await operator.get("/api/v1/me")).status_code == 401
    assert (await browser.get("/api/v1/me")).status_code == 401  # its session ended too
    with pytest.raises(UserError, match="no token named"):
        await creds.revoke_token("nope", actor="cli")
    with pytest.raises(UserError, match="exists"):
        await creds.create_token("laptop", actor="cli")
    with pytest.raises(UserError, match="invalid token name"):
        await creds.create_token("has space", actor="cli")
    assert ("cli", "web_token_create") in await audit(site)
    assert ("cli", "web_token_revoke") in await audit(site)


async def test_a_browser_signed_in_with_a_token_notes_its_use(site: Site) -> None:
    browser = await site.signed_in()  # the operator, with the token, in a browser
    (before,) = await site.services.credentials.tokens()
    site.wall.advance(3600)
    assert (await browser.get("/api/v1/status")).status_code == 200
    (after,) = await site.services.credentials.tokens()
    assert before.last_used_at is not None
    assert after.last_used_at is not None
    assert after.last_used_at.timestamp() == site.wall.now()  # the session used the token


async def test_a_link_signs_in_once(site: Site) -> None:
    link = await site.services.credentials.create_link(site.users["alice"].id)
    first = site.client()
    answer = await first.post("/api/v1/session", json={"secret": link})
    assert answer.json() == {"role": "user", "username": "alice", "actor": "web:alice"}
    assert (await first.get("/api/v1/me")).json()["username"] == "alice"
    again = await site.client().post("/api/v1/session", json={"secret": link})
    assert again.status_code == 401
    assert ("web:alice", "web_sign_in") in await audit(site)


async def test_a_link_expires_after_ten_wall_minutes_whatever_the_trading_clock(
    site: Site,
) -> None:
    creds = site.services.credentials
    early = await creds.create_link(site.users["alice"].id)
    late = await creds.create_link(site.users["alice"].id)
    site.clock.advance(86_400)  # an accelerated sim's day: no matter
    assert (await site.client().post("/api/v1/session", json={"secret": early})).status_code == 200
    site.wall.advance(LINK_SECONDS + 1)
    assert (await site.client().post("/api/v1/session", json={"secret": late})).status_code == 401


async def test_a_session_ends_after_its_hours(site: Site) -> None:
    alice = await site.signed_in("alice")
    site.wall.advance(SESSION_SECONDS - 5)
    assert (await alice.get("/api/v1/me")).status_code == 200
    site.wall.advance(10)
    assert (await alice.get("/api/v1/me")).status_code == 401


async def test_two_browsers_racing_with_one_link_make_one_session(site: Site) -> None:
    link = await site.services.credentials.create_link(site.users["alice"].id)
    answers = await asyncio.gather(
        *[site.client().post("/api/v1/session", json={"secret": link}) for _ in range(6)]
    )
    assert sorted(a.status_code for a in answers) == [200] + [401] * 5
    async with site.db.session() as s:
        sessions = list(await s.scalars(select(WebSessionRow)))
        (used,) = list(await s.scalars(select(WebLinkRow)))
    assert len(sessions) == 1
    assert used.used_at is not None


async def test_signing_out_ends_the_session(site: Site) -> None:
    alice = await site.signed_in("alice")
    cookie = alice.cookies["solbot_session"]
    assert (await alice.delete("/api/v1/session")).json()["changed"]
    replay = site.client()
    replay.cookies.set("solbot_session", cookie, domain="testserver")
    assert (await replay.get("/api/v1/me")).status_code == 401


async def test_session_cookies_are_http_only_secure_and_same_site_strict(site: Site) -> None:
    link = await site.services.credentials.create_link(site.users["alice"].id)
    answer = await site.client().post("/api/v1/session", json={"secret": link})
    cookies = {c.split("=", 1)[0]: c.lower() for c in answer.headers.get_list("set-cookie")}
    assert "httponly" in cookies["solbot_session"]
    assert "httponly" not in cookies["solbot_csrf"]  # the page reads it to echo it
    for attrs in cookies.values():
        assert "secure" in attrs
        assert "samesite=strict" in attrs
        assert "path=/" in attrs


async def test_sign_in_attempts_are_budgeted_per_address(site: Site) -> None:
    anonymous = site.client()
    codes = [
        (await anonymous.post("/api/v1/session", json={"secret": f"guess{n}"})).status_code
        for n in range(11)
    ]
    assert codes == [401] * 10 + [429]


async def test_a_token_of_another_kind_of_secret_signs_nobody_in(site: Site) -> None:
    """A link's secret is not a bearer token, nor a token's digest a token."""
    link = await site.services.credentials.create_link(site.users["alice"].id)
    for wrong in (link, secrets.digest(site.operator_token)):
        assert (await site.bearer(wrong).get("/api/v1/me")).status_code == 401
    async with site.db.session() as s:
        (token,) = list(await s.scalars(select(WebTokenRow)))
    assert token.digest == secrets.digest(site.operator_token)


async def test_revoking_a_friends_telegram_access_ends_their_dashboard(site: Site) -> None:
    """The operator's /revoke: the friend's sessions end and their unused links are spent, in
    the same transaction (audited)."""
    from solbot.group_admin import GroupAdmin
    from solbot.store.tables import UserRow

    async with site.db.session() as s:
        row = await s.get(UserRow, site.users["alice"].id)
        assert row is not None
        row.telegram_id = 4242
    admin = GroupAdmin(site.services.custody)
    await admin.ask(4242, "Alice")
    await admin.decide(4242, True, actor="telegram:1")
    alice = await site.signed_in("alice")
    spare = await site.services.credentials.create_link(site.users["alice"].id)
    bob = await site.signed_in("bob")
    await admin.decide(4242, False, actor="telegram:1", revoke=True)
    assert (await alice.get("/api/v1/me")).status_code == 401
    assert (await site.client().post("/api/v1/session", json={"secret": spare})).status_code == 401
    assert (await bob.get("/api/v1/me")).status_code == 200  # only hers
    assert ("telegram:1", "web_end") in await audit(site)


async def test_only_failures_count_against_an_address(site: Site) -> None:
    """Friends behind one address (a household, a proxy) are not locked out by signing in;
    nine failures from it still leave the tenth try."""
    for _ in range(15):
        link = await site.services.credentials.create_link(site.users["alice"].id)
        assert (
            await site.client().post("/api/v1/session", json={"secret": link})
        ).status_code == 200
    anonymous = site.client()
    for _ in range(9):
        assert (await anonymous.post("/api/v1/session", json={"secret": "x"})).status_code == 401
    link = await site.services.credentials.create_link(site.users["bob"].id)
    assert (await anonymous.post("/api/v1/session", json={"secret": link})).status_code == 200
    await anonymous.post("/api/v1/session", json={"secret": "x"})  # the tenth failure
    late = await site.services.credentials.create_link(site.users["bob"].id)
    refused = await site.client().post("/api/v1/session", json={"secret": late})
    assert refused.status_code == 429  # the address waits a minute; the link is not spent
    site.wall.advance(61)
    assert (await site.client().post("/api/v1/session", json={"secret": late})).status_code == 200


async def test_bad_credentials_count_as_failures_too(site: Site) -> None:
    for n in range(10):
        answer = await site.client(Authorization=f"Bearer solbot_op_{n}").get("/api/v1/me")
        assert answer.status_code == 401
    blocked = await site.bearer().get("/api/v1/me")
    assert blocked.status_code == 429  # even a good token, from that address, for a minute


async def test_signing_in_again_ends_the_browsers_earlier_session(site: Site) -> None:
    browser = await site.signed_in("alice")
    first = browser.cookies["solbot_session"]
    link = await site.services.credentials.create_link(site.users["alice"].id)
    assert (await browser.post("/api/v1/session", json={"secret": link})).status_code == 200
    replay = site.client()
    replay.cookies.set("solbot_session", first, domain="testserver")
    assert (await replay.get("/api/v1/me")).status_code == 401


async def test_old_links_and_sessions_are_forgotten(site: Site) -> None:
    await site.signed_in("alice")
    await site.services.credentials.create_link(site.users["alice"].id)
    site.wall.advance(SESSION_SECONDS + 86_400 + 1)
    await site.services.credentials.create_link(site.users["bob"].id)
    async with site.db.session() as s:
        links = list(await s.scalars(select(WebLinkRow)))
        sessions = list(await s.scalars(select(WebSessionRow)))
    assert [link.user_id for link in links] == [site.users["bob"].id]
    assert sessions == []
