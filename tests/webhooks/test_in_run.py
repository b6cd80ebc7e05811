"""Webhooks beside `solbot run` on the embedded sim: the loop's trades reach a user's webhook
and the operator's as they happen, from the run's own dispatcher."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.test_sim_day import day_settings
from solbot.clock import ManualClock, WallClock
from solbot.runner import build
from solbot.runtime import RunOptions
from solbot.services.custody import CustodyService
from solbot.wallet.master import MasterKey
from solbot.webhooks.registry import Webhooks

from .conftest import START, Endpoints


async def test_the_runs_trades_reach_the_webhooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoints: Endpoints
) -> None:
    key = MasterKey.generate()
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", key.hex())
    settings = day_settings(tmp_path, "v2")
    async with build(settings, RunOptions(stop_after=30 * 86_400), None, ManualClock(START)) as run:
        hooks = Webhooks(CustodyService(run.db, WallClock(), key))
        await hooks.add("ops", endpoints.json(), actor="test", events="entry,exit")
        running = asyncio.create_task(run.run())
        deadline = time.monotonic() + 90
        while not endpoints.received.get("json"):
            assert not running.done(), running
            assert time.monotonic() < deadline, "no trade reached the webhook"
            await asyncio.sleep(0.05)
        run.stop()
        summary = await running
    first = endpoints.received["json"][0]
    assert first["event"] in ("entry", "exit")
    assert first["user"] == "operator"
    assert first["world"] == settings.world.name
    assert summary.consistent
