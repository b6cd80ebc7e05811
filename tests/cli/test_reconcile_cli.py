"""`solbot reconcile` after a run: every trade of every user matched, or its difference named;
the same as one JSON document; and what it cannot do is one line and exit 2."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from solbot.cli import run as run_cmd
from solbot.clock import ManualClock

from .support import NOW, OLD, Run
from .test_run_output import FAST
from .test_users_cli import add


@pytest.fixture
def bot(
    run: Run, data_dir: Path, monkeypatch: pytest.MonkeyPatch, root_logger: logging.Logger
) -> Run:
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", OLD.hex())
    monkeypatch.setattr(run_cmd, "bot_clock", lambda: ManualClock(NOW))
    return run


def test_a_runs_trades_are_matched_by_the_backtest_of_its_candles(bot: Run) -> None:
    add(bot, "alice")
    ran = bot("run", "--stop-after", "4h")
    assert ran.code == 0, ran.out + ran.err

    done = bot("reconcile")

    assert done.code == 0, done.out + done.err
    counts = {
        m[1]: (int(m[2]), int(m[3]), int(m[4]))
        for m in re.finditer(r"^(\w+): (\d+) of (\d+) matched, (\d+) explained", done.out, re.M)
    }
    assert set(counts) == {"operator", "alice"}, done.out
    for matched, rows, explained in counts.values():
        assert rows >= 3
        assert (matched, explained) == (rows, 0)  # the same rules on the same candles
    assert "not explained" not in done.out, done.out

    document = json.loads(bot("reconcile", "--json", "-u", "alice").out)
    (alice,) = document["users"]
    assert alice["user"] == "alice"
    assert alice["not_explained"] == 0
    assert alice["matched"] == counts["alice"][0]
    first = alice["rows"][0]
    assert set(first) == {"token", "live", "backtest", "matched", "cause"}
    fields = {"entry", "exit", "reason", "pnl", "entry_price", "stop", "target"}
    assert set(first["live"]) == set(first["backtest"]) == fields
    for side in ("live", "backtest"):  # the levels each side measured from its own fill
        entry, stop = Decimal(first[side]["entry_price"]), Decimal(first[side]["stop"])
        assert 0 < stop < entry
    # the same entry on the same candles: both fills (before fees) within 1 % of each other
    live, tested = (Decimal(first[side]["entry_price"]) for side in ("live", "backtest"))
    assert abs(live / tested - 1) < Decimal("0.01")


def test_a_sol_quoted_run_is_reconciled_in_sol(bot: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run builds SOL's candles beside the tokens' (it prices everything in SOL); the
    backtest reads the tokens' USD candles, as the loop does, and trades them in SOL."""
    monkeypatch.setenv("SOLBOT_QUOTE", "SOL")
    add(bot, "alice")
    ran = bot("run", "--stop-after", "4h")
    assert ran.code == 0, ran.out + ran.err

    done = bot("reconcile", "--json")

    assert done.code == 0, done.out + done.err
    users = {u["user"]: u for u in json.loads(done.out)["users"]}
    assert set(users) == {"operator", "alice"}
    for user in users.values():
        assert len(user["rows"]) >= 3
        assert user["not_explained"] == 0, user
        # candles in SOL are the USD ones divided by SOL's close of the bar: an open is
        # approximate, so a tight stop can fire a bar apart ("fill price vs bar")
        assert user["matched"] >= len(user["rows"]) / 2, user
    assert Decimal(users["alice"]["starting_cash"]) < 100  # SOL, not USDC
    table = bot("reconcile", "-u", "alice").out
    assert "SOL)" in table  # "(from 1.95 SOL)"


def test_a_user_paused_for_the_run_has_every_entry_explained(bot: Run) -> None:
    add(bot, "alice")
    assert bot("pause", "-u", "alice").code == 0
    assert bot("run", "--stop-after", "4h").code == 0

    done = bot("reconcile", "-u", "alice", "--json")

    assert done.code == 0, done.err
    (alice,) = json.loads(done.out)["users"]
    assert alice["rows"], done.out  # the backtest trades what she would have
    assert {row["cause"] for row in alice["rows"]} == {"the user was paused"}
    assert all(row["live"] is None for row in alice["rows"])


def test_a_world_without_a_run_has_nothing_to_reconcile(bot: Run) -> None:
    done = bot("reconcile")
    assert done.code == 0, done.err
    assert done.out.strip() == "nothing to reconcile: no trades in this world"


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--since", "yesterday"], {}, "--since"),
        (["-u", "nobody"], {}, "nobody"),
    ],
)
def test_what_reconcile_cannot_do_is_one_line(
    bot: Run, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], says: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    done = bot("reconcile", *args)
    assert done.code == 2, done.out + done.err
    assert done.err.count("\n") == 1, done.err
    assert says in done.err


def test_the_breakers_refusals_are_read_from_the_runs_log(tmp_path: Path) -> None:
    from solbot.cli.reconcile_run import EVERYONE, _log_refusals
    from solbot.domain import Timeframe
    from solbot.events import ENTRIES_ALLOWED as ALLOWED
    from solbot.events import ENTRIES_STOPPED as STOPPED

    log = tmp_path / "solbot.log"
    lines = [
        {"bot_time": "2027-01-15T07:00:00+00:00", "message": "paused alice: trading paused"},
        {"bot_time": "2027-01-15T07:30:00+00:00", "message": "resumed alice: trading resumed"},
        {"bot_time": "2027-01-15T09:00:00+00:00", "message": "paused alice: trading paused"},
        {"bot_time": "2027-01-15T08:05:10+00:00", "message": "blocked alice: JUP, WIF: cooling"},
        {"bot_time": "2027-01-15T08:05:10+00:00", "message": "blocked bob: JTO: daily loss"},
        {"bot_time": "2027-01-15T08:06:00+00:00", "message": "entry alice: bought 1 JUP"},
        {"bot_time": "2027-01-15T10:00:03+00:00", "message": f"entries -: {STOPPED}"},
        {"bot_time": "2027-01-15T11:00:03+00:00", "message": f"entries -: {ALLOWED}"},
        {"bot_time": "2027-01-15T12:00:03+00:00", "message": f"entries -: {STOPPED}"},
    ]
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\n{torn", encoding="utf-8")

    found = _log_refusals(log, Timeframe.M5.floor)["alice"]

    def at(hour: int, minute: int) -> int:
        return int(datetime(2027, 1, 15, hour, minute, tzinfo=UTC).timestamp())

    assert [(r.bar, r.token, r.why, r.until) for r in found] == [
        (at(7, 0), "*", "the user was paused", at(7, 30)),
        (at(8, 5), "JUP", "refused live: cooling", None),
        (at(8, 5), "WIF", "refused live: cooling", None),
        (at(9, 0), "*", "the user was paused", sys.maxsize),  # never resumed
    ]
    everyone = _log_refusals(log, Timeframe.M5.floor)[EVERYONE]  # the operator's switch
    assert [(r.bar, r.token, r.why, r.until) for r in everyone] == [
        (at(10, 0), "*", "new entries stopped by the operator", at(11, 0)),
        (at(12, 0), "*", "new entries stopped by the operator", sys.maxsize),
    ]
