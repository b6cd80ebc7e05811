"""Fixtures of the CLI tests: an isolated data dir and clock, the CLI as a function, and a small
seeded market made by `solbot data synth` itself."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from solbot.cli import data as data_cmd
from solbot.cli import stores
from solbot.cli.app import main
from solbot.clock import ManualClock
from solbot.market.store import CandleStore

from .support import BARS, MARKET, NOW, OLD, SEED, Outcome, Run


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Like tests/market/test_cli_data.py: no stray .env/solbot.toml or SOLBOT_* variable, a fixed
    clock for `data synth`, and a network that cannot leave the host."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SOLBOT_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "100")  # rich and the help formatter wrap at a known width
    monkeypatch.setattr(data_cmd, "_clock", lambda: ManualClock(NOW))
    monkeypatch.setattr(sys, "argv", ["solbot"])  # the program name usage lines show
    monkeypatch.setenv("SOLBOT_GECKOTERMINAL_URL", "http://127.0.0.1:9/api/v2")
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """`solbot --data-dir <data_dir> ARGS...` in this process."""

    def invoke(*args: str) -> Outcome:
        capsys.readouterr()
        try:
            main(["--data-dir", str(data_dir), *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return invoke


@pytest.fixture
def market(run: Run, data_dir: Path) -> CandleStore:
    """1500 seeded hourly candles of JUP, BONK and SOL, made through `solbot data synth`."""
    tokens = [arg for symbol in MARKET for arg in ("--token", symbol)]
    done = run("data", "synth", *tokens, "--bars", str(BARS), "--seed", str(SEED))
    assert done.code == 0, done.err
    return CandleStore(data_dir / "candles")


@pytest.fixture
def cli(run: Run, empty_url: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    """The CLI on a new database of either backend, with the master key `OLD` set."""
    monkeypatch.setenv("DATABASE_URL", empty_url)
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", OLD.hex())
    monkeypatch.setattr(stores, "clock", lambda: ManualClock(NOW))
    return run
