"""A real Chromium (Debian's `chromium`, driven by Playwright through `executable_path`) on
the dashboard served by uvicorn on 127.0.0.1. Missing the browser skips on a developer's
machine and fails under CI (`.ci/run` and the README's test command install it)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, async_playwright

from solbot.asgi_serving import ServedApp, serve_app
from solbot.web.app import create_app
from solbot.web.services import WebServices

CHROMIUM_ENV = "SOLBOT_TEST_CHROMIUM"


def chromium() -> str:
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    if path is None:
        message = "no chromium: `apt-get install chromium` (or set SOLBOT_TEST_CHROMIUM)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@asynccontextmanager
async def served(services: WebServices) -> AsyncIterator[ServedApp]:
    server = await serve_app(create_app(services), "127.0.0.1", 0, what="dashboard")
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def browser() -> AsyncIterator[Browser]:
    path = chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield launched
        finally:
            await launched.close()
