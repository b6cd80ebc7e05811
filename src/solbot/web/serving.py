"""Serving the dashboard (`solbot web`, and the process `solbot run --web` starts): where it
may listen, and the app on its address."""

from __future__ import annotations

from solbot.asgi_serving import ServedApp, serve_app
from solbot.config import Settings
from solbot.errors import UserError
from solbot.web.app import create_app
from solbot.web.services import WebServices

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def exposure_problem(settings: Settings) -> str | None:
    """Why serving on `web_host` would be unsafe, or None. Beyond this machine the dashboard
    must be reached over https: browsers drop its Secure cookies over plain http (a friend's
    link would be spent for nothing) and the secrets would cross the network in clear."""
    if settings.web_host in LOOPBACK:
        return None
    if settings.web_url and settings.web_url.startswith("https://"):
        return None
    return (
        f"SOLBOT_WEB_HOST={settings.web_host} would serve the dashboard over plain http: keep "
        "127.0.0.1 behind a TLS reverse proxy and set SOLBOT_WEB_URL=https://…"
    )


async def serve_dashboard_app(services: WebServices, port: int) -> ServedApp:
    """The dashboard served for `services` on SOLBOT_WEB_HOST:`port`; `UserError` when that is
    unsafe or the port is taken."""
    cfg = services.settings
    problem = exposure_problem(cfg) or cfg.telegram_login_problem
    if problem is not None:
        raise UserError(problem)
    try:
        return await serve_app(
            create_app(services),
            cfg.web_host,
            port,
            what="dashboard",
            forwarded_from=cfg.web_trusted_proxy,
        )
    except OSError as exc:
        raise UserError(
            f"the dashboard cannot listen on {cfg.web_host}:{port} ({exc.strerror or exc}): "
            "choose another port (--port or SOLBOT_WEB_PORT), or stop what holds it"
        ) from None
