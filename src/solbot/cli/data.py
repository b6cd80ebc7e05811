"""`solbot data ...`: import, download and generate historical candles."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, emit, moment
from solbot.cli.options import (
    TimeframeOption,
    WorldCandlesOption,
    candles_dir,
    parse_date,
    parse_timeframe,
    tokens_option,
)
from solbot.clock import Clock, WallClock
from solbot.config import Settings
from solbot.domain import Timeframe, TokenInfo
from solbot.errors import UserError
from solbot.market import geckoterminal
from solbot.market.csv_import import read_candles_csv
from solbot.market.geckoterminal import DownloadProgress, DownloadReport, GeckoTerminalClient
from solbot.market.store import CandleStore
from solbot.market.synth import derive_seed, synth_candles, token_profile

app = typer.Typer(
    help=(
        "Historical candles: import a CSV, download from GeckoTerminal, or generate offline.\n\n"
        "Candles live in DATA_DIR/candles/SYMBOL/TIMEFRAME.parquet, one file per token and "
        "timeframe."
    ),
    no_args_is_help=True,
)

_DAY = 86_400
_DEFAULT_DAYS = 30


def _clock() -> Clock:
    """The clock commands read 'now' from (tests substitute a manual one)."""
    return WallClock()


def _console() -> Console:
    """Messages keep their lines whole (paths, numbers): easier to read, copy and grep."""
    return Console(soft_wrap=True, highlight=False)


@app.command("import")
def import_csv(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            help=(
                "CSV with a header row: a time column named timestamp, time, open_time, date "
                "or unix (Unix seconds, milliseconds or microseconds, ISO-8601 or 12-hour like "
                "2019-10-17 09-PM; UTC unless an offset is given) and the columns open, high, "
                "low, close, volume, in any case and order; separated by commas, semicolons or "
                "tabs. CryptoDataDownload files (banner line included) and Binance kline files "
                "(no header) are read as downloaded."
            ),
            show_default=False,
        ),
    ],
    token: Annotated[
        str,
        typer.Option(
            "--token",
            "-t",
            metavar="SYMBOL",
            help="Symbol of the token the candles price, e.g. JUP.",
        ),
    ],
    timeframe: Annotated[
        str,
        typer.Option(
            "--timeframe",
            metavar="TF",
            help="Candle width in the file (1m, 5m, 15m, 1h, 4h, 1d); every time must start one.",
        ),
    ],
) -> None:
    """Validate a CSV of candles and merge it into the store (imported rows win on equal times).

    Rows may be in any order; exact duplicates are dropped. Any bad row stops the import with
    FILE:LINE and the problem, and nothing is written.
    """
    cfg = settings()
    info = _token(cfg, token)
    tf = parse_timeframe(timeframe)
    series = read_candles_csv(file, tf)
    store = CandleStore(cfg.candles_dir)
    added = store.merge(info.symbol, series)
    first, last = int(series.open_time[0]), int(series.open_time[-1])
    _console().print(
        f"Imported {len(series):,} {tf} candles of {info.symbol} "
        f"({_when(first)} → {_when(last)} UTC), {added:,} new, into "
        f"{store.path(info.symbol, tf)}",
    )


@app.command()
def download(
    tokens: Annotated[
        list[str] | None, tokens_option("download. Default: the trade tokens and SOL")
    ] = None,
    timeframe: TimeframeOption = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            metavar="N",
            help=f"How many days back from now to cover (default {_DEFAULT_DAYS}).",
            show_default=False,
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            metavar="DATE",
            help="First day to cover (YYYY-MM-DD or ISO-8601, UTC).",
            show_default=False,
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end", metavar="DATE", help="Day to stop before (default: now).", show_default=False
        ),
    ] = None,
) -> None:
    """Download candles from GeckoTerminal's public API into the store.

    Only what is missing is fetched (before the first and after the last stored candle), so
    running it again later just tops the files up. The public API allows 30 calls a minute; each
    call brings up to 1000 candles, so a year of 1h candles takes about 9 calls per token.
    """
    cfg = settings()
    infos = [_token(cfg, symbol) for symbol in _symbols(cfg, tokens)]
    for info in infos:
        if not info.pool:
            raise UserError(f"{info.symbol} has no GeckoTerminal pool configured; set its pool")
    tf = parse_timeframe(timeframe) if timeframe is not None else cfg.timeframe
    clock = _clock()
    first, stop = _span(clock.now(), days, start, end)
    store = CandleStore(cfg.candles_dir)
    reports = asyncio.run(_download_all(cfg, clock, store, infos, tf, first, stop))
    console = _console()
    for report in reports:
        stored = (
            f"stored {report.coverage[2]:,} ({_when(report.coverage[0])} → "
            f"{_when(report.coverage[1])} UTC)"
            if report.coverage
            else "nothing stored (no history in that span)"
        )
        console.print(
            f"{report.symbol} {report.timeframe}: {report.added:,} new candles in "
            f"{report.requests} request(s); {stored}",
        )


async def _download_all(
    cfg: Settings,
    clock: Clock,
    store: CandleStore,
    infos: list[TokenInfo],
    timeframe: Timeframe,
    start: int,
    end: int,
) -> list[DownloadReport]:
    reports: list[DownloadReport] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
    )
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as http:
        client = GeckoTerminalClient(http, clock, base_url=cfg.geckoterminal_url)
        with Progress(*columns, console=Console()) as progress:
            for info in infos:
                task = progress.add_task(f"{info.symbol} {timeframe}", total=None, detail="")
                reports.append(
                    await geckoterminal.download(
                        client,
                        store,
                        info,
                        timeframe,
                        start,
                        end,
                        on_progress=_progress_updater(progress, task),
                    )
                )
    return reports


def _progress_updater(progress: Progress, task: TaskID) -> Callable[[DownloadProgress], None]:
    def update(p: DownloadProgress) -> None:
        progress.update(
            task,
            total=max(p.total, 1),
            completed=p.covered if p.total else 1,
            detail=f"{p.candles:,} candles, {p.requests} req",
        )

    return update


@app.command()
def synth(
    tokens: Annotated[
        list[str] | None, tokens_option("generate. Default: the trade tokens and SOL")
    ] = None,
    timeframe: TimeframeOption = None,
    bars: Annotated[
        int | None,
        typer.Option(
            "--bars",
            metavar="N",
            help="Candles per token (default: one year's worth).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", metavar="N", help="Base seed; each token derives its own from it."),
    ] = 42,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Overwrite candles already stored for these tokens."),
    ] = False,
) -> None:
    """Generate synthetic candles offline, ending at the last closed candle.

    A seeded random walk with bull, bear and sideways trends and calm and turbulent spells. The
    same seed gives the same prices every time. Each token starts near a plausible price.
    Synthetic candles are for trying things out: a token that already has candles is skipped
    unless you pass --replace, so real history is never overwritten by accident, and running the
    command twice is harmless.
    """
    cfg = settings()
    infos = [_token(cfg, symbol) for symbol in _symbols(cfg, tokens)]
    tf = parse_timeframe(timeframe) if timeframe is not None else cfg.timeframe
    count = 365 * _DAY // tf.seconds if bars is None else bars
    if count <= 0:
        raise UserError(f"--bars must be a positive number, got {count}")
    if seed < 0:
        raise UserError(f"--seed must not be negative, got {seed}")
    store = CandleStore(cfg.candles_dir)
    console = _console()
    if not replace:
        kept = [info for info in infos if store.coverage(info.symbol, tf) is not None]
        for info in kept:
            console.print(
                f"{info.symbol} {tf}: candles already stored, kept "
                "(pass --replace to overwrite them with synthetic ones)"
            )
        infos = [info for info in infos if info not in kept]
    start_time = tf.floor(int(_clock().now())) - count * tf.seconds
    for info in infos:
        profile = token_profile(info.symbol)
        series = synth_candles(
            tf,
            count,
            derive_seed(seed, info.symbol),
            profile.start_price,
            start_time,
            volatility=profile.volatility,
        )
        path = store.save(info.symbol, series)
        console.print(
            f"{info.symbol} {tf}: {count:,} synthetic candles "
            f"({_when(start_time)} → {_when(int(series.open_time[-1]))} UTC) in {path}",
        )


@app.command("list")
def list_candles(world: WorldCandlesOption = None, as_json: JsonOption = False) -> None:
    """Show what is stored: token, timeframe, first and last candle (UTC), number of candles.
    Market history unless `--world` names a world whose run-built candles to show."""
    cfg = settings()
    folder = candles_dir(cfg, world)
    entries = CandleStore(folder).list()
    if as_json:
        emit(
            {
                "folder": str(folder),
                "series": [
                    {
                        "token": entry.symbol,
                        "timeframe": entry.timeframe.value,
                        "first": moment(entry.first),
                        "last": moment(entry.last),
                        "bars": entry.count,
                    }
                    for entry in entries
                ],
            }
        )
        return
    console = _console()
    if not entries:
        console.print(f"No candles stored in {folder}.")
        return
    table = Table(title=f"Candles in {folder}")
    table.add_column("token")
    table.add_column("timeframe")
    table.add_column("first (UTC)")
    table.add_column("last (UTC)")
    table.add_column("bars", justify="right")
    for entry in entries:
        table.add_row(
            entry.symbol,
            entry.timeframe.value,
            _when(entry.first),
            _when(entry.last),
            f"{entry.count:,}",
        )
    console.print(table)


def _symbols(cfg: Settings, tokens: list[str] | None) -> list[str]:
    """The tokens asked for, or by default the trade tokens plus SOL, each once and in order."""
    chosen = tokens if tokens else [*cfg.trade_tokens, "SOL"]
    return list(dict.fromkeys(symbol.strip().upper() for symbol in chosen))


def _token(cfg: Settings, symbol: str) -> TokenInfo:
    try:
        return cfg.token(symbol)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from None


def _span(now: float, days: int | None, start: str | None, end: str | None) -> tuple[int, int]:
    """[start, end) in Unix seconds from --days or --start/--end."""
    if days is not None and (start is not None or end is not None):
        raise UserError("use either --days or --start/--end, not both")
    stop = parse_date(end, "--end") if end is not None else int(now)
    if days is not None:
        if days <= 0:
            raise UserError(f"--days must be a positive number, got {days}")
        return stop - days * _DAY, stop
    first = parse_date(start, "--start") if start is not None else stop - _DEFAULT_DAYS * _DAY
    if first >= stop:
        raise UserError(f"--start ({_when(first)}) must be before --end ({_when(stop)})")
    return first, stop


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")
