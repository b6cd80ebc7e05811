"""Backtest reports: a terminal table and JSON, built from the `Tabular` sections and number
formatters that the HTML page and the PNG (`report_charts`) also use, so a figure reads the same
in the terminal and in the browser. Times in a result are Unix seconds UTC; every report shows
them as UTC.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from solbot.backtest.metrics import Metrics, iso_utc, jsonable
from solbot.backtest.result import BacktestResult
from solbot.domain import TradeRecord

if TYPE_CHECKING:
    pass

DASH = "–"
INFINITY = "∞"
MAX_HTML_TRADES = 5000
"""Rows of the HTML trade list; the JSON report always has every trade."""


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
    return f"{value:{sign},.{quote_decimals(quote)}f} {quote}"


def quote_decimals(quote: str) -> int:
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


__all__ = [
    "MAX_HTML_TRADES",
    "Tabular",
    "blocked_table",
    "exit_reason_table",
    "fmt_duration",
    "fmt_money",
    "fmt_pct",
    "fmt_price",
    "fmt_ratio",
    "fmt_time",
    "hour_table",
    "quote_decimals",
    "render_table",
    "returns_table",
    "summary_table",
    "to_json",
    "token_table",
    "trade_table",
    "trading_table",
]
