"""Backtest reports to look at: a self-contained HTML page (plotly charts, the report's tables)
and an equity PNG (matplotlib). plotly and matplotlib are imported only by the functions that
draw, so `solbot backtest` does not pay for them when it prints a table.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from solbot.backtest.metrics import Metrics, drawdown_pct, equity_path
from solbot.backtest.plotly_asset import plotly_script
from solbot.backtest.report import (
    Tabular,
    blocked_table,
    exit_reason_table,
    fmt_duration,
    fmt_money,
    fmt_pct,
    hour_table,
    quote_decimals,
    returns_table,
    summary_table,
    token_table,
    trade_table,
    trading_table,
)
from solbot.backtest.result import BacktestResult
from solbot.domain import ExitReason, FloatArray, IntArray
from solbot.private_files import replacing, write_private

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "MAX_PLOT_POINTS",
    "PAGE_CSS",
    "downsample_minmax",
    "equity_figure",
    "html_table",
    "token_figure",
    "write_equity_png",
    "write_html",
]

MAX_PLOT_POINTS = 5000
"""Points per plotted line: enough for a sharp screen-wide chart, small enough that a
million-bar backtest still makes an HTML file of a few MB."""
GREEN = "#2ca02c"
RED = "#d62728"
BLUE = "#1f77b4"


def downsample_minmax(values: FloatArray, max_points: int = MAX_PLOT_POINTS) -> IntArray:
    """Indices of at most `max_points` points that keep a line's shape: split the series into
    equal buckets and keep each bucket's lowest and highest point (and the first and last).

    Every peak and trough survives, which plain striding would drop; a drawdown chart that lost
    its deepest point would lie. NaN (a token not yet listed) is kept only where a whole bucket is
    NaN, which draws the gap.
    """
    n = len(values)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = max(1, (max_points - 2) // 2)
    size = -(-n // buckets)
    padded = np.full(buckets * size, np.nan)
    padded[:n] = values
    rows = padded.reshape(buckets, size)
    missing = np.isnan(rows)
    low = np.where(missing, np.inf, rows).argmin(axis=1)
    high = np.where(missing, -np.inf, rows).argmax(axis=1)
    start = np.arange(buckets, dtype=np.int64) * size
    picked = np.concatenate(([0, n - 1], start + low, start + high))
    return np.unique(np.minimum(picked, n - 1))


def _dates(ts: IntArray) -> npt.NDArray[np.datetime64]:
    """numpy datetimes serialise to naive ISO strings, which plotly draws as written (UTC); plain
    milliseconds would be shifted to the viewer's time zone."""
    return np.asarray(ts, dtype=np.int64).astype("datetime64[s]")


def equity_figure(result: BacktestResult) -> go.Figure:
    """Equity above, the underwater (drawdown) curve below, on one shared time axis."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    times, values = equity_path(result)
    underwater = drawdown_pct(values)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05
    )
    keep = downsample_minmax(values)
    fig.add_trace(
        go.Scatter(
            x=_dates(times[keep]),
            y=values[keep],
            name=f"equity ({result.config.quote})",
            line={"color": BLUE, "width": 1.5},
        ),
        row=1,
        col=1,
    )
    keep = downsample_minmax(underwater)
    fig.add_trace(
        go.Scatter(
            x=_dates(times[keep]),
            y=underwater[keep],
            name="drawdown %",
            fill="tozeroy",
            line={"color": RED, "width": 1},
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text=result.config.quote, row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", row=2, col=1)
    fig.update_xaxes(hoverformat="%Y-%m-%d %H:%M UTC")
    fig.update_layout(
        template="plotly_white",
        height=560,
        margin={"l": 60, "r": 20, "t": 30, "b": 30},
        hovermode="x unified",
        legend={"orientation": "h", "y": 1.06},
    )
    return fig


def token_figure(result: BacktestResult, k: int) -> go.Figure:
    """Token k's close with every trade: entries ▲ green, exits ▼ green for a win and red
    otherwise, each at its exact fill time and price, hover text giving the reason and pnl.

    Closes are drawn at the bar's close time, where a close fill happens and where a next-open
    fill of the following bar sits, so markers land on the line. Markers are never downsampled,
    so their hover figures travel as numbers (`customdata`, packed binary by plotly) formatted by
    the browser: a full text per marker would triple the size of a page with many trades.
    """
    import plotly.graph_objects as go

    token, quote = escape(result.tokens[k]), result.config.quote
    close = result.close[:, k].astype(np.float64)
    times = result.open_time.astype(np.int64) + result.timeframe.seconds
    keep = downsample_minmax(close)
    trades = result.trades.select(result.trades.token == k)
    money = f",.{quote_decimals(quote)}f"
    when = "%{x|%Y-%m-%d %H:%M} UTC<br>price %{y:.6g}"
    fig = go.Figure(
        go.Scatter(
            x=_dates(times[keep]),
            y=close[keep],
            name=f"{token} close",
            line={"color": BLUE, "width": 1},
            hovertemplate="%{y:.6g}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=_dates(trades.entry_time),
            y=trades.entry_price,
            mode="markers",
            name="entry",
            marker={"symbol": "triangle-up", "color": GREEN, "size": 10},
            customdata=trades.entry_value,
            hovertemplate=(
                f"<b>{token} entry</b><br>{when}<br>cost %{{customdata:{money}}} {quote}"
                "<extra></extra>"
            ),
        )
    )
    win = trades.pnl > 0
    for name, mask, colour in (("exit (win)", win, GREEN), ("exit (loss)", ~win, RED)):
        exits = trades.select(mask)
        fig.add_trace(
            go.Scatter(
                x=_dates(exits.exit_time),
                y=exits.exit_price,
                mode="markers",
                name=name,
                marker={
                    "symbol": "triangle-down",
                    "color": colour,
                    "size": 10,
                    "line": {"color": "black", "width": 0.5},
                },
                customdata=np.column_stack((exits.pnl, exits.return_pct)),
                text=[ExitReason(int(r)).label for r in exits.reason],
                hovertext=[fmt_duration(int(s)) for s in exits.exit_time - exits.entry_time],
                hovertemplate=(
                    f"<b>{token} exit: %{{text}}</b><br>{when}"
                    f"<br>pnl %{{customdata[0]:+{money}}} {quote} (%{{customdata[1]:+.2f}}%)"
                    "<br>held %{hovertext}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(hoverformat="%Y-%m-%d %H:%M UTC")
    fig.update_layout(
        template="plotly_white",
        title={"text": f"{token}: close and trades"},
        height=420,
        margin={"l": 60, "r": 20, "t": 50, "b": 30},
        yaxis_title=f"price ({quote})",
        legend={"orientation": "h", "y": 1.08},
    )
    return fig


# ---------------------------------------------------------------- HTML


def write_html(result: BacktestResult, metrics: Metrics, path: str | Path) -> None:
    """One HTML file that opens offline: plotly's JavaScript is the file beside it, shared by
    every report of the folder (`plotly_asset`), and nothing is fetched from the network."""
    quote = result.config.quote
    script = plotly_script(Path(path).expanduser().parent)
    figures = [equity_figure(result)] + [token_figure(result, k) for k in range(len(result.tokens))]
    charts = [
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            config={"displaylogo": False, "responsive": True},
        )
        for fig in figures
    ]
    title = f"solbot backtest: {result.strategy} on {', '.join(result.tokens)}"
    body = [
        f"<h1>{escape(title)}</h1>",
        html_table(summary_table(result, metrics)),
        '<div class="row">',
        html_table(returns_table(metrics)),
        html_table(trading_table(metrics, quote)),
        "</div>",
        "<h2>Equity and drawdown</h2>",
        charts[0],
        html_table(token_table(metrics, quote)),
        '<div class="row">',
        html_table(exit_reason_table(metrics)),
        html_table(blocked_table(metrics)),
        "</div>",
        f'<div class="scroll">{html_table(hour_table(metrics, quote))}</div>',
        "<h2>Prices and trades</h2>",
        *charts[1:],
        f'<div class="scroll">{html_table(trade_table(result))}</div>',
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n<style>{PAGE_CSS}</style>\n{script}\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
    write_private(path, page, durable=False)  # 0600, like every file solbot writes


def html_table(table: Tabular) -> str:
    css = "num" if table.numeric else "kv"
    head = (
        "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in table.headers) + "</tr></thead>"
        if table.show_header
        else ""
    )
    body = "".join(
        "<tr>"
        + "".join(f"<td{_HTML_CLASS[sign]}>{escape(text)}</td>" for text, sign in row)
        + "</tr>"
        for row in table.rows
    )
    return (
        f'<table class="{css}"><caption>{escape(table.title)}</caption>'
        f"{head}<tbody>{body}</tbody></table>"
    )


_HTML_CLASS = {1: ' class="pos"', -1: ' class="neg"', 0: ""}

PAGE_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 28px; }
.row { display: flex; gap: 32px; flex-wrap: wrap; align-items: flex-start; }
table { border-collapse: collapse; margin: 12px 0; font-size: 0.9em; }
caption { text-align: left; font-weight: bold; padding: 4px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e3e3e3; white-space: nowrap; }
th { background: #f4f4f4; }
table.num td, table.num th { text-align: right; font-variant-numeric: tabular-nums; }
table.num td:first-child, table.num th:first-child, table.kv td { text-align: left; }
table.kv td:first-child { font-weight: 600; }
tbody tr:nth-child(even) { background: #fafafa; }
.pos { color: #1a7f1a; } .neg { color: #c62828; }
.scroll { max-height: 70vh; overflow-y: auto; }
.scroll thead th { position: sticky; top: 0; }
"""


# ---------------------------------------------------------------- PNG


def write_equity_png(result: BacktestResult, path: str | Path) -> None:
    """Equity over the drawdown, drawn with matplotlib's Agg canvas: no display, no pyplot state
    shared with anything else in the process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    times, values = equity_path(result)
    underwater = drawdown_pct(values)
    quote = result.config.quote
    fig = Figure(figsize=(11, 6.5), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    keep = downsample_minmax(values, 4000)
    top.plot(_dates(times[keep]), values[keep], color=BLUE, linewidth=1.2)
    top.axhline(result.initial_cash, color="grey", linewidth=0.8, linestyle="--")
    top.set_ylabel(f"equity ({quote})")
    top.grid(alpha=0.3)
    total = 100.0 * (result.final_equity / result.initial_cash - 1.0)
    top.set_title(
        f"{result.strategy} · {', '.join(result.tokens)} · {result.timeframe.value}    "
        f"{fmt_money(result.initial_cash, quote)} → {fmt_money(result.final_equity, quote)} "
        f"({fmt_pct(total)})",
        loc="left",
        fontsize=11,
    )
    keep = downsample_minmax(underwater, 4000)
    dd_times = _dates(times[keep])
    bottom.fill_between(dd_times, underwater[keep], 0.0, color=RED, alpha=0.35, linewidth=0)
    bottom.plot(dd_times, underwater[keep], color=RED, linewidth=0.8)
    if len(underwater) and underwater.min() < 0:
        trough = int(np.argmin(underwater))
        right_half = trough > len(underwater) // 2
        bottom.annotate(
            f"max {fmt_pct(float(underwater[trough]))}",
            (_dates(times[trough : trough + 1])[0], float(underwater[trough])),
            xytext=(-8 if right_half else 8, 8),
            textcoords="offset points",
            ha="right" if right_half else "left",
            bbox={
                "boxstyle": "round,pad=0.2",
                "facecolor": "white",
                "edgecolor": RED,
                "alpha": 0.9,
            },
            fontsize=9,
            color=RED,
        )
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    if len(times):
        locator = AutoDateLocator()
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        bottom.set_xlabel("UTC")
    else:
        top.text(0.5, 0.5, "no bars", transform=top.transAxes, ha="center", va="center")
    with replacing(path, durable=False) as handle:  # 0600
        fig.savefig(handle, format="png")
