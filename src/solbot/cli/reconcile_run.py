"""`solbot reconcile`: the trades a run booked against a backtest of the candles that run built,
with the run's configuration, and the cause of every difference (`backtest.run_diff`).

What it reads, all from the world it is pointed at: each user's positions (the run's trades),
their risk tier and overrides, their equity at the start (the backtest's starting cash), the
candles the run built (`<world>/candles`), the entry orders that failed, and the breakers'
refusals the run logged (`<world>/solbot.log`). Nothing is changed.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from solbot.backtest.run_diff import Refusal, Row, Trade, compare, summary
from solbot.cli import stores
from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, emit, moment
from solbot.cli.options import parse_date
from solbot.cli.tables import print_table
from solbot.errors import UserError
from solbot.events import ENTRIES_STOPPED

if TYPE_CHECKING:
    from solbot.backtest.engine import Prepared
    from solbot.backtest.universe import Universe
    from solbot.config import Settings
    from solbot.services.custody import CustodyService
    from solbot.store.tables import UserRow


@dataclass
class _UserRun:
    """One user's part of the run, and the rows of the comparison."""

    user: UserRow
    cash: float  # the backtest's starting cash: the user's value at the start, in the quote
    rows: list[Row]
    quote: str


def reconcile(
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="Compare trades entered from this UTC date or time on (ISO 8601). Default: "
            "the first trade the world booked.",
            show_default=False,
        ),
    ] = None,
    username: Annotated[
        str | None, typer.Option("--username", "-u", metavar="NAME", help="Only this user.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Explain a run: its trades against a backtest of the candles it built, with the same
    strategy, risk, exits and costs. Every difference gets its cause: a stop or target filled
    past its level, an order that failed, a breaker, a manual close, tokens moved out."""
    cfg = settings()
    start = parse_date(since, "--since") if since is not None else None
    runs = asyncio.run(_gather(cfg, start, username))
    if as_json:
        emit(_document(runs))
        return
    console = stores.console()
    if not runs:
        console.print("nothing to reconcile: no trades in this world" + _from(start))
        return
    for run in runs:
        print_table(console, lambda _whole, run=run: _table(run))
        matched, explained, unexplained = summary(run.rows)
        console.print(
            f"{run.user.username}: {matched} of {len(run.rows)} matched, {explained} explained"
            + (f", [bold red]{unexplained} not explained[/]" if unexplained else "")
        )


async def _gather(cfg: Settings, start: int | None, username: str | None) -> list[_UserRun]:
    from sqlalchemy import select

    from solbot.store.tables import PositionRow

    async with stores.custody(cfg, need_key=False) as service:
        users = [await service.user(username)] if username else await service.users()
        async with service.db.session() as s:
            stmt = select(PositionRow).order_by(PositionRow.entry_time)
            positions = list(await s.scalars(stmt))
            fees = await _entry_fees(s)
        first = min((p.entry_time.timestamp() for p in positions), default=None)
        if first is None:
            return []
        # The first bar whose entries are compared: its fills were decided at the close before.
        begin = cfg.timeframe.floor(int(first if start is None else start))
        universe = _universe(cfg)
        signals = _signals(cfg, universe, begin)  # once: the users differ in risk and cash
        failed = await _failed_entries(service, cfg, begin)
        logged = _log_refusals(cfg.log_path, cfg.timeframe.floor)  # one read of the log
        runs = []
        for user in users:
            cash = await _starting_value(service, user, begin)
            if cash <= 0:
                continue  # a wallet the run never had money in
            mine = [p for p in positions if p.user_id == user.id]
            live = [_live(cfg, p, fees) for p in mine if p.entry_time.timestamp() >= begin]
            tested, kept_out = _backtest(cfg, user, signals, universe, cash, begin)
            if live or tested:  # a user who traded, or would have
                refusals = [
                    *failed.get(user.id, []),
                    *logged.get(user.username, []),
                    *logged.get(EVERYONE, []),
                ]
                if not user.is_active and not any(r.why == PAUSED for r in refusals):
                    # paused before the run began (no pause in its log): no entry since
                    refusals.append(Refusal(begin, "*", PAUSED, until=sys.maxsize))
                rows = compare(live, tested, refusals, _bar(cfg), kept_out)
                runs.append(_UserRun(user, cash, rows, cfg.quote))
        return runs


def _bar(cfg: Settings) -> int:
    return cfg.timeframe.seconds


def _universe(cfg: Settings) -> Universe:
    """The candles the run built, in USD (what its strategy read) and in its quote asset."""
    from solbot.backtest.universe import priced
    from solbot.market.store import CandleStore

    store = CandleStore(cfg.built_candles_dir())
    series = {}
    for symbol in cfg.trade_tokens:
        if symbol == cfg.quote:
            continue
        candles = store.load(symbol, cfg.timeframe)
        if len(candles):
            series[symbol] = candles
    if not series:
        raise UserError(
            f"no {cfg.timeframe} candles built by a run in {cfg.built_candles_dir()}; "
            "reconcile compares a run's trades with the candles it built"
        )
    quote = None
    if cfg.quote != "USDC":
        quote = store.load(cfg.quote, cfg.timeframe)
        if not len(quote):
            raise UserError(
                f"no {cfg.timeframe} {cfg.quote} candles built by the run in "
                f"{cfg.built_candles_dir()} to price its trades in {cfg.quote} (a run of a "
                "version before 2026-12 did not build them): reconcile a run of this version"
            )
    tokens = cfg.token_map()
    return priced(series, {s: tokens[s].liquidity_usd for s in series}, cfg.quote, quote)


async def _starting_value(service: CustodyService, user: UserRow, begin: int) -> float:
    """The user's value at the first equity point from `begin` (their current value without
    one)."""
    from solbot.store.balances import Equity

    async with service.db.session() as s:
        curve = await Equity(s, service.clock).curve(user.id, begin - 3600)
    return float(curve[0][1]) if curve else float(user.portfolio_value)


async def _failed_entries(
    service: CustodyService, cfg: Settings, begin: int
) -> dict[str, list[Refusal]]:
    """Every user's entry orders that failed from `begin` on, by user id."""
    from sqlalchemy import select

    from solbot.store.states import OrderState, Purpose
    from solbot.store.tables import OrderRow
    from solbot.store.types import utc_from_timestamp

    floor = cfg.timeframe.floor
    async with service.db.session() as s:
        failed = await s.scalars(
            select(OrderRow).where(
                OrderRow.purpose == Purpose.ENTRY.value,
                OrderRow.state == OrderState.FAILED.value,
                OrderRow.created_at >= utc_from_timestamp(begin),
            )
        )
        found: dict[str, list[Refusal]] = {}
        for order in failed:
            why = f"the live order failed: {order.error or 'no reason recorded'}"
            at = floor(int(order.created_at.timestamp()))
            found.setdefault(order.user_id, []).append(Refusal(at, order.token, why))
    return found


_LOGGED = tuple(f'"message": "{kind} ' for kind in ("blocked", "paused", "resumed", "entries"))
PAUSED = "the user was paused"
EVERYONE = "*"  # `_log_refusals`' key for what kept every user's entries from happening


def _log_refusals(log: Path, floor: Any) -> dict[str, list[Refusal]]:
    """What the run's log says kept each user's entries from happening, by username: the
    breakers' refusals (`blocked NAME: TOKEN, TOKEN: why`, `EntryPlanner.plan`) and pauses
    (`paused NAME: ...` until `resumed NAME: ...`, `Roster`)."""

    if not log.exists():
        return {}
    found: dict[str, list[Refusal]] = {}
    paused_at: dict[str, int] = {}
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not any(head in line for head in _LOGGED):
                continue
            try:
                record = json.loads(line)
                at = floor(int(datetime.fromisoformat(record["bot_time"]).timestamp()))
                kind, rest = record["message"].split(" ", 1)
                name, text = rest.split(": ", 1)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # a torn or foreign line: not evidence
            if kind == "entries":  # the operator's switch, for everyone (`Roster.refresh`)
                name = EVERYONE
                kind = "paused" if text == ENTRIES_STOPPED else "resumed"
            if kind == "paused":
                paused_at.setdefault(name, at)
            elif kind == "resumed" and name in paused_at:
                start = paused_at.pop(name)
                found.setdefault(name, []).append(Refusal(start, "*", _why(name), until=at))
            elif kind == "blocked" and ": " in text:
                tokens, why = text.split(": ", 1)
                mine = found.setdefault(name, [])
                mine += [Refusal(at, t, f"refused live: {why}") for t in tokens.split(", ")]
    for name, start in paused_at.items():  # never resumed
        found.setdefault(name, []).append(Refusal(start, "*", _why(name), until=sys.maxsize))
    return found


def _why(name: str) -> str:
    return ENTRIES_STOPPED.split(";")[0] if name == EVERYONE else PAUSED


async def _entry_fees(s: Any) -> dict[str, int]:
    """The venue's fee (bps) of each position's entry order, by position id."""
    from sqlalchemy import select

    from solbot.store.states import Purpose
    from solbot.store.tables import OrderRow

    rows = await s.execute(
        select(OrderRow.position_id, OrderRow.fee_bps).where(
            OrderRow.purpose == Purpose.ENTRY.value, OrderRow.position_id.is_not(None)
        )
    )
    return {position: fee or 0 for position, fee in rows}


def _live(cfg: Settings, position: Any, fees: dict[str, int]) -> Trade:

    floor = cfg.timeframe.floor
    exit_bar = None if position.exit_time is None else floor(int(position.exit_time.timestamp()))
    return Trade(
        floor(int(position.entry_time.timestamp())),
        position.token,
        exit_bar,
        position.exit_reason or "open",
        None if position.pnl is None else float(position.pnl),
        # The fill before the venue's fee: what the levels are measured from, and what the
        # backtest reports as its entry price (`PositionRow.entry_price` is all-in).
        entry_price=float(position.entry_price) / (1 + fees.get(position.id, 0) / 10_000),
        stop=_maybe(position.stop_loss),
        target=_maybe(position.take_profit),
    )


def _maybe(price: Any) -> float | None:
    return None if price is None else float(price)


def _signals(cfg: Settings, universe: Universe, begin: int) -> Prepared:
    """The run's strategy on the candles it built, entries from the close that decides
    `begin`'s fills on."""
    from solbot.backtest.engine import prepare
    from solbot.strategy.registry import load_strategy

    strategy = load_strategy(cfg.strategy, cfg.strategy_params)
    return prepare(
        strategy,
        universe.series,
        trade_from=begin - cfg.timeframe.seconds,
        signal_series=universe.signal_series,
    )


def _backtest(
    cfg: Settings, user: UserRow, signals: Prepared, universe: Universe, cash: float, begin: int
) -> tuple[list[Trade], list[Refusal]]:
    """The user's backtest: their breakers and starting value, the run's exits and costs;
    its trades, and the entries its breakers refused."""
    import numpy as np

    from solbot.backtest.engine import kernel_settings
    from solbot.backtest.result import BacktestConfig
    from solbot.domain import BlockReason, ExitReason
    from solbot.execution.exits import levels_from_fill
    from solbot.services.roster import user_limits

    limits = user_limits(user, cfg.operator_limits())
    config = BacktestConfig(
        initial_cash=cash,
        quote=cfg.quote,
        fee_bps=cfg.fee_bps,
        slippage_bps=cfg.slippage_bps,
        price_impact=True,
        fill="next_open",  # what live does: it fills at the tick after the close
        risk=limits,
        exits=cfg.exit_rules(),
    )
    result = signals.simulate(config, universe.liquidity)
    run = kernel_settings(config, cfg.timeframe)
    t = result.trades
    out = []
    for i in np.flatnonzero(t.entry_time >= begin):
        done = t.reason[i] != ExitReason.END_OF_DATA
        k, price = int(t.token[i]), float(t.entry_price[i])
        # The levels the kernel set at the fill: the distances the strategy suggested at the
        # signal's close (the bar before a next-open fill), else the configured ones.
        signal_row = max(0, int(np.searchsorted(signals.index, t.entry_time[i])) - 1)
        stop_frac = float(signals.stops[signal_row, k])
        target_frac = float(signals.targets[signal_row, k])
        stop, target = levels_from_fill(
            price,
            run.default_stop if math.isnan(stop_frac) else stop_frac,
            run.default_target if math.isnan(target_frac) else target_frac,
        )
        out.append(
            Trade(
                int(t.entry_time[i]),
                result.tokens[k],
                int(t.exit_time[i]) if done else None,
                ExitReason(int(t.reason[i])).name.lower() if done else "open",
                float(t.pnl[i]) if done else None,
                entry_price=price,
                stop=None if math.isnan(stop) else stop,
                target=None if math.isnan(target) else target,
            )
        )
    refused = result.refusals
    kept_out = [
        Refusal(int(refused.time[i]), result.tokens[int(refused.token[i])],
                BlockReason(int(refused.reason[i])).label)
        for i in np.flatnonzero(refused.time >= begin)
    ]  # fmt: skip
    return out, kept_out


def _table(run: _UserRun) -> Table:
    table = Table(
        title=f"{run.user.username}: the run against a backtest of its candles "
        f"(from {run.cash:,.2f} {run.quote})",
        title_justify="left",
    )
    for name in ("entry (UTC)", "token", "live exit", "backtest exit", "verdict"):
        table.add_column(name)
    for row in run.rows:
        verdict = "[green]matched[/]" if row.matched else row.cause
        table.add_row(
            _when(row.entry_bar), row.trade.token, _exit(row.live), _exit(row.backtest), verdict
        )
    return table


def _exit(trade: Trade | None) -> str:
    if trade is None:
        return "—"
    if trade.exit_bar is None:
        return "open"
    pnl = "" if trade.pnl is None else f" {trade.pnl:+.2f}"
    return f"{_when(trade.exit_bar)} {trade.reason}{pnl}"


def _when(t: int) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%m-%d %H:%M")


def _from(start: int | None) -> str:
    return "" if start is None else f" from {_when(start)}"


def _document(runs: list[_UserRun]) -> dict[str, Any]:
    return {"users": [_user_document(run) for run in runs]}


def _user_document(run: _UserRun) -> dict[str, Any]:
    matched, explained, unexplained = summary(run.rows)
    return {
        "user": run.user.username,
        "starting_cash": f"{run.cash:.6f}",
        "matched": matched,
        "explained": explained,
        "not_explained": unexplained,
        "rows": [
            {
                "token": row.trade.token,
                "live": _trade_document(row.live),
                "backtest": _trade_document(row.backtest),
                "matched": row.matched,
                "cause": row.cause or None,
            }
            for row in run.rows
        ],
    }


def _trade_document(t: Trade | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {
        "entry": moment(float(t.entry_bar)),
        "exit": None if t.exit_bar is None else moment(float(t.exit_bar)),
        "reason": t.reason,
        "pnl": None if t.pnl is None else f"{t.pnl:.6f}",
        "entry_price": _price_text(t.entry_price),
        "stop": _price_text(t.stop),
        "target": _price_text(t.target),
    }


def _price_text(price: float | None) -> str | None:
    return None if price is None else f"{price:.10g}"
