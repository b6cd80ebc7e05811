"""`solbot backtest`: run a strategy over stored candles, or check it for look-ahead."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from solbot.backtest.fees import backtest_fee
from solbot.backtest.metrics import compute_metrics, iso_utc
from solbot.backtest.report import render_table, to_json
from solbot.backtest.report_charts import write_equity_png, write_html
from solbot.backtest.result import BacktestConfig, BacktestResult
from solbot.backtest.universe import Universe, load_universe, tokens_by_symbol
from solbot.cli.context import settings
from solbot.cli.options import (
    TimeframeOption,
    WorldCandlesOption,
    candles_dir,
    parse_date,
    parse_timeframe,
    tokens_option,
)
from solbot.cli.risk_options import (
    CooldownLossesOption,
    CooldownMinutesOption,
    DrawdownPauseOption,
    MaxDailyLossOption,
    MaxDrawdownOption,
    MaxOpenOption,
    MaxPositionOption,
    NoBreakersOption,
    PositionPctOption,
    RiskOptions,
    TierOption,
)
from solbot.config import Settings
from solbot.domain import ExitRules
from solbot.errors import UserError
from solbot.market.store import CandleStore
from solbot.private_files import private_dir
from solbot.strategy.base import Strategy
from solbot.strategy.lookahead import LookaheadReport, check_lookahead
from solbot.strategy.registry import load_strategy


def backtest(
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            "-s",
            metavar="NAME",
            help="A built-in (see `solbot strategies`) or your own class as "
            "`package.module:Class` or `path/to/file.py:Class`. Default: $SOLBOT_STRATEGY or "
            "ema_trend.",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUE",
            help="Strategy parameter, e.g. fast=10; repeat for several.",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        list[str] | None, tokens_option("trade. Default: the configured trade tokens")
    ] = None,
    timeframe: TimeframeOption = None,
    start: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="First day to trade (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC). "
            "Default: the first stored candle.",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="Day to stop before: --end 2025-07-01 trades up to June 30 inclusive. "
            "Default: after the last stored candle.",
            show_default=False,
        ),
    ] = None,
    quote: Annotated[
        str | None,
        typer.Option(
            metavar="ASSET",
            help="What the portfolio holds and prices are in: USDC, or SOL (token prices "
            "divided by SOL's; needs SOL candles). Default: the configured quote.",
            show_default=False,
        ),
    ] = None,
    cash: Annotated[
        float,
        typer.Option(metavar="AMOUNT", min=0.000001, help="Starting cash in the quote asset."),
    ] = 10_000.0,
    fill: Annotated[
        str,
        typer.Option(
            metavar="WHEN",
            help="next_open: a signal at a bar's close fills at the next bar's open (what live "
            "trading can do); close: at the signal bar's own close (optimistic).",
        ),
    ] = "next_open",
    fee_bps: Annotated[
        float | None,
        typer.Option(
            metavar="BPS",
            min=0,
            max=9_999,
            help="Fee per fill in basis points (25 = 0.25%). Default: the configured fee_bps.",
            show_default=False,
        ),
    ] = None,
    slippage_bps: Annotated[
        float | None,
        typer.Option(
            metavar="BPS",
            min=0,
            max=9_999,
            help="Slippage per fill in basis points. Default: the configured slippage_bps.",
            show_default=False,
        ),
    ] = None,
    impact: Annotated[
        bool, typer.Option(help="Model price impact from each token's pool liquidity.")
    ] = True,
    tier: TierOption = None,
    position_pct: PositionPctOption = None,
    max_open: MaxOpenOption = None,
    max_position_pct: MaxPositionOption = None,
    max_daily_loss_pct: MaxDailyLossOption = None,
    cooldown_losses: CooldownLossesOption = None,
    cooldown_minutes: CooldownMinutesOption = None,
    max_drawdown_pct: MaxDrawdownOption = None,
    drawdown_pause_hours: DrawdownPauseOption = None,
    no_breakers: NoBreakersOption = False,
    stop_loss_pct: Annotated[
        float | None,
        typer.Option(
            metavar="PCT",
            min=0,
            max=99.99,
            help="Stop loss in % below the entry price, for entries where the strategy "
            "suggests no stop; 0 = none. Default: the configured stop_loss_pct (5).",
            show_default=False,
        ),
    ] = None,
    take_profit_pct: Annotated[
        float | None,
        typer.Option(
            metavar="PCT",
            min=0,
            help="Take profit in % above the entry price, for entries where the strategy "
            "suggests no target; 0 = none. Default: the configured take_profit_pct (0).",
            show_default=False,
        ),
    ] = None,
    trailing_stop_pct: Annotated[
        float | None,
        typer.Option(
            metavar="PCT",
            min=0,
            max=99.99,
            help="Trailing stop in % below the highest close-bar high since entry; 0 = off. "
            "Default: the configured trailing_stop_pct (0).",
            show_default=False,
        ),
    ] = None,
    max_hold_hours: Annotated[
        float | None,
        typer.Option(
            metavar="HOURS",
            min=0,
            help="Close positions held this long; 0 = off. Default: the configured "
            "max_hold_hours (0).",
            show_default=False,
        ),
    ] = None,
    performance_fee_pct: Annotated[
        float | None,
        typer.Option(
            metavar="PCT",
            min=0,
            max=99.99,
            help="The operator's performance fee on realised profit above the high-water mark, "
            "by the live rule, reported beside the PnL. Default: the configured "
            "performance_fee_pct (0: none).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the result (or the look-ahead check) as JSON on stdout instead of tables.",
        ),
    ] = False,
    report: Annotated[bool, typer.Option(help="Write the HTML report and the equity PNG.")] = True,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder for the reports. Default: DATA_DIR/reports.",
            show_default=False,
        ),
    ] = None,
    check_lookahead_: Annotated[
        bool,
        typer.Option(
            "--check-lookahead",
            help="Instead of a backtest, check the strategy for look-ahead bias: compare each "
            "bar's signal on the whole history with the signal on the history up to that bar. "
            "Exit code 1 if any differs.",
        ),
    ] = False,
    cuts: Annotated[
        str,
        typer.Option(
            metavar="N|all",
            help="Random cut points per token for --check-lookahead; `all` checks every bar.",
        ),
    ] = "2000",
    world: WorldCandlesOption = None,
) -> None:
    """Backtest a strategy over stored candles with the live trading rules.

    Uses the same exit rules, circuit breakers and sizing as live trading, one shared portfolio
    across tokens, and fees, slippage and price impact. Prints the metrics and writes an HTML
    report (equity, drawdown, trades on the price) and a PNG of the equity curve.

    No data yet? `solbot data synth` makes a year of candles offline.
    """
    cfg = settings()
    # Every option is checked before any candle is read or anything is written, so a typo costs
    # one line of error and no waiting. An empty value (`--tier ""`) is a mistake too, not a
    # request for the default: only an option left out falls back to the settings.
    strat = load_strategy(
        cfg.strategy if strategy is None else strategy,
        {**cfg.strategy_params, **_params(param)},
    )
    tf = parse_timeframe(cfg.timeframe.value if timeframe is None else timeframe)
    known = cfg.token_map()
    quote_asset = (cfg.quote if quote is None else quote).strip().upper()
    if quote_asset not in ("USDC", "SOL"):
        raise UserError(f"unknown quote asset {quote!r}; choose USDC or SOL")
    if fill not in ("next_open", "close"):
        raise UserError(f"unknown fill convention {fill!r}; choose next_open or close")
    first = parse_date(start, "--start") if start is not None else None
    last = parse_date(end, "--end") if end is not None else None
    if first is not None and last is not None and last <= first:
        raise UserError(f"--end ({end}) must be after --start ({start})")
    cut_count = _cuts(cuts)
    for option, value in (
        ("--cash", cash),
        ("--take-profit-pct", take_profit_pct),
        ("--max-hold-hours", max_hold_hours),
    ):
        if value is not None:
            _finite(option, value)
    config = BacktestConfig(
        initial_cash=cash,
        quote="SOL" if quote_asset == "SOL" else "USDC",
        fee_bps=cfg.fee_bps if fee_bps is None else fee_bps,
        slippage_bps=cfg.slippage_bps if slippage_bps is None else slippage_bps,
        price_impact=impact,
        fill=_fill(fill),
        risk=RiskOptions(
            cfg.risk_tier if tier is None else tier,
            position_pct,
            max_open,
            max_position_pct,
            max_daily_loss_pct,
            cooldown_losses,
            cooldown_minutes,
            max_drawdown_pct,
            drawdown_pause_hours,
            no_breakers,
        ).limits(),
        exits=_exits(cfg, stop_loss_pct, take_profit_pct, trailing_stop_pct, max_hold_hours),
    )
    universe = load_universe(
        CandleStore(candles_dir(cfg, world)),
        tokens_by_symbol(known, token or cfg.trade_tokens),
        tf,
        quote_asset,
        None if first is None else first - tf.seconds * strat.samples_needed,  # warm-up
        last,
        sol=known.get("SOL"),
    )
    console = Console()
    if check_lookahead_:
        _check(strat, universe, cut_count, console, as_json)
        return
    folder = report_folder(out or cfg.reports_dir) if report else None
    result = _run(strat, universe, config, quiet=as_json, trade_from=first)
    metrics = compute_metrics(result)
    written = _write_reports(result, metrics, folder) if folder is not None else []
    pct = cfg.performance_fee_pct if performance_fee_pct is None else performance_fee_pct
    fee = backtest_fee(result.trades.records(result.tokens), pct) if pct > 0 else None
    if as_json:
        doc = to_json(result, metrics)
        doc["performance_fee"] = None if fee is None else fee.to_json()
        doc["reports"] = [str(p) for p in written]
        typer.echo(json.dumps(doc, indent=2))
        return
    render_table(result, metrics, console)
    if fee is not None:
        quote = result.config.quote
        console.print(
            f"Performance fee {fee.pct:g} % above the high-water mark: {fee.fee:,.2f} {quote} "
            f"on {fee.days_charged} day(s); realised PnL {fee.realised:+,.2f} {quote}, "
            f"{fee.realised - fee.fee:+,.2f} {quote} after the fee (not taken from the equity "
            "curve above)"
        )
    for path in written:
        # soft_wrap: a path longer than the terminal stays one line, whole for copy and paste.
        console.print(f"[dim]wrote[/] {escape(str(path))}", soft_wrap=True)


def _params(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--param wants NAME=VALUE, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


def _exits(
    cfg: Settings,
    stop_loss_pct: float | None,
    take_profit_pct: float | None,
    trailing_stop_pct: float | None,
    max_hold_hours: float | None,
) -> ExitRules:
    """The configured exits (what `solbot run` trades), with the options given here instead."""
    rules = cfg.exit_rules()
    changes: dict[str, float] = {}
    if stop_loss_pct is not None:
        changes["stop_loss_pct"] = stop_loss_pct
    if take_profit_pct is not None:
        changes["take_profit_pct"] = take_profit_pct
    if trailing_stop_pct is not None:
        changes["trailing_stop_pct"] = trailing_stop_pct
    if max_hold_hours is not None:
        changes["max_hold_minutes"] = max_hold_hours * 60.0
    return replace(rules, **changes)


def _fill(text: str) -> Literal["next_open", "close"]:
    return "close" if text == "close" else "next_open"


def _finite(option: str, value: float) -> None:
    """Typer's range checks let `inf` through; an infinite amount or distance is a typo, and an
    infinite cash balance turns every metric into NaN."""
    if not math.isfinite(value):
        raise UserError(f"{option} must be a finite number, got {value}")


def progress_bar(console: Console, quiet: bool, *, forks: bool = False) -> Progress:
    """A progress bar on stderr. `forks`: the work under it forks worker processes (optimize's
    pool), so the bar draws only when told (`update(..., refresh=True)`) instead of from a
    refresh thread: a process forked while another thread holds a lock (the console's) inherits
    it held, and Python 3.12+ warns about forking a multi-threaded process."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        auto_refresh=not forks,
        # Not on a terminal (a pipe, a log, a test) the bar cannot redraw and would only leave a
        # stray blank line on stderr.
        disable=quiet or not console.is_terminal,
    )


def _run(
    strategy: Strategy,
    universe: Universe,
    config: BacktestConfig,
    quiet: bool,
    trade_from: int | None = None,
) -> BacktestResult:
    """Run with a progress bar; bars before `trade_from` only warm the indicators up."""
    # The compiled kernel pulls in numba (~65 MB, ~0.5 s): only the commands that simulate pay.
    from solbot.backtest.engine import backtest_strategy

    steps = len(universe.series) + 1  # signals per token, then the simulation
    with progress_bar(Console(stderr=True), quiet) as progress:
        task = progress.add_task("backtest", total=steps)

        def step(message: str) -> None:
            done = progress.tasks[task].completed
            progress.update(task, description=message, completed=min(done + 1, steps))

        progress.update(task, description="computing signals")
        result = backtest_strategy(
            strategy,
            universe.series,
            config,
            liquidity=universe.liquidity,
            progress=lambda message: step(
                "simulating (the first run compiles the kernel: ~10 s)"
                if message == "simulating"
                else message
            ),
            trade_from=trade_from,
            signal_series=universe.signal_series,
        )
        progress.update(task, completed=steps)
    return result


def report_folder(folder: Path) -> Path:
    """Create the report folder before the run: a bad --out fails in one line at once, not
    with a traceback after the whole backtest."""
    try:
        private_dir(folder)
    except OSError as exc:
        reason = exc.strerror or exc
        raise UserError(f"cannot create the report folder {folder}: {reason}") from None
    return folder


def _write_reports(result: BacktestResult, metrics: Any, folder: Path) -> list[Path]:
    first, last = int(result.open_time[0]), int(result.open_time[-1])
    span = f"{iso_utc(first)[:10]}_{iso_utc(last)[:10]}"
    # Runs differing in anything but the data get different files; the same run overwrites.
    setup = json.dumps([result.params, list(result.tokens), repr(result.config)], default=str)
    digest = hashlib.sha256(setup.encode()).hexdigest()[:8]
    stem = f"backtest_{result.strategy}_{result.timeframe.value}_{span}_{digest}".replace(":", "-")
    html, png = folder / f"{stem}.html", folder / f"{stem}.png"
    try:
        write_html(result, metrics, html)
        write_equity_png(result, png)
    except OSError as exc:
        raise UserError(f"cannot write the report to {folder}: {exc.strerror or exc}") from None
    return [html, png]


def _cuts(text: str) -> int:
    """`--cuts`: a positive number, or `all` (every bar: `check_lookahead` caps at the series)."""
    if text.strip().lower() == "all":
        return sys.maxsize
    try:
        value = int(text)
    except ValueError:
        raise UserError(f"--cuts takes a number or `all`, got {text!r}") from None
    if value < 1:
        raise UserError(f"--cuts must be at least 1, got {value}")
    return value


def _check(
    strategy: Strategy, universe: Universe, cuts: int, console: Console, as_json: bool
) -> None:
    """Check every token; exit code 1 if any has look-ahead, so scripts and CI can gate on it."""
    reports: dict[str, LookaheadReport] = {}
    with progress_bar(Console(stderr=True), quiet=as_json) as progress:
        for symbol, series in universe.signal_series.items():  # what the strategy reads
            task = progress.add_task(f"checking {symbol}", total=min(cuts, len(series)))
            reports[symbol] = check_lookahead(
                strategy,
                series,
                cuts=cuts,
                progress=lambda done, _total, t=task: progress.update(t, completed=done),
            )
    passed = all(r.passed for r in reports.values())
    if as_json:
        doc = {
            "strategy": strategy.name,
            "passed": passed,
            "tokens": [
                {
                    "token": symbol,
                    "bars": r.bars,
                    "cut_points": len(r.cuts),
                    "passed": r.passed,
                    "bad_fields": list(r.bad_fields),
                    "bad_bars": list(r.bad_bars),
                    "summary": r.summary(),
                }
                for symbol, r in reports.items()
            ],
        }
        typer.echo(json.dumps(doc, indent=2))
    else:
        table = Table(title=f"look-ahead check: {strategy.name}")
        table.add_column("token")
        table.add_column("bars", justify="right")
        table.add_column("cut points", justify="right")
        table.add_column("result")
        for symbol, r in reports.items():
            verdict = "[green]no look-ahead[/]" if r.passed else f"[red]{escape(r.summary())}[/]"
            table.add_row(symbol, str(r.bars), str(len(r.cuts)), verdict)
        console.print(table)
    if not passed:
        raise typer.Exit(code=1)
