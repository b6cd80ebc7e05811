"""Ctrl-C and SIGTERM stop `solbot run` within seconds in every mode, whatever it waits for:
the embedded sim, a served sim that never answers, paper trading on mainnet with its history
downloads failing and retrying, live trading with an RPC that never answers or keeps failing.

Each run is a real process (`python -m solbot.cli.app run`) with every service on 127.0.0.1;
the signal goes out once the run is where the case wants it (its banner printed, or the silent
server contacted), and the process must end within `LIMIT` seconds with its summary or one
error line, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from solders.keypair import Keypair

from .contract_support import FakeMainnet, closed_port, fake_mainnet, silent_server

LIMIT = 5.0  # seconds from the signal to the process's end
START_TIMEOUT = 90.0  # seconds a run may take to reach the point where the signal goes out
SOLBOT = [sys.executable, "-m", "solbot.cli.app"]
WALLET = str(Keypair())


@dataclass
class Mode:
    """How to start a run, and when it is where the signal should find it."""

    name: str
    env: Callable[[contextlib.ExitStack], tuple[dict[str, str], Callable[[str], bool]]]
    summary: bool  # it ends with its summary (else with one line)
    started: bool = True  # the signal finds it past its start-up


def banner(out: str) -> bool:
    return "solbot on the" in out


def embedded_sim(stack: contextlib.ExitStack) -> tuple[dict[str, str], Callable[[str], bool]]:
    return {}, banner


def remote_sim_silent(stack: contextlib.ExitStack) -> tuple[dict[str, str], Callable[[str], bool]]:
    server = stack.enter_context(silent_server())
    env = {"SOLBOT_RPC_URL": server.url, "SOLBOT_JUPITER_URL": server.url}
    return {**env, "WALLET_PRIVATE_KEY": WALLET}, lambda _out: server.contacted.is_set()


def paper_mainnet_offline(
    stack: contextlib.ExitStack,
) -> tuple[dict[str, str], Callable[[str], bool]]:
    """Jupiter answers (a fake one); GeckoTerminal, where the warm-up downloads history, is
    down: the run waits in the download client's retries when the signal comes."""
    mainnet: FakeMainnet = stack.enter_context(fake_mainnet())
    env = {
        "SOLBOT_NETWORK": "mainnet",
        "SOLBOT_PAPER": "true",
        "SOLBOT_JUPITER_URL": mainnet.url,
        "SOLBOT_GECKOTERMINAL_URL": f"http://127.0.0.1:{closed_port()}/api/v2",
    }
    return env, banner


def paper_mainnet_silent(
    stack: contextlib.ExitStack,
) -> tuple[dict[str, str], Callable[[str], bool]]:
    """No network at all: Jupiter never answers the start-up's first contact."""
    server = stack.enter_context(silent_server())
    env = {"SOLBOT_NETWORK": "mainnet", "SOLBOT_PAPER": "true", "SOLBOT_JUPITER_URL": server.url}
    return env, lambda _out: server.contacted.is_set()


def live_rpc_silent(stack: contextlib.ExitStack) -> tuple[dict[str, str], Callable[[str], bool]]:
    server = stack.enter_context(silent_server())
    env = {
        "SOLBOT_NETWORK": "mainnet",
        "SOLBOT_LIVE": "I_UNDERSTAND",
        "WALLET_PRIVATE_KEY": WALLET,
        "SOLBOT_RPC_URL": server.url,
        "SOLBOT_JUPITER_URL": server.url,
    }
    return env, lambda _out: server.contacted.is_set()


def live_rpc_failing(stack: contextlib.ExitStack) -> tuple[dict[str, str], Callable[[str], bool]]:
    """Live on devnet (no history download there): the RPC answers the start-up's first
    contact, then fails every call with 503, so the run waits in `RetryingChain`'s back-off
    when the signal comes."""
    network: FakeMainnet = stack.enter_context(fake_mainnet())
    env = {
        "SOLBOT_NETWORK": "devnet",
        "WALLET_PRIVATE_KEY": WALLET,
        "SOLBOT_RPC_URL": network.url,
        "SOLBOT_JUPITER_URL": network.url,
    }

    def retrying(out: str) -> bool:
        if not banner(out):
            return False
        if not network.failing:
            network.failing = True
            network.calls.clear()
        return sum(1 for call in network.calls if call.startswith("get")) >= 2  # RPC calls

    return env, retrying


MODES = [
    Mode("embedded sim", embedded_sim, summary=True),
    Mode("remote sim, server silent", remote_sim_silent, summary=False, started=False),
    Mode("paper on mainnet, downloads retrying", paper_mainnet_offline, summary=True),
    Mode("paper on mainnet, no network", paper_mainnet_silent, summary=False, started=False),
    Mode("live, RPC silent", live_rpc_silent, summary=False, started=False),
    Mode("live, RPC failing", live_rpc_failing, summary=False),
]


def child_env(folder: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOLBOT_", "TELEGRAM_"))
        and not k.lower().endswith("_proxy")
        and k not in ("WALLET_PRIVATE_KEY", "DATABASE_URL", "MASTER_ENCRYPTION_KEY")
    }
    env.update(
        NO_PROXY="127.0.0.1",
        COLUMNS="120",
        PYTHONUNBUFFERED="1",
        SOLBOT_GECKOTERMINAL_URL=f"http://127.0.0.1:{closed_port()}/api/v2",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def started(folder: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "out").open("wb") as out, (folder / "err").open("wb") as err:
        process = subprocess.Popen(
            [*SOLBOT, "--data-dir", str(folder / "data"), "run"],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("mode", MODES, ids=[m.name for m in MODES])
def test_a_signal_stops_the_run_within_seconds(
    mode: Mode, signum: signal.Signals, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        extra, ready = mode.env(stack)
        with started(tmp_path, child_env(tmp_path, extra)) as process:
            deadline = time.monotonic() + START_TIMEOUT
            while not ready((tmp_path / "out").read_text()):
                assert process.poll() is None, _output(tmp_path)
                assert time.monotonic() < deadline, f"not ready:\n{_output(tmp_path)}"
                time.sleep(0.05)
            sent = time.monotonic()
            process.send_signal(signum)
            try:
                process.wait(timeout=LIMIT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"still running {LIMIT} s after {signum.name}:\n{_output(tmp_path)}")
            took = time.monotonic() - sent
    out, err = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert "Traceback" not in out + err, _output(tmp_path)
    if mode.summary:
        assert process.returncode == 0, _output(tmp_path)
        assert "run summary" in out, _output(tmp_path)
        assert err == "", _output(tmp_path)
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1, _output(tmp_path)
        assert lines[0].startswith("error: "), _output(tmp_path)
        if mode.started:  # stopped, but the summary needs the chain, which does not answer
            assert "without a summary" in lines[0], _output(tmp_path)
            assert process.returncode == 2, _output(tmp_path)
        else:
            assert f"stopped by {signum.name} during start-up" in lines[0], _output(tmp_path)
            assert process.returncode == 128 + signum, _output(tmp_path)
    assert took < LIMIT


def _output(folder: Path) -> str:
    return f"stdout:\n{(folder / 'out').read_text()}\nstderr:\n{(folder / 'err').read_text()}"
