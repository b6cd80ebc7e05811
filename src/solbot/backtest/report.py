"""Backtest reports: a terminal table, JSON, a self-contained HTML page and an equity PNG.

Every report is built from the same `Tabular` sections and number formatters, so a figure reads
the same in the terminal and in the browser. plotly and matplotlib are imported only by the
functions that draw, so `solbot backtest` does not pay for them when it prints a table.
Times in a result are Unix seconds UTC; every report shows them as UTC.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table
from rich.text import Text

from solbot.backtest.metrics import Metrics, drawdown_pct, equity_path, iso_utc, jsonable
from solbot.backtest.plotly_asset import plotly_script
from solbot.backtest.result import BacktestResult
from solbot.domain import ExitReason, FloatArray, IntArray, TradeRecord
from solbot.private_files import replacing, write_private

if TYPE_CHECKING:
    import plotly.graph_objects as go

DASH = "–"
INFINITY = "∞"
MAX_PLOT_POINTS = 5000
"""Points per plotted line: enough for a sharp screen-wide chart, small enough that a
million-bar backtest still makes an HTML file of a few MB."""
MAX_HTML_TRADES = 5000
"""Rows of the HTML trade list; the JSON report always has every trade."""

GREEN = "#2ca02c"
RED = "#d62728"
BLUE = "#1f77b4"

Cell = tuple[str, int]
"""Text and sign: positive cells are drawn green, negative red, zero plain."""


@dataclass(frozen=True)
class Tabular:
    """A table independent of where it is drawn. `numeric` right-aligns every column but the
    first; key/value tables leave their values left-aligned."""

    title: str
    headers: tuple[str, ...]
    rows: list[list[Cell]]
    numeric: bool = True
    show_header: bool = True


# ---------------------------------------------------------------- formatting


def fmt_pct(value: float | None, signed: bool = True) -> str:
    if value is None:
        return DASH
    value += 0.0  # -0.0 (a zero drawdown negated) prints as 0.00%
    return f"{value:+,.2f}%" if signed and value != 0 else f"{value:,.2f}%"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return DASH
    return INFINITY if math.isinf(value) else f"{value:.2f}"


def fmt_money(value: float | None, quote: str, signed: bool = False) -> str:
    """SOL amounts keep four decimals: 0.01 SOL is a real sum, 0.01 USDC is not."""
    if value is None:
        return DASH
    sign = "+" if signed and value != 0 else ""
    return f"{value:{sign},.{_decimals(quote)}f} {quote}"


def _decimals(quote: str) -> int:
    return 4 if quote == "SOL" else 2


def fmt_duration(seconds: float | None) -> str:
    """The two largest units, like "3h 20m" or "2d 4h": precise enough to compare holding times,
    short enough for a table cell."""
    if seconds is None:
        return DASH
    rest = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if rest >= size or parts:
            count, rest = divmod(rest, size)
            parts.append(f"{count}{unit}")
        if len(parts) == 2:
            break
    return " ".join(p for p in parts if not p.startswith("0")) or "0s"


def fmt_time(ts: int | None) -> str:
    if ts is None:
        return DASH
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def fmt_price(price: float) -> str:
    """Six significant digits: a memecoin at 0.0000213 and SOL at 182.51 both stay readable."""
    return f"{price:.6g}"


def _sign(value: float | None) -> int:
    if value is None or value == 0 or math.isnan(value):
        return 0
    return 1 if value > 0 else -1


# ---------------------------------------------------------------- sections


def summary_table(result: BacktestResult, metrics: Metrics) -> Tabular:
    config = result.config
    params = ", ".join(f"{k}={v}" for k, v in result.params.items())
    if metrics.start_time is not None and metrics.end_time is not None:
        span = fmt_duration(metrics.end_time - metrics.start_time)
        period = (
            f"{fmt_time(metrics.start_time)} → {fmt_time(metrics.end_time)} UTC "
            f"({span}, {metrics.bars:,} bars)"
        )
    else:
        period = "no bars"
    fill = {
        "next_open": "next bar's open (signal at a close, fill at the next open)",
        "close": "signal bar's close",
    }[config.fill]
    impact = "with" if config.price_impact else "without"
    costs = (
        f"fee {config.fee_bps:g} bps + slippage {config.slippage_bps:g} bps per fill, "
        f"{impact} pool price impact"
    )
    equity = (
        f"{fmt_money(metrics.initial_equity, config.quote)} → "
        f"{fmt_money(metrics.final_equity, config.quote)}"
    )
    rows: list[list[Cell]] = [
        [("Strategy", 0), (f"{result.strategy}({params})", 0)],
        [("Tokens", 0), (", ".join(result.tokens), 0)],
        [("Period", 0), (period, 0)],
        [("Timeframe", 0), (result.timeframe.value, 0)],
        [("Fills", 0), (fill, 0)],
        [("Costs", 0), (costs, 0)],
        [("Equity", 0), (equity, _sign(metrics.total_return_pct))],
    ]
    return Tabular("Backtest", ("", ""), rows, numeric=False, show_header=False)


def returns_table(metrics: Metrics) -> Tabular:
    peak, trough = metrics.max_drawdown_peak_time, metrics.max_drawdown_trough_time
    dd_when = f"{fmt_time(peak)} → {fmt_time(trough)}" if peak is not None else DASH
    rows: list[list[Cell]] = [
        [("Total return", 0), (fmt_pct(metrics.total_return_pct), _sign(metrics.total_return_pct))],
        [("CAGR", 0), (fmt_pct(metrics.cagr_pct), _sign(metrics.cagr_pct))],
        [
            ("Max drawdown", 0),
            (fmt_pct(-metrics.max_drawdown_pct), -_sign(metrics.max_drawdown_pct)),
        ],
        [("Drawdown peak → trough", 0), (dd_when, 0)],
        [("Sharpe", 0), (fmt_ratio(metrics.sharpe), _sign(metrics.sharpe))],
        [("Sortino", 0), (fmt_ratio(metrics.sortino), _sign(metrics.sortino))],
        [("Calmar", 0), (fmt_ratio(metrics.calmar), _sign(metrics.calmar))],
        [("Exposure", 0), (fmt_pct(metrics.exposure_pct, signed=False), 0)],
    ]
    return Tabular("Returns", ("Metric", "Value"), rows)


def trading_table(metrics: Metrics, quote: str) -> Tabular:
    pf = metrics.profit_factor
    expectancy = (
        f"{fmt_money(metrics.expectancy, quote, signed=True)} ({fmt_pct(metrics.expectancy_pct)})"
        if metrics.expectancy is not None
        else DASH
    )
    rows: list[list[Cell]] = [
        [("Trades", 0), (f"{metrics.trades:,}", 0)],
        [("Win rate", 0), (fmt_pct(metrics.win_rate_pct, signed=False), 0)],
        [("Profit factor", 0), (fmt_ratio(pf), _sign(None if pf is None else pf - 1.0))],
        [("Expectancy", 0), (expectancy, _sign(metrics.expectancy))],
        [("Avg holding time", 0), (fmt_duration(metrics.avg_holding_seconds), 0)],
    ]
    for label, extreme in (
        ("Best trade", metrics.best_trade),
        ("Worst trade", metrics.worst_trade),
    ):
        text = (
            f"{fmt_pct(extreme.return_pct)} {extreme.token} "
            f"({fmt_money(extreme.pnl, quote, signed=True)})"
            if extreme is not None
            else DASH
        )
        rows.append([(label, 0), (text, _sign(extreme.pnl if extreme else None))])
    rows.append([("Fees paid", 0), (fmt_money(metrics.total_fees, quote), 0)])
    return Tabular("Trading", ("Metric", "Value"), rows)


def token_table(metrics: Metrics, quote: str) -> Tabular:
    rows: list[list[Cell]] = [
        [
            (t.token, 0),
            (f"{t.trades:,}", 0),
            (fmt_pct(t.win_rate_pct, signed=False), 0),
            (fmt_money(t.pnl, quote, signed=True), _sign(t.pnl)),
            (fmt_pct(t.contribution_pct), _sign(t.contribution_pct)),
            (fmt_pct(t.avg_return_pct), _sign(t.avg_return_pct)),
        ]
        for t in metrics.per_token
    ]
    headers = ("Token", "Trades", "Win rate", "PnL", "Contribution", "Avg return")
    return Tabular("Per token", headers, rows)


def hour_table(metrics: Metrics, quote: str) -> Tabular:
    rows: list[list[Cell]] = [
        [
            (f"{h.hour:02d}:00", 0),
            (f"{h.trades:,}", 0),
            (fmt_pct(h.win_rate_pct, signed=False), 0),
            (fmt_money(h.pnl, quote, signed=True), _sign(h.pnl)),
            (fmt_pct(h.avg_return_pct), _sign(h.avg_return_pct)),
        ]
        for h in metrics.per_entry_hour
    ]
    headers = ("Entry hour (UTC)", "Trades", "Win rate", "PnL", "Avg return")
    return Tabular("By entry hour", headers, rows)


def exit_reason_table(metrics: Metrics) -> Tabular:
    total = max(metrics.trades, 1)
    rows: list[list[Cell]] = [
        [(reason, 0), (f"{count:,}", 0), (fmt_pct(100.0 * count / total, signed=False), 0)]
        for reason, count in metrics.exit_reasons.items()
    ]
    return Tabular("Exit reasons", ("Reason", "Trades", "Share"), rows)


def blocked_table(metrics: Metrics) -> Tabular:
    rows: list[list[Cell]] = [
        [(breaker, 0), (f"{count:,}", -1 if count else 0)]
        for breaker, count in metrics.blocked.items()
    ]
    return Tabular("Entries blocked", ("Circuit breaker", "Entries"), rows)


def trade_table(result: BacktestResult, limit: int = MAX_HTML_TRADES) -> Tabular:
    quote = result.config.quote
    trades = result.trades
    shown = trades.select(np.arange(len(trades)) < limit)
    rows: list[list[Cell]] = [
        [
            (str(i + 1), 0),
            (t.token, 0),
            (fmt_time(t.entry_time), 0),
            (fmt_time(t.exit_time), 0),
            (fmt_duration(t.holding_seconds), 0),
            (fmt_price(t.entry_price), 0),
            (fmt_price(t.exit_price), 0),
            (f"{t.quantity:,.6g}", 0),
            (fmt_money(t.entry_value, quote), 0),
            (fmt_money(t.pnl, quote, signed=True), _sign(t.pnl)),
            (fmt_pct(t.return_pct), _sign(t.return_pct)),
            (fmt_money(t.fees, quote), 0),
            (t.exit_reason.label, 0),
        ]
        for i, t in enumerate(shown.records(result.tokens))
    ]
    title = "Trades" if len(trades) <= limit else f"Trades (first {limit:,} of {len(trades):,})"
    headers = (
        "#",
        "Token",
        "Entry (UTC)",
        "Exit (UTC)",
        "Held",
        "Entry price",
        "Exit price",
        "Quantity",
        "Cost",
        "PnL",
        "Return",
        "Fees",
        "Exit reason",
    )
    return Tabular(title, headers, rows)


# ---------------------------------------------------------------- terminal


def render_table(result: BacktestResult, metrics: Metrics, console: Console) -> None:
    """Print the summary, metrics, per-token breakdown, exit reasons and blocked entries."""
    quote = result.config.quote
    console.print(_rich(summary_table(result, metrics)))
    console.print(_side_by_side(returns_table(metrics), trading_table(metrics, quote)))
    console.print(_rich(token_table(metrics, quote)))
    console.print(_side_by_side(exit_reason_table(metrics), blocked_table(metrics)))


def _rich(table: Tabular) -> Table:
    out = Table(
        title=table.title,
        title_justify="left",
        title_style="bold",
        show_header=table.show_header,
        header_style="bold",
    )
    for i, header in enumerate(table.headers):
        out.add_column(header, justify="right" if table.numeric and i > 0 else "left")
    for row in table.rows:
        out.add_row(*(Text(text, style=_RICH_STYLE[sign]) for text, sign in row))
    return out


def _side_by_side(left: Tabular, right: Tabular) -> Table:
    grid = Table.grid(padding=(0, 4))
    grid.add_row(_rich(left), _rich(right))
    return grid


_RICH_STYLE = {1: "green", -1: "red", 0: ""}


# ---------------------------------------------------------------- JSON


def to_json(result: BacktestResult, metrics: Metrics) -> dict[str, Any]:
    """The whole report as plain JSON types (no NaN or infinity: `json.dumps` of it is valid
    JSON), for `solbot backtest --json` and for scripts that compare runs."""
    summary = metrics.to_dict()
    per_token = summary.pop("per_token")
    return {
        "strategy": result.strategy,
        "params": jsonable(result.params),
        "tokens": list(result.tokens),
        "timeframe": result.timeframe.value,
        "config": jsonable(asdict(result.config)),
        "metrics": summary,
        "per_token": per_token,
        "trades": [_trade_json(t) for t in result.trades.records(result.tokens)],
    }


def _trade_json(trade: TradeRecord) -> dict[str, Any]:
    row: dict[str, Any] = jsonable(asdict(trade))
    row.update(
        entry_time=iso_utc(trade.entry_time),
        exit_time=iso_utc(trade.exit_time),
        exit_reason=trade.exit_reason.label,
        holding_seconds=trade.holding_seconds,
    )
    return row


# ---------------------------------------------------------------- charts


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
    money = f",.{_decimals(quote)}f"
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


__all__ = [
    "MAX_HTML_TRADES",
    "MAX_PLOT_POINTS",
    "Tabular",
    "blocked_table",
    "downsample_minmax",
    "equity_figure",
    "exit_reason_table",
    "fmt_duration",
    "fmt_money",
    "fmt_pct",
    "fmt_price",
    "fmt_ratio",
    "fmt_time",
    "render_table",
    "returns_table",
    "summary_table",
    "to_json",
    "token_figure",
    "token_table",
    "trade_table",
    "trading_table",
    "write_equity_png",
    "write_html",
]
