"""`solbot run --replay`: the whole live loop on recorded candles, in a world of its own, as fast
as it runs; bad sources are one line and exit 2, with nothing made."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from solbot.domain import Timeframe
from solbot.market.store import CandleStore

from .support import Outcome, Run, files_under
from .test_run_output import FAST


@pytest.fixture
def fast(run: Run, monkeypatch: pytest.MonkeyPatch) -> Run:
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    return run


def synth(run: Run, *symbols: str, bars: int) -> None:
    tokens = [arg for symbol in symbols for arg in ("--token", symbol)]
    done = run("data", "synth", *tokens, "--timeframe", "1m", "--bars", str(bars), "--seed", "3")
    assert done.code == 0, done.err


def the_replay(data_dir: Path) -> Path:
    (folder,) = (data_dir / "replays").iterdir()
    return folder


def test_a_replay_trades_the_recorded_path_in_a_world_of_its_own(fast: Run, data_dir: Path) -> None:
    synth(fast, "JUP", "BONK", bars=150)
    recorded = CandleStore(data_dir / "candles").load("JUP", Timeframe.M1)

    done = fast("run", "--replay", "JUP:1m", "--replay", "BONK:1m")

    assert done.code == 0, done.out + done.err
    assert "replay of recorded candles (JUP 1m, BONK 1m)" in done.out
    assert re.search(r"books = chain +│ ✓", done.out)
    folder = the_replay(data_dir)
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    assert not (data_dir / "sim").exists()  # the sim world was never touched
    with sqlite3.connect(folder / "sim" / "solbot.db") as db:
        trades = db.execute("SELECT token, price, timestamp FROM trades").fetchall()
    assert {token for token, _, _ in trades} == {"JUP", "BONK"}
    # Fills at the recorded prices (the maker's costs aside), inside the recorded span.
    low, high = float(recorded.low.min()), float(recorded.high.max())
    jup = [float(price) for token, price, _ in trades if token == "JUP"]
    assert all(0.98 * low <= p <= 1.02 * high for p in jup), (low, high, jup)


def test_a_csv_named_after_its_token_replays_with_its_own_timeframe(
    fast: Run, data_dir: Path, tmp_path: Path
) -> None:
    synth(fast, "WIF", bars=120)
    series = CandleStore(data_dir / "candles").load("WIF", Timeframe.M1)
    columns = (series.open_time, series.open, series.high, series.low, series.close)
    rows = ["timestamp,open,high,low,close,volume"] + [
        f"{t},{o},{h},{lo},{c},1" for t, o, h, lo, c in zip(*columns, strict=True)
    ]
    path = tmp_path / "wif_1m.csv"
    path.write_text("\n".join([rows[0], *reversed(rows[1:])]) + "\n")  # newest first

    done = fast("run", "--replay", str(path), "--stop-after", "20m")

    assert done.code == 0, done.out + done.err
    assert "replay of recorded candles (WIF 1m)" in done.out
    assert "run summary: 0.3 h of bot time" in done.out
    assert re.search(r"replaying · .* 100%", done.out), done.out  # of the 20 minutes


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--replay", "NOPE:1m"], "--replay NOPE:1m: unknown token 'NOPE'; known tokens:"),
        (["--replay", "WIF:1m"], "--replay WIF:1m: no stored 1m candles of WIF; fetch them with"),
        (["--replay", "JUP:7m"], "--replay JUP:7m: unknown timeframe '7m'"),
        (["--replay", "JUP"], "--replay 'JUP': give TOKEN:TIMEFRAME"),
        (["--replay", "missing.csv"], "--replay missing.csv: no such file"),
        (["--replay", "JUP:1m", "--replay", "JUP:1m"], "--replay names JUP twice"),
        (["--replay", "USDC:1m"], "USDC is the quote asset"),
        (["--replay", "JUP:1m", "--paper"], "--replay runs on the embedded sim; drop --live"),
        (["--replay", "SHORT:1m"], "the strategy needs"),
    ],
)
def test_a_bad_replay_is_one_line_and_makes_nothing(
    fast: Run, data_dir: Path, args: list[str], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    synth(fast, "JUP", bars=60)
    if "SHORT:1m" in args:  # JUP has 60 bars; ask for more warm-up than that
        monkeypatch.setenv("SOLBOT_STRATEGY_PARAMS", json.dumps({"fast": 20, "slow": 50}))
        args = ["--replay", "JUP:1m"]
    before = files_under(data_dir)

    done = fast("run", *args)

    assert done.code == 2, done.out + done.err
    assert done.err.count("\n") == 1, done.err
    assert says in done.err
    assert "Traceback" not in done.err
    assert files_under(data_dir) == before


def test_a_replays_world_is_read_but_never_continued(fast: Run, data_dir: Path) -> None:
    synth(fast, "JUP", bars=150)
    assert fast("run", "--replay", "JUP:1m").code == 0
    folder = the_replay(data_dir)

    def there(*args: str) -> Outcome:
        return fast("--data-dir", str(folder), *args)

    assert there("positions").code == 0
    for args in (("list-users",), ("run", "--stop-after", "1m")):
        done = there(*args)
        assert done.code == 2, done.out + done.err
        assert done.err.count("\n") == 1, done.err
        assert "is a replay's world (`solbot run --replay`)" in done.err
