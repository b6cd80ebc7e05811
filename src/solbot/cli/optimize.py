"""`solbot optimize`: search a strategy's parameters on stored candles with walk-forward
validation, ranked out of sample only, with the probability of backtest overfitting, and print
the chosen set as a `solbot.toml` snippet (`backtest.optimize`)."""

from __future__ import annotations

import hashlib
import json
import math
from typing import TYPE_CHECKING, Annotated, Any, get_args

import typer
from rich.console import Console
from rich.table import Table

from solbot.cli import stores
from solbot.cli.backtest import progress_bar, report_folder
from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, emit
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
from solbot.errors import UserError

if TYPE_CHECKING:
    from solbot.backtest.optimize import Search
    from solbot.strategy.base import Strategy

MAX_VALUES = 10_000  # per parameter: a range that makes more is a typo
MAX_GRID = 1_000_000  # combinations --method grid builds (random and tpe draw from any size)


def optimize(
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUES",
            help="A parameter to search: listed values (fast=5,8,12) or a range with its step "
            "(fast=5:30:5, both ends included). Repeat for each; the others keep their "
            "configured values.",
            show_default=False,
        ),
    ],
    strategy: Annotated[
        str | None,
        typer.Option("--strategy", "-s", metavar="NAME", help="Default: the configured strategy."),
    ] = None,
    method: Annotated[
        str,
        typer.Option(
            metavar="HOW",
            help="grid (every combination), random (seeded draws) or tpe (Optuna's sampler, "
            "proposing from the scores so far).",
        ),
    ] = "grid",
    trials: Annotated[
        int, typer.Option(min=1, help="How many sets --method random or tpe tries.")
    ] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Seed of --method random and tpe.")] = 1,
    windows: Annotated[
        int, typer.Option(min=2, help="Walk-forward windows (train, then test).")
    ] = 6,
    train_ratio: Annotated[
        float, typer.Option(metavar="R", help="Each training span is R times its test span.")
    ] = 3.0,
    token: Annotated[
        list[str] | None, tokens_option("trade. Default: the configured trade tokens")
    ] = None,
    timeframe: TimeframeOption = None,
    start: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="First candle to use (UTC).", show_default=False),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(metavar="DATE", help="Day to stop before (UTC).", show_default=False),
    ] = None,
    cash: Annotated[
        float, typer.Option(metavar="AMOUNT", min=0.000001, help="Starting cash per span.")
    ] = 10_000.0,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes. Default: one per core.", show_default=False),
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Rows of the table.")] = 10,
    report: Annotated[
        bool,
        typer.Option(
            help="Write the HTML page: a heatmap of the first two parameters, the best sets."
        ),
    ] = True,
    world: WorldCandlesOption = None,
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
    as_json: JsonOption = False,
) -> None:
    """Search a strategy's parameters without fooling yourself: every candidate is simulated
    on rolling walk-forward windows with the live rules (breakers, exits, costs) and ranked by
    its mean Sharpe ratio on the test spans only; the probability of backtest overfitting says
    whether the winner is more than luck. Prints the best as a solbot.toml snippet."""
    from solbot.backtest.optimize import Setup, grid, random_draws, search, search_tpe
    from solbot.backtest.optimize_report import write_optimize_html
    from solbot.backtest.result import BacktestConfig
    from solbot.backtest.universe import load_universe, tokens_by_symbol
    from solbot.market.store import CandleStore
    from solbot.strategy.registry import load_strategy

    cfg = settings()
    risk = RiskOptions(
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
    )
    risk.limits()  # a bad limit is one line before any work
    if method not in ("grid", "random", "tpe"):
        raise UserError(f"unknown --method {method!r}; choose grid, random or tpe")
    if not (math.isfinite(train_ratio) and train_ratio > 0):
        raise UserError(f"--train-ratio must be a positive number, got {train_ratio}")
    name = cfg.strategy if strategy is None else strategy
    base = load_strategy(name, cfg.strategy_params)
    space = _space(type(base), param)
    tf = parse_timeframe(cfg.timeframe.value if timeframe is None else timeframe)
    first = parse_date(start, "--start") if start is not None else None
    last = parse_date(end, "--end") if end is not None else None
    if first is not None and last is not None and last <= first:
        raise UserError(f"--end ({end}) must be after --start ({start})")
    configured = base.params.model_dump()
    size = math.prod(len(values) for values in space.values())
    if method == "grid" and size > MAX_GRID:
        raise UserError(
            f"the grid has {size:,} parameter sets (at most {MAX_GRID:,}); narrow it, or draw "
            "from it with --method random or tpe"
        )
    if method == "grid":
        sets = grid(space)
    elif method == "random":
        sets = random_draws(space, trials, seed)
    else:
        sets = []  # tpe proposes its own, round by round
    candidates = [{**configured, **values} for values in sets]
    known = cfg.token_map()
    universe = load_universe(
        CandleStore(candles_dir(cfg, world)),
        tokens_by_symbol(known, token or cfg.trade_tokens),
        tf,
        cfg.quote,
        first,
        last,
        sol=known.get("SOL"),
    )
    config = BacktestConfig(
        initial_cash=cash,
        quote=cfg.quote,
        fee_bps=cfg.fee_bps,
        slippage_bps=cfg.slippage_bps,
        risk=risk.limits(),
        exits=cfg.exit_rules(),
    )
    folder = report_folder(cfg.reports_dir) if report else None  # a bad folder fails first
    total = trials if method == "tpe" else len(candidates)
    with progress_bar(Console(stderr=True), quiet=as_json, forks=True) as progress:
        task = progress.add_task(f"{total} parameter sets × {windows} windows", total=total)
        setup = Setup(
            type(base),
            universe.series,
            config,
            windows,
            train_ratio,
            universe.liquidity,
            workers,
            universe.signal_series,
        )

        def done(n: int) -> None:
            progress.update(task, completed=n, refresh=True)

        if method == "tpe":
            found = search_tpe(setup, configured, space, trials=trials, seed=seed, on_done=done)
        else:
            found = search(setup, candidates, done)
    written = None
    if folder is not None:
        identity = [space, sorted(universe.series), tf.value, windows, train_ratio, method, seed]
        digest = hashlib.sha256(json.dumps(identity, default=str).encode()).hexdigest()[:8]
        written = folder / f"optimize_{base.name}_{tf.value}_{digest}.html".replace(":", "-")
        snippet = _snippet(base.name, found.candidates[0].params)
        try:
            write_optimize_html(found, base.name, space, written, snippet)
        except OSError as exc:
            raise UserError(f"cannot write the report to {folder}: {exc.strerror or exc}") from None
    if as_json:
        document = _document(base, space, found)
        document["report"] = None if written is None else str(written)
        emit(document)
        return
    console = stores.console()
    _report(console, base, space, found, top)
    if written is not None:
        console.print(f"\nreport: {written}")


def _space(strategy: type[Strategy], specs: list[str]) -> dict[str, list[Any]]:
    """The values to try of each named parameter, typed as the strategy declares them."""
    fields = strategy.Params.model_fields
    space: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, text = spec.partition("=")
        name = name.strip()
        if not sep or not text.strip():
            raise UserError(f"--param {spec!r}: give NAME=VALUES, e.g. fast=5,8,12 or fast=5:30:5")
        if name not in fields:
            known = ", ".join(fields) or "none"
            raise UserError(
                f"--param {name}: {strategy.name} has no such parameter; it has {known}"
            )
        if name in space:
            raise UserError(f"--param {name} is given twice; list all its values in one")
        kind = int if _is_int(fields[name].annotation) else float
        space[name] = _values(name, text.strip(), kind)
    return space


def _is_int(annotation: Any) -> bool:
    return annotation is int or (int in get_args(annotation) and float not in get_args(annotation))


def _values(name: str, text: str, kind: type) -> list[Any]:
    try:
        if ":" in text:
            low, high, step = (kind(part) for part in text.split(":"))
            if not step > 0 or high < low:
                raise UserError(
                    f"--param {name}={text}: a range is LOW:HIGH:STEP with LOW <= HIGH, STEP > 0"
                )
            count = math.floor((high - low) / step + 1e-9) + 1
            if count > MAX_VALUES:
                raise UserError(
                    f"--param {name}={text} makes {count:,} values; at most {MAX_VALUES:,}"
                )
            values = [low + i * step for i in range(count)]
            return [round(v, 12) if kind is float else v for v in values]
        values = [kind(part) for part in text.split(",")]
    except ValueError:
        what = "whole numbers" if kind is int else "numbers"
        raise UserError(f"--param {name}={text}: {name} takes {what}") from None
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        raise UserError(f"--param {name}={text}: values must be finite")
    return list(dict.fromkeys(values))


def _report(
    console: Console, strategy: Strategy, space: dict[str, list[Any]], found: Search, top: int
) -> None:
    names = list(space)
    table = Table(
        title=f"{strategy.name}: {len(found.candidates)} parameter sets, "
        f"{len(found.windows)} walk-forward windows, ranked out of sample",
        title_justify="left",
    )
    for name in names:
        table.add_column(name, justify="right")
    for name in ("test Sharpe", "test return %", "train Sharpe", "test trades"):
        table.add_column(name, justify="right")
    for c in found.candidates[:top]:
        table.add_row(
            *(f"{c.params[n]:g}" for n in names),
            f"{c.score:+.2f}",
            f"{c.test_return_pct.mean():+.2f}",
            f"{c.train_sharpe.mean():+.2f}",
            str(c.test_trades),
        )
    console.print(table)
    if found.refused:
        console.print(f"{found.refused} parameter set(s) refused by the strategy (not run)")
    console.print(_pbo_line(found.pbo))
    best = found.candidates[0]
    console.print("\nThe best out of sample, for solbot.toml:\n")
    console.print(_snippet(strategy.name, best.params), markup=False, highlight=False)


def _pbo_line(pbo: float | None) -> str:
    if pbo is None:
        return "probability of backtest overfitting: needs at least 4 windows and 2 sets"
    verdict = (
        "[bold red]likely overfit: the best in training is as often below the median on test "
        "data; treat these parameters as noise[/]"
        if pbo >= 0.5
        else "[yellow]some risk of overfitting[/]"
        if pbo >= 0.2
        else "[green]low[/]"
    )
    return f"probability of backtest overfitting: {pbo:.0%} ({verdict})"


def _snippet(strategy: str, params: dict[str, Any]) -> str:
    lines = [f"strategy = {json.dumps(strategy)}", "", "[strategy_params]"]
    lines += [f"{k} = {_toml(v)}" for k, v in params.items() if v is not None]
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value)


def _document(strategy: Strategy, space: dict[str, list[Any]], found: Search) -> dict[str, Any]:
    def numbers(values: Any) -> list[str]:
        return [f"{v:.6f}" for v in values]

    return {
        "strategy": strategy.name,
        "space": {k: [str(v) for v in vs] for k, vs in space.items()},
        "windows": [
            {"train_start": w.train_start, "test_start": w.test_start, "test_end": w.test_end}
            for w in found.windows
        ],
        "pbo": None if found.pbo is None else f"{found.pbo:.6f}",
        "refused": found.refused,
        "candidates": [
            {
                "params": {k: str(v) for k, v in c.params.items()},
                "score": f"{c.score:.6f}",
                "test_sharpe": numbers(c.test_sharpe),
                "train_sharpe": numbers(c.train_sharpe),
                "test_return_pct": numbers(c.test_return_pct),
                "test_trades": c.test_trades,
            }
            for c in found.candidates
        ],
        "best": _snippet(strategy.name, found.candidates[0].params),
    }
