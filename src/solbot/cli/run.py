"""`solbot run`: the trading loop, on the simulated network unless told otherwise."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from solbot.cli.context import set_settings, settings
from solbot.cli.options import parse_duration
from solbot.config import LIVE_OPT_IN
from solbot.errors import InterruptError, UserError
from solbot.logs import log_to_file

if TYPE_CHECKING:  # the trading stack is imported when the bot runs, not for `solbot --help`
    from solbot.engine import Event
    from solbot.runner import RunOptions, Runtime, Summary

_STATUS_EVERY = 60  # ticks between status lines
_SHOWN_LINES = 20  # positions and differences listed in the summary; the rest are counted
SHOWN_EVENTS = (
    "entry",
    "exit",
    "breaker",
    "failed",
    "recovered",
    "chain",
    "paused",
    "resumed",
    "risk",
    "added",
    "unfunded",
    "withdrawal",
    "no_key",
    "decrypt_alert",
    "quarantined",
    "moved_out",
)


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
    try:
        _run(speed, stop_after, live, paper, verbose)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(speed: float, stop_after: str | None, live: bool, paper: bool, verbose: bool) -> None:
    if paper:
        set_settings(settings().model_copy(update={"paper": True}))
    cfg = settings()
    from solbot.runner import RunOptions

    options = RunOptions(
        speed=speed,
        stop_after=parse_duration(stop_after, "--stop-after") if stop_after else None,
        live=live,
        tune_gc=True,
    )
    if cfg.network == "mainnet" and not cfg.paper:
        _confirm_live(cfg.live == LIVE_OPT_IN, live)
    _logging(verbose)
    console = Console()
    summary = asyncio.run(_main(options, console))
    _print_summary(console, summary)
    if not summary.consistent:
        raise typer.Exit(code=1)


async def _main(options: RunOptions, console: Console) -> Summary:
    def show(event: Event) -> None:
        if event.kind in SHOWN_EVENTS:
            console.print(f"[dim]{_when(event.time)}[/] {event.kind:>9}  {event.text}")

    from solbot.runner import build

    signals = _Signals(asyncio.current_task())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signals.received, sig)
    try:
        async with build(settings(), options, on_event=show) as runtime:
            signals.runtime = runtime
            _banner(console, runtime)
            if not console.is_terminal:  # a log or a pipe: a status line now and then
                return await runtime.run(on_tick=lambda rt: _status(console, rt))
            with Live(_panel(runtime), console=console, refresh_per_second=4) as live:
                return await runtime.run(on_tick=lambda rt: live.update(_panel(rt)))
    except asyncio.CancelledError:
        if signals.first is None:
            raise
        raise InterruptError(signals.first, started=signals.runtime is not None) from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _interrupt(signum: int, _frame: object) -> None:
    """SIGINT or SIGTERM before the event loop runs: the start ends like Ctrl-C, in one line."""
    raise InterruptError(signum)


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


def _logging(verbose: bool) -> None:
    cfg = settings()
    log_to_file(cfg.log_path, verbose=verbose, level=cfg.log_level)


def _banner(console: Console, runtime: Runtime) -> None:
    cfg = runtime.settings
    if runtime.network is not None:
        where = "embedded sim network"
    elif cfg.network == "sim":
        where = f"sim network at {cfg.rpc_url or cfg.jupiter_url}"
    else:
        where = cfg.network
    users = [a.username for a in runtime.engine.accounts if a.username != "operator"]
    who = []
    if runtime.signer is not None:
        kind = "paper account" if cfg.paper else "operator wallet"
        who.append(f"{kind} {runtime.signer.pubkey()}")
    if users:
        shown = ", ".join(users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
        who.append(f"{len(users)} user(s): {shown}")
    console.print(
        f"[bold]solbot[/] on the {where} · {' · '.join(who)} · "
        f"{cfg.strategy} on {cfg.timeframe.value} · tier {cfg.risk_tier} · "
        f"tokens {', '.join(t.symbol for t in runtime.engine.tokens)}"
    )
    if cfg.paper:
        console.print(
            f"[bold yellow]paper trading[/]: {where} prices and quotes, fills at the quote, "
            f"nothing signed or sent; books in {runtime.db.safe_url}"
        )
    if runtime.network is not None:
        console.print(
            f"[dim]simulated money; {runtime.options.speed:g}x speed; state in "
            f"{cfg.sim_state_path}; log in {cfg.log_path}[/]"
        )
    elif cfg.network == "sim":
        speed = getattr(runtime.clock, "speed", 1.0)
        console.print(
            f"[dim]simulated money; the sim's clock ({speed:g}x speed) at "
            f"{_when(runtime.clock.now())} UTC; log in {cfg.log_path}[/]"
        )


def _status(console: Console, runtime: Runtime) -> None:
    stats = runtime.engine.stats
    if stats.ticks % _STATUS_EVERY:
        return
    held = len(runtime.engine.guard.quarantined)
    console.print(
        f"[dim]{_when(runtime.clock.now())}  ticks {stats.ticks:,}  entries {stats.entries}  "
        f"exits {stats.exits}  realised PnL {stats.realised_pnl:+.2f}"
        + (f"  quarantined {held}" if held else "")
        + "[/]"
    )


def _panel(runtime: Runtime) -> Group:
    """The live status on a terminal: the clock, the counters, and each token's last price."""
    stats = runtime.engine.stats
    headline = Text(
        f"{_when(runtime.clock.now())} · ticks {stats.ticks:,} · entries {stats.entries} · "
        f"exits {stats.exits} · failed {stats.failed} · "
        f"realised PnL {stats.realised_pnl:+.2f} {runtime.engine.quote.symbol}"
        + (f" · quarantined {held}" if (held := len(runtime.engine.guard.quarantined)) else ""),
        style="bold",
    )
    table = Table(show_edge=False)
    table.add_column("token")
    table.add_column("price (USD)", justify="right")
    table.add_column("candles", justify="right")
    for token in runtime.engine.tokens:
        price = runtime.engine.prices.get(token.symbol)
        table.add_row(
            token.symbol,
            "–" if price is None else f"{float(price):.6g}",
            f"{runtime.engine.book.count(token.symbol)}/{runtime.engine.book.capacity}",
        )
    return Group(headline, table)


def _print_summary(console: Console, summary: Summary) -> None:
    hours = (summary.ended - summary.started) / 3600
    table = Table(
        title=f"run summary: {hours:.1f} h of bot time", title_justify="left", show_header=False
    )
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("ticks", f"{summary.ticks:,}")
    table.add_row("entries / exits", f"{summary.entries} / {summary.exits}")
    table.add_row("failed orders", str(summary.failed))
    table.add_row("realised PnL", f"{summary.realised_pnl:+.2f} {summary.quote}")
    table.add_row("cash", f"{summary.cash:,.2f} {summary.quote}")
    for reason, n in sorted(summary.blocked.items()):
        table.add_row(f"entries blocked: {reason}", str(n))
    if summary.moved_out:
        table.add_row("moved out of the wallet", str(summary.moved_out))
    table.add_row("quarantined", str(len(summary.quarantined)))
    for hold in summary.quarantined:
        name = summary.names.get(hold.user_id, hold.user_id)
        table.add_row(
            f"  {name} {hold.what}", f"[red]{hold.failures} failures[/]: {hold.last_error}"
        )
    held = "paper balance" if summary.paper else "chain"
    several = len({h.user for h in summary.open_positions}) > 1
    for h in summary.open_positions[:_SHOWN_LINES]:
        mark = "[green]✓[/]" if h.quantity == h.on_chain else f"[red]✗ {held} differs[/]"
        label = f"open {h.user} {h.token}" if several else f"open {h.token}"
        table.add_row(label, f"{h.quantity:,} atoms ({held} {h.on_chain:,}) {mark}")
    if len(summary.open_positions) > _SHOWN_LINES:
        table.add_row("open positions", f"and {len(summary.open_positions) - _SHOWN_LINES} more")
    _reconciliation(table, summary, held)
    console.print(table)


def _reconciliation(table: Table, summary: Summary, held: str) -> None:
    """One line when the books and the chain agree for every user and asset; otherwise each
    difference, with its amount in units."""
    lines = summary.reconciled
    users = len({line.user for line in lines})
    wrong = [line for line in lines if not line.ok]
    if not wrong:
        table.add_row("books = " + held, f"[green]✓[/] {users} user(s), {len(lines)} balances")
        return
    strict = sum(1 for line in wrong if line.strict)
    mark = "[red]✗[/]" if strict else "[yellow]≠[/]"
    table.add_row("books = " + held, f"{mark} {len(wrong)} of {len(lines)} balances differ")
    for line in wrong[:_SHOWN_LINES]:
        amount = Decimal(line.difference).scaleb(-line.decimals)
        books = Decimal(line.books).scaleb(-line.decimals)
        chain = Decimal(line.chain).scaleb(-line.decimals)
        colour = "red" if line.strict else "yellow"
        why = f" ({line.note})" if line.note else ""
        table.add_row(
            f"  {line.user} {line.asset}",
            f"[{colour}]{held} {chain:,f} vs books {books:,f}: {amount:+,f}{why}[/]",
        )
    if len(wrong) > _SHOWN_LINES:
        table.add_row("", f"and {len(wrong) - _SHOWN_LINES} more")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")
