"""The dashboard on a real socket: `X-Forwarded-For` is believed only from the configured
reverse proxy, so a client cannot pick the address its failures are counted against."""

from __future__ import annotations

import httpx
import pytest

from solbot.asgi_serving import serve_app
from solbot.web.app import create_app
from web.conftest import Site


@pytest.mark.parametrize("proxy", [None, "127.0.0.1"], ids=["no proxy", "behind a proxy"])
async def test_forwarded_addresses_count_only_from_the_proxy(site: Site, proxy: str | None) -> None:
    server = await serve_app(create_app(site.services), forwarded_from=proxy, what="dashboard")
    try:
        async with httpx.AsyncClient(base_url=server.url, trust_env=False) as client:
            codes = []
            for n in range(11):
                answer = await client.get(
                    "/api/v1/me",
                    headers={
                        "Authorization": "Bearer solbot_op_guess",
                        "X-Forwarded-For": f"203.0.113.{n}",
                    },
                )
                codes.append(answer.status_code)
    finally:
        await server.stop()
    if proxy is None:  # every try is 127.0.0.1's, whatever the header says
        assert codes == [401] * 10 + [429]
    else:  # each browser behind the proxy counted apart
        assert codes == [401] * 11
