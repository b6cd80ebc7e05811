"""The dashboard of `solbot run --web` on the embedded sim: a process of its own, started after
the start-up recovery; it shows the loop's counters and prices (its heartbeat in the
database), a pause sent to it reaches the loop at its next look at the users, a close is a
request the loop takes, a dashboard that dies is started again while the run goes on, and it
stops with the run."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from engine.test_sim_day import day_settings
from solbot.clock import ManualClock, WallClock
from solbot.runner import build
from solbot.runtime import RunOptions, Runtime
from solbot.store import close_requests
from solbot.store.positions import Positions
from solbot.store.tables import PositionRow
from solbot.web.credentials import Credentials
from web.conftest import KEY

START = 1_800_000_000.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def served(runtime: Runtime, running: asyncio.Task[object], deadline: float) -> str:
    dashboard = runtime.dashboard
    assert dashboard is not None
    while dashboard.url is None:
        assert not running.done(), running
        assert time.monotonic() < deadline, "the dashboard never started"
        await asyncio.sleep(0.02)
    return dashboard.url


async def test_the_dashboard_runs_beside_the_loop(
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
        deadline = time.monotonic() + 90
        url = await served(runtime, running, deadline)
        assert url == f"http://127.0.0.1:{port}"
        child = dashboard.pid
        assert child is not None
        assert child != os.getpid()
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, trust_env=False) as api:
            status = (await api.get("/api/v1/status")).json()
            assert status["loop"] is not None  # the loop beat before the dashboard started
            user_id = next(a.user_id for a in runtime.engine.accounts if a.username == "operator")
            held = []
            while not held:  # the loop trades on a fast clock: a position comes soon
                assert time.monotonic() < deadline, "the operator never held a position"
                async with runtime.db.session() as s:
                    held = await Positions(s, clock).all_open(user_id)
                await asyncio.sleep(0.02)
            symbol = held[0].token
            asked = await api.post(f"/api/v1/users/operator/positions/{symbol}/close")
            if asked.status_code == 409:  # it closed by itself in between: nothing to ask
                assert "no open" in asked.json()["error"]["message"]
            else:
                assert asked.status_code == 200, asked.text
                while True:  # a request row, which the loop takes and sells
                    async with runtime.db.session() as s:
                        position = await s.get(PositionRow, held[0].id)
                        assert position is not None
                    if position.status == "closed":
                        break
                    assert time.monotonic() < deadline, "the loop never took the close"
                    await asyncio.sleep(0.02)
                assert position.exit_reason is not None  # "manual", unless a stop came first
                assert (await close_requests.pending(runtime.db, 0.0))[0] == set()
            paused = await api.post("/api/v1/users/operator/pause")
            assert paused.json() == {"changed": True, "message": "paused"}
            while True:  # the loop reads its users at each closed candle
                (account,) = [a for a in runtime.engine.accounts if a.username == "operator"]
                if not account.active:
                    break
                assert time.monotonic() < deadline, "the loop never saw the pause"
                await asyncio.sleep(0.01)
            while True:  # the candle clock moves on; the beat with it
                later = (await api.get("/api/v1/status")).json()["loop"]
                if later["ticks"] > status["loop"]["ticks"]:
                    break
                assert time.monotonic() < deadline, "the beat never moved"
                await asyncio.sleep(0.2)
            assert set(later["prices"]) >= {"JUP", "BONK"}
        # A dashboard that dies is started again, and the run goes on.
        os.kill(child, signal.SIGKILL)
        while dashboard.restarts == 0 or dashboard.url is None:
            assert not running.done(), running
            assert time.monotonic() < deadline, "the dashboard was not started again"
            await asyncio.sleep(0.05)
        again = dashboard.pid
        assert again is not None
        assert again != child
        async with httpx.AsyncClient(base_url=url, headers=headers, trust_env=False) as api:
            assert (await api.get("/api/v1/status")).status_code == 200
        runtime.stop()
        summary = await running
    assert dashboard.url is None  # stopped with the run
    assert gone(again)
    assert summary.consistent


async def test_a_dashboard_told_to_stop_is_not_started_again(tmp_path: Path) -> None:
    """systemd stopping the unit signals every process of it: the child's clean exit is not
    a crash to recover from, and the run is not the one to decide."""
    from solbot.config import Settings
    from solbot.web.process import DashboardProcess

    dashboard = DashboardProcess(Settings(data_dir=tmp_path / "data", web_port=free_port()))
    await dashboard.start()
    try:
        child = dashboard.pid
        assert child is not None
        os.kill(child, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while dashboard.url is not None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(3)  # longer than the first restart's delay
        assert dashboard.restarts == 0
        assert dashboard.pid == child  # no new child
    finally:
        await dashboard.stop()


async def test_a_dashboard_that_hangs_is_killed_and_started_again(tmp_path: Path) -> None:
    """A child that keeps its port but answers nothing (a deadlock, SIGSTOP) is not a dashboard:
    after a few unanswered probes it is killed and started again; one that answers is left."""
    from solbot.config import Settings
    from solbot.web.process import DashboardProcess

    dashboard = DashboardProcess(
        Settings(data_dir=tmp_path / "data", web_port=free_port()),
        probe_every=0.3,
        probe_timeout=1.0,
    )
    await dashboard.start()
    try:
        child = dashboard.pid
        assert child is not None
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, child) == min(19, mine + 5)  # the loop first
        await asyncio.sleep(2.5)  # several probes, each answered
        assert dashboard.restarts == 0
        assert dashboard.pid == child
        os.kill(child, signal.SIGSTOP)  # alive, listening, and silent
        deadline = time.monotonic() + 60
        while dashboard.restarts == 0 or dashboard.url is None:
            assert time.monotonic() < deadline, "the hung dashboard was left hanging"
            await asyncio.sleep(0.05)
        assert gone(child)
        assert dashboard.pid != child
        async with httpx.AsyncClient(base_url=dashboard.url, trust_env=False) as api:
            assert (await api.get("/api/v1/sign-in")).status_code == 200
    finally:
        await dashboard.stop()


async def test_an_unsafe_dashboard_address_is_refused_before_the_start_up(
    tmp_path: Path,
) -> None:
    from solbot.errors import UserError

    settings = day_settings(tmp_path, "v2").model_copy(
        update={"web": True, "web_host": "0.0.0.0", "web_port": free_port()}
    )
    with pytest.raises(UserError, match="would serve the dashboard over plain http"):
        async with build(settings, RunOptions(stop_after=60), None, ManualClock(START)):
            pass
    assert not list(tmp_path.rglob("*.db"))  # nothing opened
