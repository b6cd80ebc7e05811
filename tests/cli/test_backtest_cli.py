"""`solbot backtest` and `solbot strategies` end to end: `data synth` makes a small seeded market
in a temporary data dir, then the real CLI runs over it (in this process through
`solbot.cli.app.main`, and as the installed console script in a subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.main import get_command

from solbot.cli.app import app, main
from solbot.domain import Timeframe
from solbot.market.store import CandleStore
from solbot.strategy.registry import list_strategies

from . import my_strategies
from .support import BARS, NOW, H, Outcome, Run, files_under

MOMENTUM = f"{my_strategies.__name__}:Momentum"
CHEATER = f"{my_strategies.__name__}:TomorrowsClose"
FIRST_BAR = NOW - NOW % H - BARS * H  # open time of the first synthetic candle
# Costs off, so that every fill price is a candle price: what the price assertions compare with.
NO_COSTS = ("--fee-bps", "0", "--slippage-bps", "0", "--no-impact")


def backtest_json(run: Run, *args: str) -> dict[str, Any]:
    done = run("backtest", "--json", "--no-report", *args)
    assert done.code == 0, done.err
    assert done.err == ""
    doc: dict[str, Any] = json.loads(done.out)  # the whole of stdout is one JSON document
    return doc


def unix(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def flat(text: str) -> str:
    """Rich tables wrap long cells; compare words, not line breaks and box drawing."""
    return " ".join(re.sub(r"[│┃]", " ", text).split())


# ---------------------------------------------------------------- a run and its reports


def test_synth_then_backtest_prints_the_tables_and_writes_a_self_contained_report(
    run: Run, market: CandleStore, data_dir: Path
) -> None:
    done = run("backtest", "--token", "JUP", "--token", "BONK")

    assert done.code == 0, done.err
    assert done.err == ""
    for heading in ("Backtest", "Returns", "Trading", "Per token", "Exit reasons"):
        assert heading in done.out
    for metric in ("Total return", "Max drawdown", "Sharpe", "Win rate", "Profit factor"):
        assert metric in done.out
    text = flat(done.out)
    assert "Tokens JUP, BONK" in text
    assert f"{BARS:,} bars" in text
    reports = sorted(report_files(data_dir / "reports"))
    assert [p.suffix for p in reports] == [".html", ".png"]
    html, png = reports
    assert re.fullmatch(r"backtest_ema_trend_1h_2024-10-30_2024-12-31_[0-9a-f]{8}", html.stem)
    assert png.stem == html.stem
    for path in reports:
        assert f"wrote {path}" in done.out.splitlines()  # whole, one line: copy and paste works
    page = html.read_text(encoding="utf-8")
    assert "<script" in page
    # the page works offline: plotly.js is the file beside it, nothing from the network
    (script,) = re.findall(r'<script[^>]*\bsrc="([^"]+)"', page)
    assert (html.parent / script).is_file()
    assert 'src="http' not in page
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_json_is_the_only_thing_on_stdout_and_no_report_writes_nothing(
    run: Run, market: CandleStore, data_dir: Path
) -> None:
    before = files_under(data_dir)

    doc = backtest_json(run, "-t", "JUP", "-t", "BONK")

    assert files_under(data_dir) == before
    assert doc["reports"] == []
    assert doc["strategy"] == "ema_trend"
    assert doc["tokens"] == ["JUP", "BONK"]
    assert doc["timeframe"] == "1h"
    metrics = doc["metrics"]
    assert metrics["bars"] == BARS
    assert unix(metrics["start_time"]) == FIRST_BAR  # synth ran on the fixed clock
    assert metrics["initial_equity"] == 10_000.0
    assert metrics["trades"] == len(doc["trades"]) > 0
    assert {t["token"] for t in doc["trades"]} <= {"JUP", "BONK"}
    pnl = sum(t["pnl"] for t in doc["trades"])
    assert metrics["final_equity"] == pytest.approx(10_000.0 + pnl)
    assert {row["token"] for row in doc["per_token"]} == {"JUP", "BONK"}
    # the same seeded data and options give the same result, to the last digit
    assert backtest_json(run, "-t", "JUP", "-t", "BONK") == doc


def report_files(folder: Path) -> list[Path]:
    """The reports in `folder`, without the plotly.js they share (`plotly_asset`)."""
    return [p for p in folder.iterdir() if not p.name.startswith("plotly-")]


def test_json_with_reports_lists_the_files_it_wrote(
    run: Run, market: CandleStore, tmp_path: Path
) -> None:
    out = tmp_path / "elsewhere" / "reports"
    done = run("backtest", "-t", "JUP", "--json", "--out", str(out))

    assert done.code == 0, done.err
    doc = json.loads(done.out)
    assert sorted(doc["reports"]) == sorted(str(p) for p in report_files(out))
    assert len(doc["reports"]) == 2


def test_start_and_end_select_days_and_end_is_exclusive(run: Run, market: CandleStore) -> None:
    doc = backtest_json(run, "-t", "JUP", "--start", "2024-12-01", "--end", "2024-12-11")

    assert doc["metrics"]["bars"] == 10 * 24
    assert doc["metrics"]["start_time"] == "2024-12-01T00:00:00Z"
    assert doc["metrics"]["end_time"] == "2024-12-11T00:00:00Z"  # the close of the last bar


# ---------------------------------------------------------------- bad input


BAD_INPUT = [
    (("--strategy", "nope"), "unknown strategy 'nope'; built-ins: donchian_breakout, ema_trend"),
    (("--strategy", ""), "unknown strategy ''"),
    (("--strategy", "cli.no_such_module:X"), "cannot import strategy 'cli.no_such_module:X'"),
    (("--token", "NOPE"), "unknown token 'NOPE'; known tokens: BONK, JTO, JUP"),
    (("--stop-loss-pct", "-1"), "Invalid value for '--stop-loss-pct'"),
    (("--stop-loss-pct", "100"), "Invalid value for '--stop-loss-pct'"),
    (("--take-profit-pct", "-2"), "Invalid value for '--take-profit-pct'"),
    (("--take-profit-pct", "inf"), "--take-profit-pct must be a finite number, got inf"),
    (("--trailing-stop-pct", "-1"), "Invalid value for '--trailing-stop-pct'"),
    (("--fee-bps", "-5"), "Invalid value for '--fee-bps'"),
    (("--slippage-bps", "-0.5"), "Invalid value for '--slippage-bps'"),
    (("--position-pct", "-1"), "Invalid value for '--position-pct'"),
    (("--position-pct", "0"), "--position-pct must be above 0 and at most 100, got 0"),
    (("--max-drawdown-pct", "0"), "--max-drawdown-pct must be above 0 and at most 100, got 0"),
    (("--max-daily-loss-pct", "101"), "--max-daily-loss-pct must be above 0 and at most 100"),
    (("--cooldown-minutes", "-1"), "--cooldown-minutes must be a number of at least 0, got -1"),
    (
        ("--no-breakers", "--cooldown-losses", "2"),
        "--no-breakers switches them all off; drop --cooldown-losses",
    ),
    (("--max-open", "0"), "Invalid value for '--max-open'"),
    (("--max-hold-hours", "-1"), "Invalid value for '--max-hold-hours'"),
    (("--cash", "0"), "Invalid value for '--cash'"),
    (("--cash", "inf"), "--cash must be a finite number, got inf"),
    (("--cash", "lots"), "Invalid value for '--cash'"),
    (("--cuts", "0", "--check-lookahead"), "--cuts must be at least 1, got 0"),
    (("--cuts", "many", "--check-lookahead"), "--cuts takes a number or `all`, got 'many'"),
    (("--timeframe", "2h"), "unknown timeframe '2h'; choose one of 1m, 5m, 15m, 1h, 4h, 1d"),
    (("--timeframe", ""), "unknown timeframe ''"),
    (("--start", "yesterday"), "--start: 'yesterday' is not a date; use YYYY-MM-DD"),
    (("--start", ""), "--start: '' is not a date"),
    (("--end", "2024-13-01"), "--end: '2024-13-01' is not a date"),
    (
        ("--start", "2024-12-10", "--end", "2024-12-01"),
        "--end (2024-12-01) must be after --start (2024-12-10)",
    ),
    (("--start", "2024-12-10", "--end", "2024-12-10"), "--end (2024-12-10) must be after"),
    (("--param", "fast"), "--param wants NAME=VALUE, got 'fast'"),
    (("--param", "=5"), "--param wants NAME=VALUE, got '=5'"),
    (
        ("--param", "fast=50", "--param", "slow=10"),
        "strategy ema_trend: fast (50) must be less than slow (10)",
    ),
    (("--param", "fast=quick"), "strategy ema_trend: parameter 'fast': Input should be"),
    (("--param", "nope=1"), "strategy ema_trend: unknown parameter 'nope'; parameters: fast,"),
    (("--quote", "EUR"), "unknown quote asset 'EUR'; choose USDC or SOL"),
    (("--quote", ""), "unknown quote asset ''"),
    (("--tier", "reckless"), "unknown risk tier 'reckless'; choose one of conservative,"),
    (("--tier", ""), "unknown risk tier ''"),
    (("--fill", "open"), "unknown fill convention 'open'; choose next_open or close"),
    (("--token", "USDC"), "USDC is the quote asset; it cannot also be traded"),
    (("--quote", "SOL", "--token", "SOL"), "SOL is the quote asset; it cannot also be traded"),
    (("--frobnicate",), "No such option: --frobnicate"),
    (
        ("--token", "WIF"),
        "no 1h candles stored for WIF; get them with `solbot data download --token WIF "
        "--timeframe 1h` or, offline, `solbot data synth --token WIF --timeframe 1h`",
    ),
    (("--timeframe", "4h"), "no 4h candles stored for JUP; get them with"),
    (
        ("--start", "2025-06-01"),
        "no 1h candles for JUP in the period asked (--start/--end); stored: 1,500 from "
        "2024-10-30T12:00:00Z to 2024-12-31T23:00:00Z",
    ),
]


@pytest.mark.parametrize(("args", "problem"), BAD_INPUT, ids=[" ".join(a) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_exit_code_2_and_writes_nothing(
    run: Run, market: CandleStore, data_dir: Path, args: tuple[str, ...], problem: str
) -> None:
    before = files_under(data_dir)

    done = run("backtest", "--token", "JUP", *args)  # reports on: nothing may be written anyway

    assert done.code == 2, done.out + done.err
    assert problem in done.error_line()
    assert done.out == ""
    assert files_under(data_dir) == before


def test_without_any_candles_the_error_says_how_to_get_them(run: Run, data_dir: Path) -> None:
    done = run("backtest")  # the default trade tokens, nothing stored

    assert done.code == 2
    line = done.error_line()
    assert "no 1h candles stored for JUP" in line
    assert "`solbot data synth --token JUP --timeframe 1h`" in line
    assert not data_dir.exists()


def test_a_quote_without_sol_candles_says_how_to_get_them(run: Run, data_dir: Path) -> None:
    assert run("data", "synth", "--token", "JUP", "--bars", "100").code == 0

    done = run("backtest", "-t", "JUP", "--quote", "SOL")

    assert done.code == 2
    assert "no 1h candles stored for SOL to price the tokens in SOL; get them with" in (
        done.error_line()
    )


def test_an_unusable_report_folder_fails_before_the_run(
    run: Run, market: CandleStore, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")

    done = run("backtest", "-t", "JUP", "--out", str(blocker / "reports"))

    assert done.code == 2
    assert f"cannot create the report folder {blocker / 'reports'}:" in done.error_line()
    assert done.out == ""


def console_script() -> list[str]:
    """The installed `solbot` next to this interpreter (what an operator runs), else `-m`."""
    script = Path(sys.executable).with_name("solbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "solbot.cli.app"]


def run_process(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`solbot ARGS...` as a real process: real exit code, real stderr, no pytest in between."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLBOT_")}
    env |= {"SOLBOT_DATA_DIR": str(data_dir), "COLUMNS": "100"}
    # the package of my_strategies importable, as an operator's own package would be
    package_root = Path(my_strategies.__file__).parents[my_strategies.__name__.count(".")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(package_root), env.get("PYTHONPATH")]))
    return subprocess.run(
        [*console_script(), *args],
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_installed_command_exits_2_with_one_line_and_0_with_json(
    run: Run, market: CandleStore, data_dir: Path
) -> None:
    before = files_under(data_dir)

    bad = run_process(data_dir, "backtest", "-t", "JUP", "--fee-bps", "-5")

    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert bad.stderr.count("\n") == 1
    assert bad.stderr.startswith("error: Invalid value for '--fee-bps'")
    assert bad.stdout == ""
    assert files_under(data_dir) == before

    good = run_process(data_dir, "backtest", "-t", "JUP", "--json", "--no-report")

    assert good.returncode == 0, good.stderr
    assert good.stderr == ""  # no progress bar residue when stderr is not a terminal
    assert json.loads(good.stdout)["metrics"] == backtest_json(run, "-t", "JUP")["metrics"]
    assert files_under(data_dir) == before


# ---------------------------------------------------------------- look-ahead check


def test_lookahead_check_of_every_bar(run: Run, market: CandleStore) -> None:
    done = run("backtest", "-t", "JUP", "--check-lookahead", "--cuts", "all")
    assert done.code == 0, done.err
    assert f"JUP {BARS} {BARS} no look-ahead" in flat(done.out)


def test_lookahead_check_passes_a_builtin(run: Run, market: CandleStore, data_dir: Path) -> None:
    before = files_under(data_dir)

    done = run("backtest", "-t", "JUP", "-t", "BONK", "--check-lookahead", "--cuts", "150")

    assert done.code == 0, done.err
    text = flat(done.out)
    assert "look-ahead check: ema_trend" in text
    assert f"JUP {BARS} 150 no look-ahead" in text
    assert f"BONK {BARS} 150 no look-ahead" in text
    assert files_under(data_dir) == before  # a check writes no report


def test_lookahead_check_catches_a_cheating_user_strategy(run: Run, market: CandleStore) -> None:
    done = run("backtest", "-s", CHEATER, "-t", "JUP", "--check-lookahead", "--cuts", "100")

    assert done.code == 1
    text = flat(done.out)
    assert f"look-ahead check: {CHEATER}" in text
    assert re.search(r"LOOK-AHEAD at \d+ of 100 cut points \(fields: entry, exit;", text), text

    check = json.loads(
        run(
            "backtest", "-s", CHEATER, "-t", "JUP", "--check-lookahead", "--cuts", "100", "--json"
        ).out
    )
    assert check["passed"] is False
    (jup,) = check["tokens"]
    assert jup["token"] == "JUP"
    assert jup["passed"] is False
    assert jup["bad_fields"] == ["entry", "exit"]
    assert jup["bad_bars"]


def test_the_installed_command_fails_a_cheater_with_exit_code_1(
    market: CandleStore, data_dir: Path
) -> None:
    done = run_process(
        data_dir, "backtest", "-s", CHEATER, "-t", "BONK", "--check-lookahead", "--cuts", "50"
    )

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "LOOK-AHEAD" in done.stdout


# ---------------------------------------------------------------- quote asset and fills


def entry_prices_match(
    doc: dict[str, Any], store: CandleStore, fill: str, quote: str
) -> list[bool]:
    """Whether each trade entered at the price its fill convention promises, in the quote."""
    jup = store.load("JUP", Timeframe.H1)
    sol = store.load("SOL", Timeframe.H1)
    assert np.array_equal(jup.open_time, sol.open_time)
    out = []
    for trade in doc["trades"]:
        k = int(np.searchsorted(jup.open_time, unix(trade["entry_time"])))
        # next_open: the entry bar's open; close: the close of the bar before (the signal bar,
        # whose close time is the entry time)
        i, price = (k, jup.open[k]) if fill == "next_open" else (k - 1, jup.close[k - 1])
        expected = price / sol.close[i] if quote == "SOL" else price
        out.append(trade["entry_price"] == pytest.approx(expected, rel=1e-12))
    return out


def test_sol_as_quote_prices_the_tokens_in_sol(run: Run, market: CandleStore) -> None:
    usdc = backtest_json(run, "-t", "JUP", *NO_COSTS)
    sol = backtest_json(run, "-t", "JUP", "--quote", "SOL", *NO_COSTS)

    assert sol["config"]["quote"] == "SOL"
    assert sol["trades"]
    assert all(entry_prices_match(sol, market, "next_open", "SOL"))
    assert all(entry_prices_match(usdc, market, "next_open", "USDC"))
    sol_price = market.load("SOL", Timeframe.H1).close
    assert max(t["entry_price"] for t in sol["trades"]) < 2 / sol_price.min()  # JUP ~ $1


def test_sol_as_quote_reads_the_usd_chart_as_the_live_loop_does(
    run: Run, market: CandleStore
) -> None:
    """The live loop builds each token's candles from its USD price and computes the signals
    on them whatever the quote; the backtest must decide on the same chart, and only price
    the fills, marks and breakers in SOL. (It read the token's SOL chart, whose crossovers
    differ.) With no breakers and no costs in the way, both quotes enter on the same bars."""
    usdc = backtest_json(run, "-t", "JUP", *NO_COSTS, "--no-breakers")
    sol = backtest_json(run, "-t", "JUP", "--quote", "SOL", *NO_COSTS, "--no-breakers")
    assert len(usdc["trades"]) >= 5
    assert [t["entry_time"] for t in sol["trades"]] == [t["entry_time"] for t in usdc["trades"]]


def test_close_fills_differ_from_next_open_fills(run: Run, market: CandleStore) -> None:
    # In SOL: a synthetic USD candle opens at the previous close, but a SOL-quoted one does not
    # (SOL moves in between), so the two conventions fill at different prices.
    args = ("-t", "JUP", "--quote", "SOL", *NO_COSTS)
    next_open = backtest_json(run, *args)
    close = backtest_json(run, *args, "--fill", "close")

    assert next_open["config"]["fill"] == "next_open"
    assert close["config"]["fill"] == "close"
    assert all(entry_prices_match(next_open, market, "next_open", "SOL"))
    assert all(entry_prices_match(close, market, "close", "SOL"))
    assert close["metrics"]["final_equity"] != next_open["metrics"]["final_equity"]
    assert [t["entry_price"] for t in close["trades"]] != [
        t["entry_price"] for t in next_open["trades"]
    ]


# ---------------------------------------------------------------- user strategies


def test_a_user_strategy_by_dotted_path_runs_a_backtest(
    run: Run, market: CandleStore, data_dir: Path
) -> None:
    doc = backtest_json(run, "--strategy", MOMENTUM, "--param", "lookback=6", "-t", "BONK")

    assert doc["strategy"] == MOMENTUM
    assert doc["params"] == {"lookback": 6}
    assert doc["trades"]
    assert {t["token"] for t in doc["trades"]} == {"BONK"}

    done = run("backtest", "--strategy", MOMENTUM, "-t", "BONK")
    assert done.code == 0, done.err
    assert MOMENTUM in done.out
    stems = {p.stem for p in report_files(data_dir / "reports")}
    assert len(stems) == 1
    assert stems.pop().startswith(
        f"backtest_{MOMENTUM.replace(':', '-')}_1h_2024-10-30_2024-12-31_"
    )


@pytest.mark.usefixtures("market")
def test_reports_of_different_runs_do_not_overwrite_each_other(run: Run, data_dir: Path) -> None:
    assert run("backtest", "-t", "JUP").code == 0
    assert run("backtest", "-t", "JUP").code == 0  # the same run again: same files
    assert len(report_files(data_dir / "reports")) == 2
    assert run("backtest", "-t", "BONK").code == 0
    assert run("backtest", "-t", "JUP", "-p", "fast=10").code == 0
    assert len(report_files(data_dir / "reports")) == 6
    assert len(list((data_dir / "reports").glob("plotly-*.min.js"))) == 1  # shared by all


def test_a_user_strategys_bad_parameter_is_one_line(run: Run, market: CandleStore) -> None:
    done = run("backtest", "--strategy", MOMENTUM, "--param", "lookback=0", "-t", "JUP")

    assert done.code == 2
    assert f"strategy {MOMENTUM}: parameter 'lookback':" in done.error_line()


# ---------------------------------------------------------------- strategies and help


def test_strategies_lists_the_builtins_with_their_parameters(run: Run) -> None:
    done = run("strategies")

    assert done.code == 0, done.err
    assert done.err == ""
    text = flat(done.out)
    assert "ema_trend (default):" in text
    infos = list_strategies()
    assert [info.name for info in infos] == ["donchian_breakout", "ema_trend"]
    # each strategy's table lists its own parameters, in order, with type and default
    offsets = [done.out.index(info.name) for info in infos] + [len(done.out)]
    for info, begin, end in zip(infos, offsets, offsets[1:], strict=False):
        assert info.summary in flat(done.out[begin:end])
        section = flat(done.out[begin:end])
        for p in info.params:
            default = "–" if p.default is None else str(p.default)
            assert f"{p.name} {p.type} {default}" in section, (info.name, p.name)


HELP = [
    ("--help",),
    ("backtest", "--help"),
    ("strategies", "--help"),
    ("data", "--help"),
    ("data", "import", "--help"),
    ("data", "download", "--help"),
    ("data", "synth", "--help"),
    ("data", "list", "--help"),
]


@pytest.mark.parametrize("args", HELP, ids=[" ".join(a) for a in HELP])
def test_help_exits_0_and_shows_usage_and_every_option(run: Run, args: tuple[str, ...]) -> None:
    done = run(*args)

    assert done.code == 0, done.err
    assert done.err == ""
    path = [a for a in args if a != "--help"]
    assert f"Usage: solbot {' '.join(path)}".rstrip() in done.out
    command: Any = get_command(app)
    for name in path:
        command = command.commands[name]
    assert command.help.splitlines()[0].strip() in flat(done.out)
    for param in command.params:
        for option in param.opts:
            if option.startswith("--"):
                assert option in done.out, option
    for sub in getattr(command, "commands", {}):
        assert sub in done.out


def test_backtest_help_names_what_each_value_is(run: Run) -> None:
    done = run("backtest", "--help")
    text = flat(done.out)

    # metavars say what to type, not the Python type (<str>, <list[str]>, <float range>)
    for raw in ("<str>", "<list[str]>", "<float range>", "<int range>", "<path>"):
        assert raw not in done.out
    for usage in ("--param -p NAME=VALUE", "--token -t SYMBOL", "--start DATE", "--fee-bps BPS"):
        assert usage in text
    assert "solbot strategies" in text
    assert "Exit code 1 if any differs" in text


def test_no_command_prints_the_help_and_exits_0(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOLBOT_DATA_DIR", str(data_dir))
    for args in ([], ["data"]):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 0
        out, err = capsys.readouterr()
        assert f"Usage: solbot {' '.join(args)}".strip() in out
        assert err == ""


def test_an_unknown_command_is_one_line(run: Run) -> None:
    done: Outcome = run("bakctest")

    assert done.code == 2
    assert "No such command 'bakctest'" in done.error_line()


def test_a_backtest_reports_the_performance_fee_beside_its_pnl(
    run: Run, market: CandleStore
) -> None:
    plain = backtest_json(run, "--token", "JUP", "--token", "BONK")
    assert plain["performance_fee"] is None  # off unless asked for or configured
    doc = backtest_json(run, "--token", "JUP", "--token", "BONK", "--performance-fee-pct", "20")
    fee = doc["performance_fee"]
    realised = sum(t["pnl"] for t in doc["trades"])
    assert fee["pct"] == 20
    assert abs(fee["realised_pnl"] - realised) < 1e-6
    assert 0 <= fee["fee"] <= 0.2 * max(0.0, fee["high_water"] + fee["fee"]) + 1e-9
    assert abs(fee["pnl_after_fee"] - (realised - fee["fee"])) < 1e-6
    assert doc["metrics"] == plain["metrics"]  # reported beside, not taken from the curve
    shown = run("backtest", "--no-report", "--token", "JUP", "--performance-fee-pct", "20")
    assert "Performance fee 20 % above the high-water mark" in flat(shown.out)


def test_every_breaker_is_an_option_and_no_breakers_switches_them_off(
    run: Run, market: CandleStore
) -> None:
    limits = [
        "--max-position-pct", "7", "--max-daily-loss-pct", "2", "--cooldown-losses", "1",
        "--cooldown-minutes", "600", "--max-drawdown-pct", "15", "--drawdown-pause-hours", "2",
    ]  # fmt: skip
    tight = json.loads(run("backtest", "-t", "JUP", "--no-report", "--json", *limits).out)
    risk = tight["config"]["risk"]
    assert (risk["position_size_pct"], risk["max_position_pct"]) == (7.0, 7.0)  # as set-risk
    assert (risk["max_daily_loss_pct"], risk["cooldown_losses"]) == (2.0, 1)
    assert (risk["cooldown_minutes"], risk["max_drawdown_pct"]) == (600.0, 15.0)
    assert risk["drawdown_pause_hours"] == 2.0
    assert sum(tight["metrics"]["blocked"].values()) > 0  # such breakers refuse entries

    free = json.loads(run("backtest", "-t", "JUP", "--no-report", "--json", "--no-breakers").out)
    assert sum(free["metrics"]["blocked"].values()) == 0
    assert free["config"]["risk"]["cooldown_losses"] == 0
    assert free["metrics"]["trades"] > tight["metrics"]["trades"]
