"""Serving the dashboard (`solbot web`, and the process `solbot run --web` starts): where it
may listen, and the app on its address."""

from __future__ import annotations

from solbot.asgi_serving import ServedApp, serve_app
from solbot.errors import UserError
from solbot.web.app import create_app
from solbot.web.exposure import exposure_problem
from solbot.web.services import WebServices


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
