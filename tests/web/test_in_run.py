"""The dashboard inside `solbot run --web` on the embedded sim: it starts after the start-up
recovery, on its own thread, shows the loop's counters and prices (the snapshot the loop
publishes after each tick), a pause sent to the API reaches the loop at its next look at the
users, a close reaches the loop's thread, and the dashboard stops with the run."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest

from engine.test_sim_day import day_settings
from solbot.clock import ManualClock, WallClock
from solbot.runner import build
from solbot.runtime import RunOptions
from solbot.web.credentials import Credentials
from web.conftest import KEY

START = 1_800_000_000.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_dashboard_runs_inside_the_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", KEY.hex())
    port = free_port()
    settings = day_settings(tmp_path, "v2").model_copy(update={"web": True, "web_port": port})
    clock = ManualClock(START)
    async with build(settings, RunOptions(stop_after=30 * 86_400), None, clock) as runtime:
        dashboard = runtime.dashboard
        assert dashboard is not None
        assert dashboard.url is None  # not before the start-up recovery
        creds = Credentials(runtime.custody, WallClock())
        _row, token = await creds.create_token("laptop", actor="test")
        running = asyncio.create_task(runtime.run())
        deadline = time.monotonic() + 60
        while dashboard.url is None:
            assert not running.done(), running
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=dashboard.url, headers=headers) as api:
            status = (await api.get("/api/v1/status")).json()
            assert status["loop"] is not None
            assert status["loop"]["ticks"] >= 0
            paused = await api.post("/api/v1/users/operator/pause")
            assert paused.json() == {"changed": True, "message": "paused"}
            while True:  # the loop reads its users at each closed candle
                (account,) = [a for a in runtime.engine.accounts if a.username == "operator"]
                if not account.active:
                    break
                assert time.monotonic() < deadline, "the loop never saw the pause"
                await asyncio.sleep(0.01)
            asked = await api.post("/api/v1/users/operator/positions/JUP/close")
            assert asked.status_code in (200, 409)  # 409: no JUP position open just now
            later = (await api.get("/api/v1/status")).json()["loop"]
            assert later["ticks"] > status["loop"]["ticks"]
            assert set(later["prices"]) >= {"JUP", "BONK"}
        runtime.stop()
        summary = await running
    assert dashboard.url is None  # stopped with the run
    assert summary.consistent
