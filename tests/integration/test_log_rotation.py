"""logrotate against a real `solbot run` (embedded sim, 600x) and a real `solbot telegram`: the
log is moved away and the process gets SIGHUP, as logrotate's `postrotate` does without
`copytruncate`. The bot keeps running, writes on in a new private file, and its lines carry the
bot's (simulated) time."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from solbot.clock import ManualClock
from solbot.config import DEFAULT_TOKENS
from solbot.sim.network import SimNetwork
from telegram_bot.fake_bot_api import TOKEN, serve

from .support import SOLBOT, clean_env


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(0.05)


def log_lines(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def solbot(folder: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """`solbot --data-dir <folder>/data ARGS` as a process, its output in <folder>/out, err."""
    with (folder / "out").open("wb") as out, (folder / "err").open("wb") as err:
        return subprocess.Popen(
            [*SOLBOT, "--data-dir", str(folder / "data"), *args],
            cwd=folder,
            env=clean_env(**env),
            stdout=out,
            stderr=err,
        )


def stop(process: subprocess.Popen[bytes], folder: Path) -> None:
    """SIGTERM; the process must end cleanly."""
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    assert code == 0, (folder / "out").read_text() + (folder / "err").read_text()


def test_a_rotated_log_is_reopened_on_sighup_and_the_bot_runs_on(tmp_path: Path) -> None:
    log = tmp_path / "data" / "sim" / "solbot.log"
    rotated = log.with_name("solbot.log.1")
    process = solbot(tmp_path, "run", "--speed", "600", SOLBOT_NETWORK="sim")
    try:
        wait_for(lambda: len(log_lines(log)) >= 2, "the first log lines")
        os.rename(log, rotated)
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: len(log_lines(log)) >= 2, "lines in the new log")
        assert process.poll() is None, "SIGHUP must not stop the bot"
    finally:
        stop(process, tmp_path)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(rotated.stat().st_mode) == 0o600
    before, after = log_lines(rotated), log_lines(log)
    assert before
    assert after
    # 600x: within a second of the start the simulated clock runs minutes ahead of the wall.
    assert all("bot_time" in line for line in after), after
    assert after[-1]["bot_time"] > after[-1]["time"]


def test_the_telegram_bot_reopens_its_log_on_sighup_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):  # the child's python-telegram-bot must not use a proxy
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    saved_at = 1_800_000_000.0  # the sim world the bot serves stopped then (2027-01-15)
    network = SimNetwork.create(
        tokens=[t.to_domain() for t in DEFAULT_TOKENS],
        clock=ManualClock(saved_at),
        seed=7,
        history_seconds=600,
        wallet_sol=1,
        wallet_usdc=0,
    )
    network.save(tmp_path / "data" / "sim" / "sim-state.json")
    network.close()
    log = tmp_path / "data" / "sim" / "solbot.log"
    rotated = log.with_name("solbot.log.1")
    with serve() as api:
        process = solbot(
            tmp_path,
            "telegram",
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=api.base_url,
            TELEGRAM_ALLOWED_IDS="1001",
        )
        try:
            wait_for(
                lambda: any("polling as" in line["message"] for line in log_lines(log)),
                "the bot's first log lines",
            )
            os.rename(log, rotated)
            process.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            assert process.poll() is None, "SIGHUP must not stop the bot"
        finally:
            stop(process, tmp_path)
    after = log_lines(log)
    assert any("stopping" in line["message"] for line in after), after
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert all(line["bot_time"] == "2027-01-15T08:00:00.000+00:00" for line in after)
