"""What `solbot run` shows the operator: the banner, one line per event, the status (a live
panel on a terminal; in a log or a pipe, a line with every candle), and the closing summary.

Event texts come from the loop and may hold anything a venue or a node answered (brackets
included), so they are printed as plain text, never as console markup: markup would swallow
`[...]` and hide part of a failure's reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from solbot.events import warm_up, when

if TYPE_CHECKING:  # the trading stack is imported when the bot runs, not for `solbot --help`
    from solbot.engine import Engine
    from solbot.events import Event
    from solbot.runtime import Runtime, Summary

SHOWN_LINES = 20  # positions and differences listed in the summary; the rest are counted
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
    "funded",
    "withdrawal",
    "no_key",
    "identity_refused",
    "decrypt_alert",
    "key_rotated",
    "quarantined",
    "moved_out",
)


def event_line(event: Event) -> Text:
    """'2026-01-05 14:00     entry  alice bought 1,234.5 JUP for 500.00 USDC'."""
    line = Text.assemble((when(event.time), "dim"), f" {event.kind:>9}  ")
    if event.user:
        line.append(event.user, style="bold")
        line.append(" ")
    line.append(event.text)
    return line


class CandleStatus:
    """When a log or a pipe gets a status line: on the first tick of every candle (so at least
    once per candle, however fast the clock runs), and on the very first tick."""

    def __init__(self, seconds: int) -> None:
        self._seconds = seconds
        self._bucket: int | None = None

    def due(self, now: float) -> bool:
        bucket = int(now // self._seconds)
        if bucket == self._bucket:
            return False
        self._bucket = bucket
        return True


def status_line(engine: Engine, now: float) -> Text:
    """The clock, the counters and, while the strategy warms up, when its first signal comes."""
    stats = engine.stats
    held = len(engine.guard.quarantined)
    text = (
        f"{when(now)}  ticks {stats.ticks:,}  entries {stats.entries}  exits {stats.exits}  "
        f"failed {stats.failed}  realised PnL {stats.realised_pnl:+.2f} {engine.quote.symbol}"
        + (f"  quarantined {held}" if held else "")
    )
    warming = warm_up(engine, now)
    return Text(text + (f"  {warming}" if warming else ""), style="dim")


def panel(runtime: Runtime) -> Group:
    """The live status on a terminal: the status line, and each token's last price and candles."""
    engine = runtime.engine
    headline = status_line(engine, runtime.clock.now())
    headline.style = "bold"
    table = Table(show_edge=False)
    table.add_column("token")
    table.add_column("price (USD)", justify="right")
    table.add_column("candles", justify="right")
    for token in engine.tokens:
        price = engine.prices.get(token.symbol)
        table.add_row(
            token.symbol,
            "–" if price is None else f"{float(price):.6g}",
            f"{engine.book.count(token.symbol)}/{engine.book.capacity}",
        )
    return Group(headline, table)


def banner(console: Console, runtime: Runtime) -> None:
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
    if runtime.dashboard is not None:
        console.print(
            f"[bold]dashboard[/] at {cfg.web_address} once started (`solbot web token create` "
            "signs the operator in; friends send /web to the Telegram bot)"
        )
    replay = runtime.options.replay
    if replay is not None:
        sources = ", ".join(f"{s} {c.timeframe}" for s, c in replay.series.items())
        console.print(
            f"[bold]replay[/] of recorded candles ({sources}), {_utc(replay.start)} → "
            f"{_utc(replay.end)} UTC, a tick every {cfg.poll_seconds:g} s; its world is "
            f"{cfg.data_dir}"
        )
    elif runtime.network is not None:
        console.print(
            f"[dim]simulated money; {runtime.options.speed:g}x speed; state in "
            f"{cfg.sim_state_path}; log in {cfg.log_path}[/]"
        )
    elif cfg.network == "sim":
        speed = getattr(runtime.clock, "speed", 1.0)
        console.print(
            f"[dim]simulated money; the sim's clock ({speed:g}x speed) at "
            f"{when(runtime.clock.now())} UTC; log in {cfg.log_path}[/]"
        )


def print_summary(console: Console, summary: Summary) -> None:
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
    if summary.costs_lamports > 0:  # the routes where the wallets pay their own transactions
        table.add_row("paid in fees and rent", f"{summary.costs_sol.normalize():f} SOL")
    elif summary.costs_lamports < 0:  # closed accounts gave back more rent than was paid
        table.add_row("rent given back, net of fees", f"{-summary.costs_sol.normalize():f} SOL")
    if summary.costs_lamports and summary.net_pnl is not None:
        table.add_row("realised PnL after them", f"{summary.net_pnl:+.4f} SOL")
    table.add_row("cash", f"{summary.cash:,.2f} {summary.quote}")
    for reason, n in sorted(summary.blocked.items()):
        table.add_row(f"entries blocked: {reason}", str(n))
    if summary.moved_out:
        table.add_row("moved out of the wallet", str(summary.moved_out))
    table.add_row("quarantined", str(len(summary.quarantined)))
    for hold in summary.quarantined:
        name = summary.names.get(hold.user_id, hold.user_id)
        table.add_row(
            Text(f"  {name} {hold.what}"),
            Text.assemble((f"{hold.failures} failures", "red"), f": {hold.last_error}"),
        )
    held = "paper balance" if summary.paper else "chain"
    several = len({h.user for h in summary.open_positions}) > 1
    for h in summary.open_positions[:SHOWN_LINES]:
        mark = "[green]✓[/]" if h.quantity == h.on_chain else f"[red]✗ {held} differs[/]"
        label = f"open {h.user} {h.token}" if several else f"open {h.token}"
        books = Decimal(h.quantity).scaleb(-h.decimals)
        chain = Decimal(h.on_chain).scaleb(-h.decimals)
        table.add_row(label, f"{books:,f} {h.token} ({held} {chain:,f}) {mark}")
    if len(summary.open_positions) > SHOWN_LINES:
        table.add_row("open positions", f"and {len(summary.open_positions) - SHOWN_LINES} more")
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
    for line in wrong[:SHOWN_LINES]:
        amount = Decimal(line.difference).scaleb(-line.decimals)
        books = Decimal(line.books).scaleb(-line.decimals)
        chain = Decimal(line.chain).scaleb(-line.decimals)
        colour = "red" if line.strict else "yellow"
        why = f" ({line.note})" if line.note else ""
        table.add_row(
            f"  {line.user} {line.asset}",
            Text(f"{held} {chain:,f} vs books {books:,f}: {amount:+,f}{why}", style=colour),
        )
    if len(wrong) > SHOWN_LINES:
        table.add_row("", f"and {len(wrong) - SHOWN_LINES} more")


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M")
