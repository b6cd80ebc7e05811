"""`solbot backtest`: run a strategy over stored candles, or check it for look-ahead."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from solbot.backtest.engine import backtest_strategy
from solbot.backtest.metrics import compute_metrics, iso_utc
from solbot.backtest.report import render_table, to_json, write_equity_png, write_html
from solbot.backtest.result import BacktestConfig, BacktestResult
from solbot.backtest.universe import Universe, load_universe, tokens_by_symbol
from solbot.cli.context import settings
from solbot.cli.options import parse_date, parse_timeframe
from solbot.domain import ExitRules, RiskLimits
from solbot.errors import UserError
from solbot.market.store import CandleStore
from solbot.risk import tier as risk_tier
from solbot.strategy.base import Strategy
from solbot.strategy.lookahead import check_lookahead
from solbot.strategy.registry import load_strategy


def backtest(
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            "-s",
            help="Built-in name (ema_trend, donchian_breakout) or a dotted path "
            "`package.module:Class`. Default: $SOLBOT_STRATEGY or ema_trend.",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Strategy parameter as NAME=VALUE; repeatable."),
    ] = None,
    token: Annotated[
        list[str] | None,
        typer.Option("--token", "-t", help="Token to trade; repeatable. Default: trade_tokens."),
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="Candle width: 1m 5m 15m 1h 4h 1d. Default: settings.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day, e.g. 2025-01-01 (UTC).")] = None,
    end: Annotated[str | None, typer.Option(help="Day after the last one (UTC).")] = None,
    quote: Annotated[
        str | None, typer.Option(help="Quote asset the portfolio holds: USDC or SOL.")
    ] = None,
    cash: Annotated[
        float, typer.Option(min=0.000001, help="Starting cash in the quote asset.")
    ] = 10_000.0,
    fill: Annotated[
        str,
        typer.Option(
            help="next_open: signals fill at the next bar's open; close: at the signal bar's close."
        ),
    ] = "next_open",
    fee_bps: Annotated[
        float | None, typer.Option(min=0, max=9_999, help="Fee per fill in basis points.")
    ] = None,
    slippage_bps: Annotated[
        float | None, typer.Option(min=0, max=9_999, help="Slippage per fill in basis points.")
    ] = None,
    impact: Annotated[
        bool, typer.Option(help="Model price impact from each token's pool liquidity.")
    ] = True,
    tier: Annotated[
        str | None,
        typer.Option(help="Risk tier: conservative, moderate, aggressive. Default: settings."),
    ] = None,
    position_pct: Annotated[
        float | None,
        typer.Option(min=0, max=100, help="Override the tier's position size (% of value)."),
    ] = None,
    max_open: Annotated[
        int | None, typer.Option(min=1, help="Override the tier's maximum open positions.")
    ] = None,
    stop_loss_pct: Annotated[
        float,
        typer.Option(min=0, max=99.99, help="Stop distance when the strategy suggests none."),
    ] = 5.0,
    take_profit_pct: Annotated[
        float, typer.Option(min=0, help="Target distance when the strategy suggests none.")
    ] = 0.0,
    trailing_stop_pct: Annotated[
        float, typer.Option(min=0, max=99.99, help="Trailing stop distance; 0 = off.")
    ] = 0.0,
    max_hold_hours: Annotated[
        float, typer.Option(min=0, help="Close positions held this long; 0 = off.")
    ] = 0.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON instead of tables.")
    ] = False,
    report: Annotated[bool, typer.Option(help="Write the HTML report and the equity PNG.")] = True,
    out: Annotated[
        Path | None, typer.Option(help="Where to write reports. Default: <data dir>/reports.")
    ] = None,
    check_lookahead_: Annotated[
        bool,
        typer.Option(
            "--check-lookahead",
            help="Instead of a backtest, check the strategy for look-ahead bias: compare each "
            "bar's signal on the whole history with the signal on the history up to that bar.",
        ),
    ] = False,
    cuts: Annotated[
        int, typer.Option(min=1, help="Random cut points per token for --check-lookahead.")
    ] = 2000,
) -> None:
    """Backtest a strategy over stored candles with the live trading rules.

    Uses the same exit rules, circuit breakers and sizing as live trading, one shared portfolio
    across tokens, and fees, slippage and price impact. Prints the metrics and writes an HTML
    report (equity, drawdown, trades on the price) and a PNG of the equity curve.

    No data yet? `solbot data synth` makes a year of candles offline.
    """
    cfg = settings()
    strat = load_strategy(strategy or cfg.strategy, {**cfg.strategy_params, **_params(param)})
    tf = parse_timeframe(timeframe or cfg.timeframe.value)
    known = cfg.token_map()
    quote_asset = (quote or cfg.quote).upper()
    if quote_asset not in ("USDC", "SOL"):
        raise UserError(f"unknown quote asset {quote!r}; choose USDC or SOL")
    if fill not in ("next_open", "close"):
        raise UserError(f"unknown fill convention {fill!r}; choose next_open or close")
    first = parse_date(start, "--start") if start else None
    last = parse_date(end, "--end") if end else None
    if first is not None and last is not None and last <= first:
        raise UserError("--end must be after --start")
    universe = load_universe(
        CandleStore(cfg.candles_dir),
        tokens_by_symbol(known, token or cfg.trade_tokens),
        tf,
        quote_asset,
        first,
        last,
        sol=known.get("SOL"),
    )
    console = Console()
    if check_lookahead_:
        _check(strat, universe, cuts, console)
        return
    config = BacktestConfig(
        initial_cash=cash,
        quote="SOL" if quote_asset == "SOL" else "USDC",
        fee_bps=cfg.fee_bps if fee_bps is None else fee_bps,
        slippage_bps=cfg.slippage_bps if slippage_bps is None else slippage_bps,
        price_impact=impact,
        fill=_fill(fill),
        risk=_risk(tier or cfg.risk_tier, position_pct, max_open),
        exits=ExitRules(
            stop_loss_pct=stop_loss_pct,
            take_profit_pct=take_profit_pct,
            trailing_stop_pct=trailing_stop_pct,
            max_hold_minutes=max_hold_hours * 60.0,
        ),
    )
    result = _run(strat, universe, config, quiet=as_json)
    metrics = compute_metrics(result)
    written: list[Path] = []
    if report:
        written = _write_reports(result, metrics, out or cfg.reports_dir)
    if as_json:
        doc = to_json(result, metrics)
        doc["reports"] = [str(p) for p in written]
        typer.echo(json.dumps(doc, indent=2))
        return
    render_table(result, metrics, console)
    for path in written:
        console.print(f"[dim]wrote[/] {path}")


def _params(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--param wants NAME=VALUE, got {pair!r}")
        out[name.strip()] = value.strip()
    return out


def _fill(text: str) -> Literal["next_open", "close"]:
    return "close" if text == "close" else "next_open"


def _risk(name: str, position_pct: float | None, max_open: int | None) -> RiskLimits:
    try:
        limits = risk_tier(name)
        if position_pct is not None:
            limits = replace(
                limits,
                position_size_pct=position_pct,
                max_position_pct=max(position_pct, limits.max_position_pct),
            )
        if max_open is not None:
            limits = replace(limits, max_open_positions=max_open)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return limits


def _progress(console: Console, quiet: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=quiet,
    )


def _run(
    strategy: Strategy, universe: Universe, config: BacktestConfig, quiet: bool
) -> BacktestResult:
    steps = len(universe.series) + 1  # signals per token, then the simulation
    with _progress(Console(stderr=True), quiet) as progress:
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
        )
        progress.update(task, completed=steps)
    return result


def _write_reports(result: BacktestResult, metrics: Any, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    first, last = int(result.open_time[0]), int(result.open_time[-1])
    span = f"{iso_utc(first)[:10]}_{iso_utc(last)[:10]}"
    stem = f"backtest_{result.strategy}_{result.timeframe.value}_{span}".replace(":", "-")
    html, png = folder / f"{stem}.html", folder / f"{stem}.png"
    write_html(result, metrics, html)
    write_equity_png(result, png)
    return [html, png]


def _check(strategy: Strategy, universe: Universe, cuts: int, console: Console) -> None:
    table = Table(title=f"look-ahead check: {strategy.name}")
    table.add_column("token")
    table.add_column("bars", justify="right")
    table.add_column("cut points", justify="right")
    table.add_column("result")
    failed = False
    with _progress(Console(stderr=True), quiet=False) as progress:
        for symbol, series in universe.series.items():
            task = progress.add_task(f"checking {symbol}", total=min(cuts, len(series)))
            report = check_lookahead(
                strategy,
                series,
                cuts=cuts,
                progress=lambda done, _total, t=task: progress.update(t, completed=done),
            )
            failed |= not report.passed
            verdict = "[green]no look-ahead[/]" if report.passed else f"[red]{report.summary()}[/]"
            table.add_row(symbol, str(report.bars), str(len(report.cuts)), verdict)
    console.print(table)
    if failed:
        raise typer.Exit(code=1)
