"""The dashboard's application: the API under `/api/v1` (OpenAPI at `/api/v1/openapi.json`),
one error shape, security headers."""

from __future__ import annotations

from fastapi import FastAPI

from solbot import __version__
from solbot.web import (
    errors,
    pages,
    reports,
    routes_act,
    routes_live,
    routes_read,
    routes_session,
    routes_telegram,
    routes_webhooks,
)
from solbot.web.models import ErrorBody
from solbot.web.services import WebServices

ERRORS = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "not signed in"),
        (403, "not yours, not the operator, or no CSRF token"),
        (404, "no such user"),
        (409, "refused (the rule says why)"),
        (422, "invalid request"),
        (429, "too many requests"),
    )
}


def create_app(web: WebServices) -> errors.Guarded:
    app = FastAPI(
        title="solbot",
        version=__version__,
        summary="The bot at a glance: read-only by default; nothing here moves or shows keys.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # FastAPI's page loads Swagger UI from a CDN: nothing foreign runs here
        redoc_url=None,
        responses=ERRORS,  # type: ignore[arg-type]
    )
    app.state.services = web
    errors.install(app)

    @app.get("/api/v1/alive", include_in_schema=False)
    async def alive() -> dict[str, bool]:
        """The process answers (`web.process`'s probe): nothing read, nobody signed in."""
        return {"alive": True}

    for module in (
        routes_session,
        routes_telegram,
        routes_read,
        routes_live,
        routes_act,
        routes_webhooks,
        reports,
        pages,
    ):
        app.include_router(module.router)
    return errors.Guarded(app)
