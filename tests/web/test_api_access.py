"""Who may call what: every endpoint refuses the anonymous (401), a friend asking for another
friend's data (403, whether that friend exists or not), a friend calling the operator's
endpoints (403), and a browser's action without its CSRF value (403), on both databases. The
routes are read from the app's own OpenAPI description, so a new endpoint is covered the day
it is added."""

from __future__ import annotations

import httpx
import pytest

from web.conftest import Site

OPEN = {  # signing in, and how, is what the anonymous may do
    ("POST", "/api/v1/session"),
    ("GET", "/api/v1/sign-in"),
}
OPERATOR_ONLY = {
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/reports"),
    ("POST", "/api/v1/group/pause"),
    ("POST", "/api/v1/group/resume"),
    ("PUT", "/api/v1/group/entries"),
}
BODIES = {
    "/api/v1/users/{username}/risk": {"tier": "conservative"},
    "/api/v1/group/entries": {"stopped": True},
    "/api/v1/session": {"secret": "nothing"},
    "/api/v1/users/{username}/webhooks": {"name": "mine", "url": "https://hooks.example.com/x"},
}


async def routes(site: Site) -> list[tuple[str, str]]:
    described = (await site.bearer().get("/api/v1/openapi.json")).json()
    return sorted(
        (method.upper(), path)
        for path, item in described["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete"}
    )


async def call(
    client: httpx.AsyncClient, method: str, path: str, username: str = "alice"
) -> httpx.Response:
    url = path.replace("{username}", username).replace("{token}", "JUP")
    body = BODIES.get(path)
    return await client.request(method, url, json=body)


def assert_error(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, (answer.request.url, answer.text)
    body = answer.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "\n" not in body["error"]["message"]


async def test_the_api_is_described_and_every_route_is_known_here(site: Site) -> None:
    found = await routes(site)
    assert len(found) >= 14
    for _method, path in found:
        assert path.startswith("/api/v1/"), path
    assert set(found) >= OPERATOR_ONLY


async def test_the_anonymous_get_401_everywhere_but_the_sign_in(site: Site) -> None:
    anonymous = site.client()
    for method, path in await routes(site):
        if (method, path) in OPEN:
            continue
        assert_error(await call(anonymous, method, path), 401, "unauthorized")
    described = await anonymous.get("/api/v1/openapi.json")  # the description is public
    assert described.json()["info"]["title"] == "solbot"


async def test_a_wrong_or_malformed_credential_is_401(site: Site) -> None:
    for header in ("Bearer solbot_op_nope", "Basic abc", "Bearer ", "solbot_op_x"):
        answer = await site.client(Authorization=header).get("/api/v1/status")
        assert_error(answer, 401, "unauthorized")
    browser = site.client()
    browser.cookies.set("solbot_session", "made-up", domain="testserver")
    assert_error(await browser.get("/api/v1/status"), 401, "unauthorized")


async def test_a_friend_sees_only_their_own_account(site: Site) -> None:
    alice = await site.signed_in("alice")
    for method, path in await routes(site):
        if "{username}" not in path:
            continue
        for other in ("bob", "nobody_here"):  # refused alike: no telling who exists
            assert_error(await call(alice, method, path, other), 403, "forbidden")
    for method, path in OPERATOR_ONLY:
        assert_error(await call(alice, method, path), 403, "forbidden")
    mine = await alice.get("/api/v1/users/alice/trades")
    assert mine.status_code == 200
    assert mine.json()["total"] == 6
    status = (await alice.get("/api/v1/status")).json()
    assert [u["username"] for u in status["users"]] == ["alice"]


async def test_the_operator_sees_everyone(site: Site) -> None:
    operator = await site.signed_in()
    listed = (await operator.get("/api/v1/users")).json()
    assert [u["username"] for u in listed] == ["alice", "bob"]
    assert (await operator.get("/api/v1/users/bob/trades")).json()["total"] == 2
    assert_error(await operator.get("/api/v1/users/nobody_here"), 404, "not_found")


@pytest.mark.parametrize("csrf", [None, "wrong"])
async def test_a_browser_action_without_its_csrf_value_is_refused(
    site: Site, csrf: str | None
) -> None:
    alice = await site.signed_in("alice")
    operator = await site.signed_in()
    for client in (alice, operator):
        if csrf is None:
            del client.headers["X-CSRF-Token"]
        else:
            client.headers["X-CSRF-Token"] = csrf
    for method, path in await routes(site):
        if method == "GET" or (method, path) in OPEN or path == "/api/v1/session":
            continue
        client = operator if (method, path) in OPERATOR_ONLY else alice
        assert_error(await call(client, method, path), 403, "csrf")
    async with site.db.session() as s:
        from solbot.store.users import Users

        assert (await Users(s, site.clock).by_username("alice")).is_active  # nothing changed


async def test_a_bearer_token_needs_no_csrf_value(site: Site) -> None:
    """A script's token is never sent by a browser on its own: no CSRF to forge."""
    answer = await site.bearer().post("/api/v1/users/alice/pause")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"changed": True, "message": "paused"}


async def test_errors_have_one_shape(site: Site) -> None:
    operator = site.bearer()
    assert_error(await operator.get("/api/v1/nothing"), 404, "not_found")
    assert_error(await operator.get("/api/v1/users/alice/trades?limit=0"), 422, "invalid_request")
    assert_error(await operator.get("/api/v1/users/alice/trades?sort=evil"), 422, "invalid_request")
    assert_error(
        await operator.put("/api/v1/users/alice/risk", json={"tier": "yolo"}),
        422,
        "invalid_request",
    )
    assert_error(await operator.delete("/api/v1/status"), 405, "method_not_allowed")
    closing = await operator.post("/api/v1/users/alice/positions/JUP/close")
    assert_error(closing, 409, "refused")  # no loop in this process to sell it
    assert "solbot run" in closing.json()["error"]["message"]
    assert_error(await operator.post("/api/v1/users/alice/positions/WIF/close"), 409, "refused")


async def test_security_headers_on_every_answer(site: Site) -> None:
    for answer in (
        await site.bearer().get("/api/v1/status"),
        await site.client().get("/api/v1/status"),
    ):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cache-control"] == "no-store"


async def test_each_caller_has_a_request_budget(site: Site) -> None:
    site.services.requests.per_minute = 3
    alice = await site.signed_in("alice")
    for _ in range(3):
        assert (await alice.get("/api/v1/me")).status_code == 200
    over = await alice.get("/api/v1/me")
    assert_error(over, 429, "too_many_requests")
    assert int(over.headers["retry-after"]) >= 1
    assert (await site.bearer().get("/api/v1/me")).status_code == 200  # the operator's own
    site.wall.advance(61)
    assert (await alice.get("/api/v1/me")).status_code == 200


async def test_an_unexpected_error_is_one_line_and_no_detail(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    from solbot.web import queries

    async def broken(*_args: object) -> None:
        raise RuntimeError("secret detail solbot_op_abcdefghijklmnopqrstuvwxyz")

    monkeypatch.setattr(queries, "status", broken)
    from solbot.web.app import create_app

    transport = httpx.ASGITransport(app=create_app(site.services), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        answer = await client.get(
            "/api/v1/status", headers={"Authorization": f"Bearer {site.operator_token}"}
        )
    assert_error(answer, 500, "internal")
    assert "secret" not in answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_large_bodies_and_long_secrets_are_refused_unread(site: Site) -> None:
    anonymous = site.client()
    huge = await anonymous.post("/api/v1/session", json={"secret": "x" * 20_000})
    assert_error(huge, 413, "too_large")
    long = await anonymous.post("/api/v1/session", json={"secret": "x" * 200})
    assert_error(long, 422, "invalid_request")
    cookie = site.client()
    cookie.cookies.set("solbot_session", "y" * 5000, domain="testserver")
    assert_error(await cookie.get("/api/v1/me"), 401, "unauthorized")
