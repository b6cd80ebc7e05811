"""Where the dashboard may listen: a check made before anything starts (`solbot web`, and
`solbot run --web` before its start-up), light to import (no web framework)."""

from __future__ import annotations

from solbot.config import Settings

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
