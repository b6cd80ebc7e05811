"""`solbot run`: the trading loop, on the simulated network unless told otherwise."""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live

from solbot.cli import stores
from solbot.cli.context import set_settings, settings
from solbot.cli.options import parse_duration
from solbot.cli.run_view import (
    SHOWN_EVENTS,
    CandleStatus,
    banner,
    event_line,
    panel,
    print_summary,
    status_line,
)
from solbot.config import LIVE_OPT_IN
from solbot.errors import InterruptError, UserError
from solbot.logs import use_bot_clock

if TYPE_CHECKING:  # the trading stack is imported when the bot runs, not for `solbot --help`
    from solbot.clock import Clock
    from solbot.events import Event
    from solbot.runtime import RunOptions, Runtime, Summary
    from solbot.sim.replay import Replay


def bot_clock() -> Clock | None:
    """The bot's clock; None lets the runner choose (the sim's or the wall's). Tests substitute
    a manual one."""
    return None


def run(
    speed: Annotated[
        float,
        typer.Option(
            min=0.001,
            metavar="N",
            help=(
                "Embedded sim only: N simulated seconds per real second (600 runs a day in "
                "2.4 min). A `solbot sim serve` sets its own."
            ),
        ),
    ] = 1.0,
    stop_after: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Stop after this much bot time (e.g. 90m, 6h, 1d) and print a summary.",
        ),
    ] = None,
    live: Annotated[
        bool,
        typer.Option(help="Allow mainnet (real money); you will be asked to type a confirmation."),
    ] = False,
    paper: Annotated[
        bool,
        typer.Option(
            "--paper",
            help=(
                "Paper trading: the network's real prices and quotes, fills booked at the quote "
                "in data/paper/ (no key, no RPC; nothing signed or sent). Same as "
                "SOLBOT_PAPER=true."
            ),
        ),
    ] = False,
    replay: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TOKEN:TF|FILE.csv",
            help=(
                "Replay recorded candles through the whole loop on the embedded sim, as fast as "
                "it runs, in a world of its own under <data dir>/replays/: stored candles "
                "(JUP:1h) or a CSV named after its token (JUP.csv). Repeat for more tokens."
            ),
            show_default=False,
        ),
    ] = None,
    web: Annotated[
        bool,
        typer.Option(
            "--web",
            help="Serve the dashboard too, with the loop's live state (SOLBOT_WEB_HOST and "
            "SOLBOT_WEB_PORT; same as SOLBOT_WEB=true).",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every HTTP call.")] = False,
) -> None:
    """Run the bot: poll prices, build candles, trade on closed candles, manage exits.

    By default everything runs offline on the embedded simulated Solana network (LiteSVM, the
    real Solana runtime) with simulated money: real transactions, real signatures, a real
    database. The sim's world (accounts, clock, prices) is saved next to the database, so
    stopping and starting again continues it. With `SOLBOT_RPC_URL`, `SOLBOT_JUPITER_URL` and
    `WALLET_PRIVATE_KEY` from `solbot sim serve`, the bot uses the sim over HTTP instead, on the
    sim's clock. With `--paper`, the bot trades on the network's real prices and quotes but
    books each fill at the quote in a database of its own, signing and sending nothing: a dry
    run of mainnet needs no key and no opt-in. Stop with Ctrl-C or SIGTERM: the current tick
    may finish for a moment, in-flight orders are journaled, and a summary is printed, within
    seconds whatever the bot was waiting for.
    """
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    if web:
        set_settings(settings().model_copy(update={"web": True}))
    try:
        _run(speed, stop_after, live, paper, verbose, replay or [])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(
    speed: float, stop_after: str | None, live: bool, paper: bool, verbose: bool, replay: list[str]
) -> None:
    if paper:
        set_settings(settings().model_copy(update={"paper": True}))
    from solbot.runtime import RunOptions

    options = RunOptions(
        speed=speed,
        stop_after=parse_duration(stop_after, "--stop-after") if stop_after else None,
        live=live,
        tune_gc=True,
    )
    if replay:
        options = _replaying(replay, options, live or paper)
    cfg = settings()
    if cfg.network == "mainnet" and not cfg.paper:
        _confirm_live(cfg.live == LIVE_OPT_IN, live)
    stores.log_file(cfg, verbose=verbose)
    console = stores.console()  # in a pipe or a log: whole lines, never wrapped
    summary = asyncio.run(_main(options, console))
    print_summary(console, summary)
    if not summary.consistent:
        raise typer.Exit(code=1)


async def _main(options: RunOptions, console: Console) -> Summary:
    def show(event: Event) -> None:
        if event.kind in SHOWN_EVENTS:
            console.print(event_line(event))

    from solbot.runner import build

    signals = _Signals(asyncio.current_task())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signals.received, sig)
    try:
        async with build(settings(), options, on_event=show, clock=bot_clock()) as runtime:
            signals.runtime = runtime
            use_bot_clock(runtime.clock)
            banner(console, runtime)
            if options.replay is not None:
                return await _replay_with_progress(runtime, options.replay, console)
            if not console.is_terminal:  # a log or a pipe: a status line with every candle
                every = CandleStatus(runtime.engine.timeframe.seconds)

                def status(rt: Runtime) -> None:
                    if every.due(rt.clock.now()):
                        console.print(status_line(rt.engine, rt.clock.now()))

                return await runtime.run(on_tick=status)
            with Live(panel(runtime), console=console, refresh_per_second=4) as live:
                return await runtime.run(on_tick=lambda rt: live.update(panel(rt)))
    except asyncio.CancelledError:
        if signals.first is None:
            raise
        raise InterruptError(signals.first, started=signals.runtime is not None) from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _replaying(specs: list[str], options: RunOptions, elsewhere: bool) -> RunOptions:
    """Run options and settings for a replay (`solbot.sim.replay`): its own world, its span."""
    if elsewhere:
        raise UserError("--replay runs on the embedded sim; drop --live and --paper")
    from datetime import UTC, datetime

    from solbot.sim.replay import load_replay, replay_settings
    from solbot.strategy.registry import load_strategy

    cfg = settings()  # whatever network it names: a replay is a sim world of its own
    strategy = load_strategy(cfg.strategy, cfg.strategy_params)
    replay = load_replay(specs, cfg, cfg.timeframe, strategy.samples_needed)
    set_settings(replay_settings(cfg, replay, datetime.now(UTC)))
    span = replay.end - replay.start
    stop_after = span if options.stop_after is None else min(span, options.stop_after)
    return replace(options, replay=replay, stop_after=stop_after)


def _interrupt(signum: int, _frame: object) -> None:
    """SIGINT or SIGTERM before the event loop runs: the start ends like Ctrl-C, in one line."""
    raise InterruptError(signum)


async def _replay_with_progress(runtime: Runtime, replay: Replay, console: Console) -> Summary:
    """A replay is long work: a bar over its simulated span, with the trades so far."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    percent = TextColumn("{task.percentage:>3.0f}%")
    columns = (TextColumn("{task.description}"), BarColumn(), percent, TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        span = runtime.options.stop_after or replay.end - replay.start  # --stop-after ends it
        task = progress.add_task("replaying", total=span)

        def advance(rt: Runtime) -> None:
            stats = rt.engine.stats
            progress.update(
                task,
                completed=rt.clock.now() - replay.start,
                description=f"replaying · {stats.entries} entries, {stats.exits} exits",
            )

        return await runtime.run(on_tick=advance)


class _Signals:
    """SIGINT and SIGTERM during `solbot run`. While it starts up (a download, a service that
    does not answer) a signal cancels the start: nothing runs yet. Once it runs, the first
    asks the runtime to stop (within seconds, with a summary) and a second cancels at once."""

    def __init__(self, task: asyncio.Task[Summary] | None) -> None:
        self.task = task
        self.runtime: Runtime | None = None
        self.first: int | None = None

    def received(self, signum: int) -> None:
        repeated = self.first is not None
        if self.first is None:
            self.first = signum
        if self.runtime is not None and not repeated:
            self.runtime.stop()
        elif self.task is not None:
            self.task.cancel()


def _confirm_live(opted_in: bool, flag: bool) -> None:
    if opted_in:
        return
    if not flag:
        raise UserError(f"mainnet trades real money: set SOLBOT_LIVE={LIVE_OPT_IN} or pass --live")
    if not sys.stdin.isatty():
        raise UserError("--live needs a terminal to confirm; or set SOLBOT_LIVE=I_UNDERSTAND")
    typed = typer.prompt("This trades REAL money on mainnet. Type 'trade real money' to go on")
    if typed.strip() != "trade real money":
        raise UserError("not confirmed; nothing was started")
