"""Reports: the terminal table, JSON, the offline HTML page and the PNG."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from report_fixtures import START, TradeSpec, make_result, three_trades
from rich.console import Console

from solbot.backtest.metrics import compute_metrics
from solbot.backtest.report import (
    fmt_duration,
    fmt_money,
    fmt_pct,
    fmt_ratio,
    render_table,
    returns_table,
    to_json,
)
from solbot.backtest.report_charts import (
    MAX_PLOT_POINTS,
    downsample_minmax,
    token_figure,
    write_equity_png,
    write_html,
)
from solbot.backtest.result import BacktestResult
from solbot.domain import ExitReason, Timeframe

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def result() -> BacktestResult:
    """Four daily bars, two tokens, the three hand-made trades, two blocked entries."""
    close = np.array([[10.0, 2.0], [11.0, 1.9], [10.5, 2.1], [12.0, 2.2]])
    return make_result(
        [100, 110, 99, 121],
        tokens=("SOL", "JUP"),
        trades=three_trades(),
        close=close,
        exposure=[True, True, False, True],
        blocked={"daily loss": 2},
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(12_000, "3h 20m"), (90_061, "1d 1h"), (3_600, "1h"), (45, "45s"), (0, "0s"), (None, "–")],
)
def test_fmt_duration(seconds: float | None, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_number_formats() -> None:
    assert fmt_ratio(math.inf) == "∞"
    assert fmt_ratio(None) == "–"
    assert fmt_ratio(1.234) == "1.23"
    assert fmt_pct(21.0) == "+21.00%"
    assert fmt_pct(-10.0) == "-10.00%"
    assert fmt_pct(0.0) == "0.00%"
    assert fmt_pct(-0.0) == "0.00%"
    assert fmt_pct(3_625_259_631.49) == "+3,625,259,631.49%"
    assert fmt_money(12_345.678, "USDC", signed=True) == "+12,345.68 USDC"
    assert fmt_money(1.23456, "SOL") == "1.2346 SOL"


def test_downsample_keeps_extremes_and_ends_of_a_million_points() -> None:
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.normal(size=1_000_000))
    keep = downsample_minmax(walk)
    assert len(keep) <= MAX_PLOT_POINTS
    assert bool(np.all(np.diff(keep) > 0))
    for i in (0, len(walk) - 1, int(np.argmin(walk)), int(np.argmax(walk))):
        assert i in set(keep.tolist())


def test_downsample_leaves_short_series_and_survives_leading_nan() -> None:
    assert downsample_minmax(np.arange(10.0)).tolist() == list(range(10))
    series = np.concatenate((np.full(6_000, np.nan), np.linspace(5.0, 1.0, 6_000)))
    keep = downsample_minmax(series)
    assert len(keep) <= MAX_PLOT_POINTS
    assert len(series) - 1 in keep.tolist()  # the minimum, last
    assert 6_000 in keep.tolist()  # the maximum, first real value


def test_table_renders_summary_metrics_tokens_and_breakers(result: BacktestResult) -> None:
    console = Console(record=True, width=160, force_terminal=True, color_system="standard")
    render_table(result, compute_metrics(result), console)
    text = console.export_text(clear=False)
    for expected in (
        "sma_cross(fast=10, slow=30)",
        "SOL, JUP",
        "2024-01-01 00:00 → 2024-01-05 00:00 UTC (4d, 4 bars)",
        "next bar's open",
        "fee 25 bps + slippage 10 bps per fill",
        "100.00 USDC → 121.00 USDC",
        "Total return",
        "+21.00%",
        "Max drawdown",
        "-10.00%",
        "2024-01-03 00:00 → 2024-01-04 00:00",
        "Profit factor",
        "5.00",
        "66.67%",
        "2h 6m",
        "+30.00 USDC",
        "-10.00 USDC",
        "take profit",
        "daily loss",
    ):
        assert expected in text, expected
    styled = console.export_text(styles=True)
    assert re.search(r"\x1b\[32m\s*\+21\.00%", styled)  # gains green
    assert re.search(r"\x1b\[31m\s*-10\.00%", styled)  # drawdown red


def test_table_of_an_empty_backtest_shows_dashes() -> None:
    empty = make_result([])
    console = Console(record=True, width=160)
    render_table(empty, compute_metrics(empty), console)
    text = console.export_text()
    assert "no bars" in text
    assert re.search(r"Sharpe\s+│?\s*–", text)


def test_metric_colours_follow_sign(result: BacktestResult) -> None:
    rows = {row[0][0]: row[1] for row in returns_table(compute_metrics(result)).rows}
    assert rows["Total return"] == ("+21.00%", 1)
    assert rows["Max drawdown"] == ("-10.00%", -1)


def test_json_round_trips_without_nan_or_infinity() -> None:
    winners = [TradeSpec(0, START + 3600, START + 7200, 50.0, 5.0, ExitReason.TAKE_PROFIT)]
    res = make_result([100.0] * 3, trades=winners, params={"window": 20, "band": float("nan")})
    data = to_json(res, compute_metrics(res))
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert data["metrics"]["profit_factor"] is None  # infinite: no losing trade
    assert data["metrics"]["sharpe"] is None  # flat equity
    assert data["params"] == {"window": 20, "band": None}
    assert data["config"]["fee_bps"] == 25.0
    assert data["config"]["risk"]["max_open_positions"] == 3
    assert data["per_token"][0]["token"] == "SOL"
    assert "per_token" not in data["metrics"]
    (trade,) = data["trades"]
    assert trade["entry_time"] == "2024-01-01T01:00:00Z"
    assert trade["exit_time"] == "2024-01-01T02:00:00Z"
    assert trade["exit_reason"] == "take profit"
    assert trade["holding_seconds"] == 3600
    assert trade["pnl"] == 5.0


def test_html_is_self_contained_with_markers_and_metrics(
    result: BacktestResult, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    write_html(result, compute_metrics(result), path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "Plotly.newPlot" in page
    # plotly.js is a file beside the reports, written once for all of them: no 5 MB per page
    assert "* plotly.js v" not in page
    (script,) = re.findall(r'<script[^>]+src="([^"]+)"', page, re.IGNORECASE)
    assert re.fullmatch(r"plotly-[\d.]+\.min\.js", script)
    library = tmp_path / script
    assert "* plotly.js v" in library.read_text(encoding="utf-8")[:2000]
    assert oct(library.stat().st_mode & 0o777) == "0o600"
    assert len(page) < 500_000 < library.stat().st_size
    write_html(result, compute_metrics(result), tmp_path / "second.html")
    assert sorted(p.name for p in tmp_path.glob("plotly-*")) == [script]  # one for all
    assert "cdn.plot.ly/plotly" not in page
    for expected in (
        "+21.00%",
        "-10.00%",
        "Profit factor",
        "SOL exit: %{text}",
        "JUP exit: %{text}",
        '"take profit"',
        '"stop loss"',
        "triangle-up",
        "triangle-down",
        "2024-01-01 05:00",  # third trade's entry in the trade list
        "<caption>By entry hour</caption>",
        "<td>05:00</td>",  # the third trade's entry hour
    ):
        assert expected in page, expected


def test_exit_markers_carry_reason_pnl_and_holding_time(result: BacktestResult) -> None:
    _, entries, wins, losses = token_figure(result, 0).data  # SOL: two winners
    assert entries.customdata.tolist() == [300.0, 400.0]
    assert "cost %{customdata:,.2f} USDC" in entries.hovertemplate
    assert wins.text == ("take profit", "signal")
    assert wins.hovertext == ("1h", "3h 20m")
    assert wins.customdata.tolist() == [[30.0, 10.0], [20.0, 5.0]]
    assert "pnl %{customdata[0]:+,.2f} USDC (%{customdata[1]:+.2f}%)" in wins.hovertemplate
    assert wins.marker.color != losses.marker.color
    _, _, jup_wins, jup_losses = token_figure(result, 1).data
    assert len(jup_wins.x) == 0
    assert jup_losses.text == ("stop loss",)
    assert jup_losses.customdata.tolist() == [[-10.0, -5.0]]


def test_markers_sit_at_exact_trade_times_in_a_long_backtest(tmp_path: Path) -> None:
    n = 1_000_000
    rng = np.random.default_rng(1)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, size=(n, 2)), axis=0))
    close[:1000, 1] = np.nan  # JUP lists later
    minute = 60
    odd = START + 123_457 * minute  # a bar that downsampling is unlikely to keep
    trades = [
        TradeSpec(0, odd, odd + 77 * minute, 1_000.0, 12.5, ExitReason.TRAILING_STOP),
        TradeSpec(1, odd + minute, odd + 9 * minute, 1_000.0, -3.0, ExitReason.MAX_HOLD),
    ]
    equity = 10_000.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-4, size=n)))
    res = make_result(
        equity,
        timeframe=Timeframe.M1,
        initial_cash=10_000.0,
        tokens=("SOL", "JUP"),
        trades=trades,
        close=close,
    )
    fig = token_figure(res, 0)
    line, entries, wins, losses = fig.data
    assert len(line.x) <= MAX_PLOT_POINTS
    assert entries.x.tolist() == [np.datetime64(odd, "s")]
    assert wins.x.tolist() == [np.datetime64(odd + 77 * minute, "s")]
    assert len(losses.x) == 0

    path = tmp_path / "long.html"
    write_html(res, compute_metrics(res), path)
    size = path.stat().st_size
    assert size < 8_000_000, size
    page = path.read_text(encoding="utf-8")
    assert '"trailing stop"' in page
    assert '"max hold"' in page


def test_png_is_a_real_image(result: BacktestResult, tmp_path: Path) -> None:
    path = tmp_path / "equity.png"
    write_equity_png(result, path)
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1210, 715)  # 11 x 6.5 inches at 110 dpi


def test_png_of_an_empty_backtest(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    write_equity_png(make_result([]), path)
    assert path.read_bytes().startswith(PNG_MAGIC)
