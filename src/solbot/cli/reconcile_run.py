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
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, emit, moment
from solbot.cli.options import parse_date
from solbot.cli.tables import print_table
from solbot.errors import UserError

if TYPE_CHECKING:
    from solbot.backtest.run_diff import Refusal, Row, Trade
    from solbot.config import Settings
    from solbot.custody import CustodyService
    from solbot.domain import CandleSeries
    from solbot.store.tables import UserRow


@dataclass
class _UserRun:
    """One user's part of the run, and the rows of the comparison."""

    user: UserRow
    cash: float  # the backtest's starting cash: the user's value at the start
    rows: list[Row]


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
    if cfg.quote != "USDC":
        raise UserError("reconcile compares USDC-quoted runs for now; set SOLBOT_QUOTE=USDC")
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
        matched, explained, unexplained = _summary(run.rows)
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
        first = min((p.entry_time.timestamp() for p in positions), default=None)
        if first is None:
            return []
        # The first bar whose entries are compared: its fills were decided at the close before.
        begin = cfg.timeframe.floor(int(first if start is None else start))
        series = _candles(cfg)
        from solbot.backtest.run_diff import compare

        runs = []
        for user in users:
            cash = await _starting_value(service, user, begin)
            if cash <= 0:
                continue  # a wallet the run never had money in
            mine = [p for p in positions if p.user_id == user.id]
            live = [_live(cfg, p) for p in mine if p.entry_time.timestamp() >= begin]
            tested = _backtest(cfg, user, series, cash, begin)
            if live or tested:  # a user who traded, or would have
                refusals = await _refusals(service, cfg, user, begin)
                runs.append(_UserRun(user, cash, compare(live, tested, refusals, _bar(cfg))))
        return runs


def _bar(cfg: Settings) -> int:
    return cfg.timeframe.seconds


def _candles(cfg: Settings) -> dict[str, CandleSeries]:
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
    return series


async def _starting_value(service: CustodyService, user: UserRow, begin: int) -> float:
    """The user's value at the first equity point from `begin` (their current value without
    one)."""
    from solbot.store.repos import Equity

    async with service.db.session() as s:
        curve = await Equity(s, service.clock).curve(user.id, begin - 3600)
    return float(curve[0][1]) if curve else float(user.portfolio_value)


async def _refusals(
    service: CustodyService, cfg: Settings, user: UserRow, begin: int
) -> list[Refusal]:
    """Entry orders that failed, and the breakers' refusals the run logged."""
    from sqlalchemy import select

    from solbot.backtest.run_diff import Refusal
    from solbot.store.states import OrderState, Purpose
    from solbot.store.tables import OrderRow

    bar = cfg.timeframe
    async with service.db.session() as s:
        failed = await s.scalars(
            select(OrderRow).where(
                OrderRow.user_id == user.id,
                OrderRow.purpose == Purpose.ENTRY.value,
                OrderRow.state == OrderState.FAILED.value,
            )
        )
        refusals = [
            Refusal(
                bar.floor(int(o.created_at.timestamp())),
                o.token,
                f"the live order failed: {o.error or 'no reason recorded'}",
            )
            for o in failed
            if o.created_at.timestamp() >= begin
        ]
    refusals.extend(_logged_refusals(cfg.log_path, user.username, bar.floor))
    if not user.is_active and not any(r.why == "the user was paused" for r in refusals):
        # paused before the run began (no pause in its log): no entry since
        refusals.append(Refusal(begin, "*", "the user was paused", until=sys.maxsize))
    return refusals


def _logged_refusals(log: Path, username: str, floor: Any) -> list[Refusal]:
    """What the run's log says kept the user's entries from happening: the breakers' refusals
    (`blocked NAME: TOKEN, TOKEN: why`, `Engine._plan_entries`) and pauses (`paused NAME: ...`
    until `resumed NAME: ...`, `Roster`)."""
    from solbot.backtest.run_diff import Refusal

    if not log.exists():
        return []
    heads = {kind: f"{kind} {username}: " for kind in ("blocked", "paused", "resumed")}
    found: list[Refusal] = []
    paused_at: int | None = None
    with log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            kind = next((k for k, head in heads.items() if head in line), None)
            if kind is None:
                continue
            try:
                record = json.loads(line)
                at = floor(int(datetime.fromisoformat(record["bot_time"]).timestamp()))
                text = record["message"][len(heads[kind]) :]
            except (ValueError, KeyError, TypeError):
                continue  # a torn or foreign line: not evidence
            if kind == "paused":
                paused_at = at if paused_at is None else paused_at
            elif kind == "resumed" and paused_at is not None:
                found.append(Refusal(paused_at, "*", "the user was paused", until=at))
                paused_at = None
            elif kind == "blocked" and ": " in text:
                tokens, why = text.split(": ", 1)
                found += [Refusal(at, t, f"refused live: {why}") for t in tokens.split(", ")]
    if paused_at is not None:
        found.append(Refusal(paused_at, "*", "the user was paused", until=sys.maxsize))
    return found


def _live(cfg: Settings, position: Any) -> Trade:
    from solbot.backtest.run_diff import Trade

    floor = cfg.timeframe.floor
    exit_bar = None if position.exit_time is None else floor(int(position.exit_time.timestamp()))
    return Trade(
        floor(int(position.entry_time.timestamp())),
        position.token,
        exit_bar,
        position.exit_reason or "open",
        None if position.pnl is None else float(position.pnl),
    )


def _backtest(
    cfg: Settings, user: UserRow, series: dict[str, CandleSeries], cash: float, begin: int
) -> list[Trade]:
    import numpy as np

    from solbot.backtest.engine import backtest_strategy
    from solbot.backtest.result import BacktestConfig
    from solbot.backtest.run_diff import Trade
    from solbot.domain import ExitReason
    from solbot.roster import user_limits
    from solbot.strategy.registry import load_strategy

    limits = user_limits(user, cfg.operator_limits())
    config = BacktestConfig(
        initial_cash=cash,
        fee_bps=cfg.fee_bps,
        slippage_bps=cfg.slippage_bps,
        price_impact=True,
        fill="next_open",  # what live does: it fills at the tick after the close
        risk=limits,
        exits=cfg.exit_rules(),
    )
    tokens = cfg.token_map()
    liquidity = {s: tokens[s].liquidity_usd for s in series}
    strategy = load_strategy(cfg.strategy, cfg.strategy_params)
    signals_from = begin - cfg.timeframe.seconds  # the close that decides `begin`'s fills
    result = backtest_strategy(strategy, series, config, liquidity, trade_from=signals_from)
    t = result.trades
    out = []
    for i in np.flatnonzero(t.entry_time >= begin):
        done = t.reason[i] != ExitReason.END_OF_DATA
        out.append(
            Trade(
                int(t.entry_time[i]),
                result.tokens[int(t.token[i])],
                int(t.exit_time[i]) if done else None,
                ExitReason(int(t.reason[i])).name.lower() if done else "open",
                float(t.pnl[i]) if done else None,
            )
        )
    return out


def _summary(rows: list[Row]) -> tuple[int, int, int]:
    from solbot.backtest.run_diff import summary

    return summary(rows)


def _table(run: _UserRun) -> Table:
    table = Table(
        title=f"{run.user.username}: the run against a backtest of its candles "
        f"(from {run.cash:,.2f} USDC)",
        title_justify="left",
    )
    for name in ("entry (UTC)", "token", "live exit", "backtest exit", "verdict"):
        table.add_column(name)
    for row in run.rows:
        trade = row.live or row.backtest
        assert trade is not None
        verdict = "[green]matched[/]" if row.matched else row.cause
        table.add_row(
            _when(row.entry_bar), trade.token, _exit(row.live), _exit(row.backtest), verdict
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
    def trade(t: Trade | None) -> dict[str, Any] | None:
        if t is None:
            return None
        return {
            "entry": moment(float(t.entry_bar)),
            "exit": None if t.exit_bar is None else moment(float(t.exit_bar)),
            "reason": t.reason,
            "pnl": None if t.pnl is None else f"{t.pnl:.6f}",
        }

    return {
        "users": [
            {
                "user": run.user.username,
                "starting_cash": f"{run.cash:.6f}",
                "matched": _summary(run.rows)[0],
                "explained": _summary(run.rows)[1],
                "not_explained": _summary(run.rows)[2],
                "rows": [
                    {
                        "token": (row.live or row.backtest).token,  # type: ignore[union-attr]
                        "live": trade(row.live),
                        "backtest": trade(row.backtest),
                        "matched": row.matched,
                        "cause": row.cause or None,
                    }
                    for row in run.rows
                ],
            }
            for run in runs
        ]
    }
