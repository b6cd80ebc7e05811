"""Webhook endpoints on 127.0.0.1 that answer as Discord's and Slack's do (204 and "ok"; 429
with `retry_after`), and a JSON receiver; each records what it got and answers a scripted
status first when a test wants a failure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from solbot.asgi_serving import serve_app
from solbot.clock import ManualClock
from solbot.services.custody import CustodyService
from solbot.store.db import Database
from solbot.wallet.master import MasterKey

START = 1_800_000_000.0
DISCORD_TOKEN = "tOkEn-SeCrEt-4f9a"


@dataclass
class Endpoints:
    url: str
    received: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    script: dict[str, list[Response]] = field(default_factory=dict)  # answered first, in order

    def fail(self, route: str, *answers: Response) -> None:
        self.script.setdefault(route, []).extend(answers)

    def discord(self) -> str:
        return f"{self.url}/api/webhooks/1234/{DISCORD_TOKEN}"

    def slack(self) -> str:
        return f"{self.url}/services/T0/B0/slacksecret"

    def json(self) -> str:
        return f"{self.url}/hook"


def endpoints_app(endpoints: Endpoints) -> Starlette:
    async def receive(request: Request, route: str, ok: Response) -> Response:
        scripted = endpoints.script.get(route)
        if scripted:
            return scripted.pop(0)
        endpoints.received.setdefault(route, []).append(json.loads(await request.body()))
        return ok

    async def discord(request: Request) -> Response:
        if request.path_params["token"] != DISCORD_TOKEN:
            return JSONResponse({"message": "Invalid Webhook Token", "code": 50027}, 401)
        return await receive(request, "discord", Response(status_code=204))

    async def slack(request: Request) -> Response:
        return await receive(request, "slack", PlainTextResponse("ok"))

    async def generic(request: Request) -> Response:
        return await receive(request, "json", JSONResponse({"received": True}))

    return Starlette(
        routes=[
            Route("/api/webhooks/{id}/{token}", discord, methods=["POST"]),
            Route("/services/{a}/{b}/{c}", slack, methods=["POST"]),
            Route("/hook", generic, methods=["POST"]),
        ]
    )


@pytest.fixture
async def endpoints() -> AsyncIterator[Endpoints]:
    made = Endpoints(url="")
    served = await serve_app(endpoints_app(made), "127.0.0.1", 0, what="webhook endpoints")
    made.url = served.url
    try:
        yield made
    finally:
        await served.stop()


@dataclass
class Group:
    db: Database
    custody: CustodyService
    key: MasterKey
    wall: ManualClock
    clock: ManualClock  # trading
    users: dict[str, str]  # username → id


@pytest.fixture
async def group(db_url: str, tmp_path: Path) -> AsyncIterator[Group]:
    db = Database(db_url)
    key = MasterKey.generate()
    wall = ManualClock(START)
    custody = CustodyService(db, wall, key)
    users = {}
    for name in ("alice", "bob"):
        row, _secret = await custody.create_user(name, actor="test")
        users[name] = row.id
    try:
        yield Group(db, custody, key, wall, ManualClock(START), users)
    finally:
        await db.dispose()
