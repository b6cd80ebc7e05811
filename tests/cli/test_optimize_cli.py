"""`solbot optimize` from the command line: a ranked table, the overfitting verdict, the winner
as a solbot.toml snippet that parses, the same as JSON, and bad input as one line, exit 2."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from solbot.market.store import CandleStore

from .support import Run
from .test_stopping import SOLBOT, child_env

SEARCH = ["-p", "fast=5:15:5", "-p", "slow=20,40", "-t", "JUP", "-t", "BONK", "--workers", "2"]


def test_a_search_prints_its_ranking_verdict_and_snippet(run: Run, market: CandleStore) -> None:
    done = run("optimize", *SEARCH, "--windows", "4")

    assert done.code == 0, done.out + done.err
    assert "ema_trend: 6 parameter sets, 4 walk-forward windows, ranked out of sample" in done.out
    assert "probability of backtest overfitting: " in done.out
    snippet, report = done.out.split("for solbot.toml:")[1].split("\nreport: ")
    parsed = tomllib.loads(snippet)
    page = Path(report.strip())
    assert oct(page.stat().st_mode & 0o777) == "0o600"
    html = page.read_text(encoding="utf-8")
    assert "Out-of-sample Sharpe by fast and slow" in html
    assert '"type":"heatmap"' in html
    (script,) = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)  # plotly.js beside it, shared
    assert (page.parent / script).is_file()
    assert len(html) < 500_000
    assert parsed["strategy"] == "ema_trend"
    assert parsed["strategy_params"]["fast"] in (5, 10, 15)
    assert parsed["strategy_params"]["slow"] in (20, 40)

    document = json.loads(run("optimize", *SEARCH, "--windows", "4", "--json").out)
    assert document["best"] == snippet.strip()
    assert document["report"] == str(page)  # the same search overwrites its page
    scores = [float(c["score"]) for c in document["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert len(document["windows"]) == 4
    assert set(document["candidates"][0]) == {
        "params", "score", "test_sharpe", "train_sharpe", "test_return_pct", "test_trades"
    }  # fmt: skip


def test_the_breakers_are_the_backtest_s_options(run: Run, market: CandleStore) -> None:
    """A search runs every candidate under the risk the options give, as `backtest` does: one
    position at a time turns entries down that the breakers off let through."""
    base = [*SEARCH, "--windows", "4", "--json", "--no-report"]
    one = json.loads(run("optimize", *base, "--max-open", "1", "--cooldown-losses", "0").out)
    free = json.loads(run("optimize", *base, "--no-breakers").out)
    trades = {json.dumps(c["params"]): c["test_trades"] for c in free["candidates"]}
    assert any(c["test_trades"] < trades[json.dumps(c["params"])] for c in one["candidates"])


def test_tpe_searches_from_the_command_line(run: Run, market: CandleStore) -> None:
    args = ["--method", "tpe", "--trials", "8", "--seed", "2", "--windows", "4"]
    done = run("optimize", *SEARCH, *args, "--json")
    assert done.code == 0, done.err
    document = json.loads(done.out)
    assert 1 <= len(document["candidates"]) <= 8
    assert json.loads(run("optimize", *SEARCH, *args, "--json").out) == document  # seeded


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-p", "nope=1,2"], "--param nope: ema_trend has no such parameter; it has fast, slow"),
        (["-p", "fast=9:5:1"], "a range is LOW:HIGH:STEP with LOW <= HIGH, STEP > 0"),
        (["-p", "fast=5:9:0"], "a range is LOW:HIGH:STEP"),
        (["-p", "fast=a,b"], "--param fast=a,b: fast takes whole numbers"),
        (["-p", "fast"], "give NAME=VALUES"),
        (["-p", "fast=5", "-p", "fast=6"], "--param fast is given twice"),
        (["-p", "fast=1:100000:1"], "makes 100,000 values; at most 10,000"),
        (["-p", "fast=1:5000:1", "-p", "slow=1:5000:1"], "the grid has 25,000,000 parameter"),
        (["-p", "fast=5", "--method", "bayes"], "unknown --method 'bayes'; choose grid, random"),
        (["-p", "fast=5", "--windows", "200"], "cannot hold 200 windows"),
        (["-p", "fast=30", "-p", "slow=20"], "refused: strategy ema_trend: fast (30) must be"),
        (["-p", "fast=5", "--train-ratio", "nan"], "--train-ratio must be a positive number"),
        (["-p", "fast=5", "--max-drawdown-pct", "0"], "--max-drawdown-pct must be above 0"),
        (["-p", "fast=5", "--no-breakers", "--max-open", "2"], "--no-breakers switches them"),
        (["-p", "fast=5", "--tier", "reckless"], "reckless"),
    ],
)
def test_bad_input_is_one_line(run: Run, market: CandleStore, args: list[str], says: str) -> None:
    done = run("optimize", *args, "-t", "JUP")
    assert done.code == 2, done.out + done.err
    assert done.err.count("\n") == 1, done.err
    assert says in done.err


def test_ctrl_c_stops_a_search_and_its_workers_at_once(
    run: Run, market: CandleStore, data_dir: Path, tmp_path: Path
) -> None:
    """A terminal's Ctrl-C reaches the whole process group: the workers leave it to the parent,
    which terminates them rather than waiting for their chunks. (Measured by hand on a 34,000-set
    grid of two 4,000-bar tokens: 12 s before, 0.25 s after; this smaller grid guards the
    contract: exit 130 within seconds, no traceback, no worker left.)"""
    grid = ["-p", "fast=3:40:1", "-p", "slow=10:100:2", "-p", "atr_stop=1:4:0.5", "-t", "JUP"]
    env = child_env(tmp_path, {})
    with (tmp_path / "err").open("wb") as err:
        process = subprocess.Popen(
            [*SOLBOT, "--data-dir", str(data_dir), "optimize", *grid, "--workers", "2"],
            env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
        )  # fmt: skip
    try:
        time.sleep(4)  # past the imports; the search takes about a minute
        os.killpg(process.pid, signal.SIGINT)
        signalled = time.monotonic()
        code = process.wait(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert code == 130, (tmp_path / "err").read_text()
    assert took < 5, took
    err_text = (tmp_path / "err").read_text()
    assert "Traceback" not in err_text
    assert err_text.strip().splitlines()[-1] == "error: interrupted"  # said, not silent
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # no worker left behind


def test_the_progress_bar_over_a_forking_search_starts_no_thread() -> None:
    """optimize forks its pool under the bar: the bar must not run a refresh thread then (a
    fork inherits any lock that thread holds; Python 3.12+ warns). The ordinary bar does."""
    import io
    import threading

    from rich.console import Console
    from rich.live import _RefreshThread

    from solbot.cli.backtest import progress_bar

    def refreshing(forks: bool) -> bool:
        console = Console(file=io.StringIO(), force_terminal=True)
        before = set(threading.enumerate())
        with progress_bar(console, quiet=False, forks=forks) as progress:
            task = progress.add_task("sets", total=2)
            progress.update(task, completed=1, refresh=True)
            started = set(threading.enumerate()) - before
            return any(isinstance(t, _RefreshThread) for t in started)

    assert refreshing(forks=False)
    assert not refreshing(forks=True)
