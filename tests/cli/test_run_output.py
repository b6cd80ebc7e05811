"""What `solbot run` prints in a log or a pipe, through the real CLI on the embedded sim with a
manual clock (a simulated half hour in a few seconds, the same every time): every event line
names its user, token amounts are in units, and a status line comes with every candle."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from solbot.cli import run as run_cmd
from solbot.cli.run_view import SHOWN_EVENTS
from solbot.clock import ManualClock

from .support import NOW, OLD, Run
from .test_users_cli import add

FAST = {  # crossovers every few 1-minute bars, so a short run trades
    "SOLBOT_TIMEFRAME": "1m",
    "SOLBOT_STRATEGY": "ema_trend",
    "SOLBOT_STRATEGY_PARAMS": json.dumps(
        {"fast": 2, "slow": 3, "rsi_period": 2, "rsi_min": 0, "rsi_max": 100, "atr_period": 2}
    ),
    "SOLBOT_RISK_TIER": "aggressive",
}
EVENT = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d) +(\w+)  (\S+) (.*)$")
STATUS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d)  ticks ")


@pytest.fixture
def bot(
    run: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch, root_logger: logging.Logger
) -> Run:
    """The CLI on the embedded sim (SQLite in the data dir), its clock a manual one. `run`
    points the process's logging at its log file and takes SIGHUP: `root_logger` gives both
    back."""
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", OLD.hex())
    monkeypatch.setattr(run_cmd, "bot_clock", lambda: ManualClock(NOW))
    return run


def test_every_event_line_names_its_user_amounts_are_units_and_each_candle_has_a_status(
    bot: Run,
) -> None:
    add(bot, "alice")  # a vault user next to the operator's sim wallet

    done = bot("run", "--stop-after", "30m")

    assert done.code == 0, done.out + done.err
    lines = done.out.splitlines()
    events = [m for line in lines if (m := EVENT.match(line)) and m[2] in SHOWN_EVENTS]
    users = {m[3] for m in events}
    assert users <= {"alice", "operator"}, events
    assert "alice" in users
    entries = [m[4] for m in events if m[2] == "entry"]
    assert entries, done.out
    for text in entries:  # "bought 1,234.567 JUP for 499.87 USDC"
        assert re.fullmatch(r"bought [\d,]+\.?\d* [A-Z]+ for [\d,]+\.\d\d USDC", text), text
    # One status line for each of the 30 one-minute candles (and the first tick).
    stamps = [m[1] for line in lines if (m := STATUS.match(line))]
    assert len(stamps) >= 30
    assert len(set(stamps)) == len(stamps)
    assert "atoms" not in done.out
