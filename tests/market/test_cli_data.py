"""`solbot data ...` end to end through `solbot.cli.app.main`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fake_gecko import FakeGecko

from solbot.cli import data as data_cmd
from solbot.cli.app import main
from solbot.clock import ManualClock
from solbot.domain import Timeframe
from solbot.market.store import CandleStore
from solbot.market.synth import synth_candles

H = 3600
T0 = 1_704_067_200
NOW = T0 + 400 * H + 1_234  # mid-hour
SOL_POOL = "58oQChx4yWmvKdwLLZzBi4ChoCc2fqCUWBkwMihLYQo2"
SOL_MINT = "So11111111111111111111111111111111111111112"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env or solbot.toml
    for name in list(os.environ):
        if name.startswith("SOLBOT_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(data_cmd, "_clock", lambda: ManualClock(NOW))
    # A closed local port: should a test reach the network by mistake, it never leaves the host.
    monkeypatch.setenv("SOLBOT_GECKOTERMINAL_URL", "http://127.0.0.1:9/api/v2")
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(["--data-dir", str(data_dir), "data", *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_synth_defaults_to_trade_tokens_and_sol_for_a_year(run: Run, data_dir: Path) -> None:
    code, out, _ = run("synth")
    assert code == 0
    store = CandleStore(data_dir / "candles")
    listed = {(e.symbol, e.timeframe, e.count) for e in store.list()}
    assert listed == {(s, Timeframe.H1, 8760) for s in ("JUP", "BONK", "WIF", "JTO", "SOL")}
    sol = store.load("SOL", Timeframe.H1)
    assert sol.open_time[-1] == T0 + 399 * H  # the last closed hour at NOW
    assert 50 < sol.open[0] < 500
    assert store.load("BONK", Timeframe.H1).open[0] < 0.001
    assert "JUP 1h: 8,760 synthetic candles" in out


def test_synth_is_deterministic_per_seed_and_distinct_per_token(run: Run, data_dir: Path) -> None:
    assert run("synth", "-t", "JUP", "-t", "WIF", "--bars", "300", "--seed", "5")[0] == 0
    store = CandleStore(data_dir / "candles")
    jup = store.load("JUP", Timeframe.H1)
    wif = store.load("WIF", Timeframe.H1)
    returns = [np.diff(np.log(s.close)) for s in (jup, wif)]
    assert not np.allclose(returns[0], returns[1])
    assert run("synth", "-t", "JUP", "--bars", "300", "--seed", "5", "--replace")[0] == 0
    np.testing.assert_array_equal(store.load("JUP", Timeframe.H1).close, jup.close)
    assert run("synth", "-t", "JUP", "--bars", "300", "--seed", "6", "--replace")[0] == 0
    assert not np.array_equal(store.load("JUP", Timeframe.H1).close, jup.close)


def test_synth_keeps_stored_candles_without_replace(run: Run, data_dir: Path) -> None:
    store = CandleStore(data_dir / "candles")
    assert run("synth", "-t", "JUP", "--bars", "10", "--seed", "1")[0] == 0
    before = store.load("JUP", Timeframe.H1).close
    code, out, _ = run("synth", "-t", "JUP", "-t", "WIF", "--bars", "10", "--seed", "2")
    assert code == 0
    assert "JUP 1h: candles already stored, kept" in out
    np.testing.assert_array_equal(store.load("JUP", Timeframe.H1).close, before)
    assert len(store.load("WIF", Timeframe.H1)) == 10


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("synth", "--bars", "-5"), "--bars must be a positive number, got -5"),
        (("synth", "--bars", "0"), "--bars must be a positive number, got 0"),
        (("synth", "--token", "NOPE"), "unknown token 'NOPE'; known tokens:"),
        (("synth", "--timeframe", "2h"), "unknown timeframe '2h'"),
        (("download", "--days", "3", "--start", "2024-01-01"), "either --days or --start/--end"),
        (("download", "--days", "0"), "--days must be a positive number"),
        (("download", "--start", "2024-02-01", "--end", "2024-01-01"), "must be before --end"),
        (("download", "--start", "last tuesday"), "--start: 'last tuesday' is not a date"),
        (("download", "--token", "USDC"), "USDC has no GeckoTerminal pool configured"),
        (("import", "x.csv", "--token", "JUP", "--timeframe", "7m"), "unknown timeframe '7m'"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(run: Run, args: tuple[str, ...], problem: str):
    code, _, err = run(*args)
    assert code == 2
    assert problem in one_line_error(err)


def test_import_validates_and_merges(run: Run, data_dir: Path, tmp_path: Path) -> None:
    csv = tmp_path / "jup.csv"
    csv.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-01T01:00:00Z,1.1,1.3,1.0,1.2,50\n"
        "2024-01-01T00:00:00Z,1.0,1.2,0.9,1.1,40\n",
        encoding="utf-8",
    )
    code, out, _ = run("import", str(csv), "--token", "jup", "--timeframe", "1h")
    assert code == 0
    assert "Imported 2 1h candles of JUP" in out
    assert "2 new" in out
    stored = CandleStore(data_dir / "candles").load("JUP", Timeframe.H1)
    assert list(stored.open_time) == [T0, T0 + H]
    assert list(stored.close) == [1.1, 1.2]

    code, out, _ = run("list")
    assert code == 0
    assert "JUP" in out
    assert "2024-01-01 00:00" in out
    assert "2024-01-01 01:00" in out


def test_import_of_a_bad_file_names_the_line_and_writes_nothing(
    run: Run, data_dir: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        f"timestamp,open,high,low,close,volume\n{T0},1,2,0.5,1.5,1\n{T0 + H},1,0.9,0.5,1.5,1\n",
        encoding="utf-8",
    )
    code, _, err = run("import", str(csv), "--token", "JUP", "--timeframe", "1h")
    assert code == 2
    assert f"{csv}:3: high 0.9 is below max(open, close) = 1.5" in one_line_error(err)
    assert CandleStore(data_dir / "candles").coverage("JUP", Timeframe.H1) is None


def test_import_requires_a_timeframe(run: Run, tmp_path: Path) -> None:
    code, _, err = run("import", str(tmp_path / "x.csv"), "--token", "JUP")
    assert code == 2
    assert "--timeframe" in one_line_error(err)


def test_list_when_empty(run: Run) -> None:
    code, out, _ = run("list")
    assert code == 0
    assert "No candles stored" in out


def test_download_through_the_cli_then_top_up(
    run: Run, data_dir: Path, gecko: FakeGecko, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = synth_candles(Timeframe.H1, 401, seed=3, start_price=150.0, start_time=T0)
    gecko.add_pool(SOL_POOL, SOL_MINT, USDC_MINT, history)
    monkeypatch.setenv("SOLBOT_GECKOTERMINAL_URL", gecko.base_url)

    code, out, err = run("download", "--token", "SOL", "--days", "10")
    assert code == 0, err
    assert "SOL 1h: 240 new candles in 1 request(s)" in out
    stored = CandleStore(data_dir / "candles").load("SOL", Timeframe.H1)
    np.testing.assert_array_equal(stored.close, history.close[160:400])
    assert gecko.requests[0]["params"]["token"] == SOL_MINT

    code, out, _ = run("download", "--token", "SOL", "--days", "10")
    assert code == 0
    assert "SOL 1h: 0 new candles in 0 request(s)" in out
    assert len(gecko.requests) == 1
