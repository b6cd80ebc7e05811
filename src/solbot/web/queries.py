"""The dashboard's reads: what the database (and, inside `solbot run`, the loop) says about
the bot and a user, shaped as `web.models`. Reads only; the rules they show (breakers, the
entry switch) are the ones the loop follows, called where they are written."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import numpy as np
from sqlalchemy import Float, Select, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.accounts import saved_gates
from solbot.errors import UserError
from solbot.group_admin import entries_stopped
from solbot.risk import RiskGate
from solbot.services.roster import limits_of
from solbot.store.balances import Equity as EquityRepo
from solbot.store.positions import Positions
from solbot.store.states import Custody, PositionStatus
from solbot.store.tables import PositionRow, TradeRow, UserRow
from solbot.store.types import utc_from_timestamp
from solbot.store.users import SETTINGS_COLUMNS
from solbot.web import models
from solbot.web.credentials import Principal
from solbot.web.services import WebServices

SortKey = Literal["timestamp", "token", "side", "price", "pnl", "quote"]


def mode_of(web: WebServices) -> Literal["sim", "paper", "live"]:
    world = web.settings.world
    if world.paper:
        return "paper"
    return "sim" if world.network == "sim" else "live"


def _decimals(web: WebServices) -> dict[str, int]:
    return {t.symbol: t.decimals for t in web.settings.token_map().values()}


async def status(web: WebServices, who: Principal) -> models.Status:
    cfg = web.settings
    async with web.db.session(read_only=True) as s:
        stopped = await entries_stopped(s)
        stmt = _STATE_COLUMNS.order_by(UserRow.created_at, UserRow.username)
        if who.is_operator:
            stmt = stmt.where(UserRow.custody == Custody.VAULT.value)
        else:
            stmt = stmt.where(UserRow.id == who.user_id)
        users = list(await s.execute(stmt))
        states = await user_states(web, s, users)  # type: ignore[arg-type]
    return models.Status(
        world=cfg.world.name,
        network=cfg.world.network,
        mode=mode_of(web),
        quote=cfg.quote,
        tokens=[symbol for symbol in cfg.trade_tokens if symbol != cfg.quote],
        entries_stopped=stopped,
        loop=await web.loop.status(),
        users=states,
    )


# The columns a user's state needs: not the whole row (sealed keys, MACs) for every user.
_STATE_COLUMNS = select(*SETTINGS_COLUMNS, UserRow.portfolio_value)


async def user_states(
    web: WebServices, s: AsyncSession, users: Sequence[UserRow]
) -> list[models.UserState]:
    """Each user's trading state now: active or paused, the breaker holding their entries
    (from the breakers' memory the loop keeps, read with the loop's own rule), and the PnL
    realised since midnight UTC on the trading clock."""
    if not users:
        return []
    ids = [u.id for u in users]
    now = web.clock.now()
    midnight = utc_from_timestamp(now - now % 86_400)
    today: dict[str, Decimal] = {}
    realised = select(TradeRow.user_id, TradeRow.pnl).where(
        TradeRow.user_id.in_(ids), TradeRow.timestamp >= midnight, TradeRow.pnl.is_not(None)
    )
    for user_id, pnl in await s.execute(realised):
        today[user_id] = today.get(user_id, Decimal(0)) + pnl
    memory = await saved_gates(s, ids)
    counts = dict(
        (
            await s.execute(
                select(PositionRow.user_id, func.count())
                .where(PositionRow.user_id.in_(ids), PositionRow.status == PositionStatus.OPEN)
                .group_by(PositionRow.user_id)
            )
        ).all()
    )
    out = []
    for user in users:
        breaker = None
        state = memory.get(user.id)
        if state is not None:
            gate = RiskGate(limits_of(user), 0.0, now)
            gate.restore(state)
            holding = gate.holding(now)
            if holding:
                breaker = models.Breaker(
                    reason=holding.name.lower(), text=gate.describe(holding, now)
                )
        out.append(
            models.UserState(
                username=user.username,
                active=user.is_active,
                paused_reason=user.paused_reason,
                risk_tier=user.risk_tier,
                breaker=breaker,
                portfolio_value=user.portfolio_value,
                today_pnl=today.get(user.id, Decimal(0)),
                open_positions=counts.get(user.id, 0),
            )
        )
    return out


async def user_details(web: WebServices, users: Sequence[UserRow]) -> list[models.UserDetail]:
    """Each user's state and identity, in one transaction for any number of users."""
    async with web.db.session(read_only=True) as s:
        states = await user_states(web, s, users)
    return [
        models.UserDetail(
            **state.model_dump(),
            wallet=user.wallet_pubkey,
            custody=user.custody,
            created_at=user.created_at,
        )
        for user, state in zip(users, states, strict=True)
    ]


async def positions(web: WebServices, user: UserRow) -> list[models.Position]:
    loop = await web.loop.status()
    async with web.db.session(read_only=True) as s:
        rows = await Positions(s, web.clock).all_open(user.id)
    return position_models(web, rows, loop)


def position_models(
    web: WebServices, rows: Sequence[PositionRow], loop: models.LoopStatus | None
) -> list[models.Position]:
    """Open positions, each with the running loop's last price of its token."""
    decimals = _decimals(web)
    prices = loop.prices if loop is not None else {}
    return [
        models.Position(
            token=p.token,
            mint=p.mint,
            quantity_atoms=p.quantity,
            quantity=Decimal(p.quantity).scaleb(-decimals.get(p.token, 0)),
            cost_atoms=p.cost,
            entry_price=p.entry_price,
            entry_time=p.entry_time,
            stop_loss=p.stop_loss,
            take_profit=p.take_profit,
            trailing_stop_pct=p.trailing_stop_pct,
            price_now=prices.get(p.token),
        )
        for p in rows
    ]


async def balances(web: WebServices, user: UserRow) -> models.Balances:
    """The quote asset at the loop's last mark and the open positions' tokens, from the
    database (the loop's chain, the embedded sim's above all, is another process's)."""
    async with web.db.session(read_only=True) as s:
        rows = await Positions(s, web.clock).all_open(user.id)
    return balances_model(web, user, rows)


def balances_model(web: WebServices, user: UserRow, rows: Sequence[PositionRow]) -> models.Balances:
    tokens = web.settings.token_map()
    quote = tokens[web.settings.quote]
    held: dict[tuple[str, str], int] = {}
    for p in rows:
        held[(p.token, p.mint)] = held.get((p.token, p.mint), 0) + p.quantity

    def line(symbol: str, mint: str, atoms: int) -> models.Holding:
        decimals = tokens[symbol].decimals if symbol in tokens else 0
        return models.Holding(
            symbol=symbol, mint=mint, atoms=atoms, units=Decimal(atoms).scaleb(-decimals)
        )

    cash = user.cash_atoms
    return models.Balances(
        quote=quote.symbol,
        as_of=user.marked_at,
        cash=None if cash is None else line(quote.symbol, quote.mint, cash),
        tokens=[line(symbol, mint, atoms) for (symbol, mint), atoms in sorted(held.items())],
        value=user.portfolio_value,
    )


async def overview(web: WebServices, user: UserRow, days: float) -> models.Overview:
    """What a user's overview shows, in one answer and one transaction: a page load is one
    request, not three."""
    loop = await web.loop.status()
    async with web.db.session(read_only=True) as s:
        (state,) = await user_states(web, s, [user])
        rows = await Positions(s, web.clock).all_open(user.id)
        curve = await EquityRepo(s, web.clock).curve(user.id, since_days(web, days))
    return models.Overview(
        user=state,
        balances=balances_model(web, user, rows),
        positions=position_models(web, rows, loop),
        equity=equity_model(web, curve),
    )


@dataclass(frozen=True)
class TradeFilter:
    token: str | None = None
    side: Literal["buy", "sell"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    result: Literal["win", "loss"] | None = None  # closing trades with a profit, or a loss
    sort: SortKey = "timestamp"
    descending: bool = True

    def apply(self, stmt: Select[Any], dialect: str) -> Select[Any]:
        if self.token:
            stmt = stmt.where(TradeRow.token == self.token.upper())
        if self.side:
            stmt = stmt.where(TradeRow.side == self.side)
        if self.since is not None:
            stmt = stmt.where(TradeRow.timestamp >= self.since)
        if self.until is not None:
            stmt = stmt.where(TradeRow.timestamp < self.until)
        if self.result is not None:
            pnl = _numeric(TradeRow.pnl, dialect)
            stmt = stmt.where(pnl > 0 if self.result == "win" else pnl < 0)
        return stmt

    def order(self, stmt: Select[Any], dialect: str) -> Select[Any]:
        column: Any = {
            "timestamp": TradeRow.timestamp,
            "token": TradeRow.token,
            "side": TradeRow.side,
            "price": _numeric(TradeRow.price, dialect),
            "pnl": _numeric(TradeRow.pnl, dialect),
            "quote": TradeRow.quote_amount,  # zero-padded text on SQLite: orders right
        }[self.sort]
        first = column.desc() if self.descending else column.asc()
        tie = TradeRow.timestamp.desc() if self.descending else TradeRow.timestamp.asc()
        return stmt.order_by(first.nulls_last(), tie, TradeRow.id)


def _numeric(column: Any, dialect: str) -> Any:
    """A decimal column as something SQL can compare: PostgreSQL's NUMERIC is; SQLite keeps the
    exact text (`store.types`), compared here through its float value. Only for ordering and a
    sign, never for an amount anyone reads."""
    return column if dialect == "postgresql" else cast(column, Float)


async def trades(
    web: WebServices, user: UserRow, wanted: TradeFilter, offset: int, limit: int
) -> models.TradePage:
    dialect = web.db.dialect
    decimals = _decimals(web)
    base = wanted.apply(select(TradeRow).where(TradeRow.user_id == user.id), dialect)
    async with web.db.session(read_only=True) as s:
        total = await s.scalar(select(func.count()).select_from(base.subquery()))
        rows = list(await s.scalars(wanted.order(base, dialect).offset(offset).limit(limit)))
    return models.TradePage(
        total=total or 0,
        offset=offset,
        limit=limit,
        trades=[_trade(t, decimals, web.settings.quote) for t in rows],
    )


CSV_IN_MEMORY = 1 << 20  # bytes of an export kept in memory; beyond, a private temporary file
CSV_CHUNK = 1 << 16


async def trades_csv(web: WebServices, user: UserRow, wanted: TradeFilter) -> Iterator[bytes]:
    """Every trade matching the filter, as CSV (a header first), one snapshot of them. The
    rows are read a thousand at a time and written out as they come, so an export of a
    hundred thousand trades holds a few megabytes, not every row; and the read transaction
    ends before the first byte is sent: a slow download holds no snapshot open (on SQLite
    that would keep the log from being checkpointed)."""
    dialect = web.db.dialect
    decimals = _decimals(web)
    stmt = wanted.order(
        wanted.apply(select(TradeRow).where(TradeRow.user_id == user.id), dialect), dialect
    )
    fields = list(models.Trade.model_fields)
    # A file beyond the limit (0600, unlinked); closed by `chunks` when the answer ends.
    spool = tempfile.SpooledTemporaryFile(max_size=CSV_IN_MEMORY)  # noqa: SIM115
    try:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(fields)
        async with web.db.session(read_only=True) as s:
            rows = await s.stream_scalars(stmt.execution_options(yield_per=1000))
            async for row in rows:
                trade = _trade(row, decimals, web.settings.quote).model_dump(mode="json")
                writer.writerow(["" if trade[f] is None else trade[f] for f in fields])
        text.detach()  # the spool stays open for the answer
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := spool.read(CSV_CHUNK):
                yield chunk
        finally:
            spool.close()

    return chunks()


def _trade(t: TradeRow, decimals: dict[str, int], quote: str) -> models.Trade:
    return models.Trade(
        id=t.id,
        timestamp=t.timestamp,
        token=t.token,
        side=t.side,  # type: ignore[arg-type]
        price=t.price,
        quantity_atoms=t.quantity,
        quantity=Decimal(t.quantity).scaleb(-decimals.get(t.token, 0)),
        quote_atoms=t.quote_amount,
        quote_amount=Decimal(t.quote_amount).scaleb(-decimals[quote]),
        fee_lamports=t.fee_lamports,
        pnl=t.pnl,
        signature=t.signature,
    )


async def equity(web: WebServices, user: UserRow, since: float | None) -> models.Equity:
    async with web.db.session(read_only=True) as s:
        curve = await EquityRepo(s, web.clock).curve(user.id, since)
    return equity_model(web, curve)


def equity_model(web: WebServices, curve: Sequence[tuple[datetime, Decimal]]) -> models.Equity:
    return models.Equity(
        quote=web.settings.quote,
        points=[models.EquityPoint(at=at, value=value) for at, value in curve],
    )


def since_days(web: WebServices, days: float | None) -> float | None:
    return None if days is None else web.clock.now() - days * 86_400


USD_QUOTES = {"USDC", "USDT"}


async def chart(web: WebServices, user: UserRow, token: str, days: float) -> models.Chart:
    """A token's candles as the loop built them in this world (`built_candles_dir`), with the
    user's fills over the same span. Candles are in USD: a fill is drawn at its own price when
    the quote is a dollar, else on its bar's close (its price, in the quote, is in the hover)."""
    from solbot.market.store import CandleStore

    cfg = web.settings
    symbol = token.upper()
    if symbol not in cfg.token_map() or symbol == cfg.quote:
        raise UserError(f"{symbol} is not a token this bot trades")
    now = web.clock.now()
    start = int(now - days * 86_400)
    series = CandleStore(cfg.built_candles_dir()).load(symbol, cfg.timeframe, start=start)
    async with web.db.session(read_only=True) as s:
        rows = list(
            await s.scalars(
                select(TradeRow)
                .where(
                    TradeRow.user_id == user.id,
                    TradeRow.token == symbol,
                    TradeRow.timestamp >= utc_from_timestamp(start),
                )
                .order_by(TradeRow.timestamp)
            )
        )
    times = series.open_time
    candles = [
        models.Candle(
            t=utc_from_timestamp(int(times[i])),
            o=float(series.open[i]),
            h=float(series.high[i]),
            low=float(series.low[i]),
            c=float(series.close[i]),
        )
        for i in range(len(series))
    ]
    fills = []
    for t in rows:
        y = float(t.price)
        if cfg.quote not in USD_QUOTES and len(series):
            bar = max(0, int(np.searchsorted(times, t.timestamp.timestamp(), side="right")) - 1)
            y = float(series.close[bar])
        fills.append(
            models.Fill(at=t.timestamp, side=t.side, price=t.price, y=y, pnl=t.pnl)  # type: ignore[arg-type]
        )
    return models.Chart(
        token=symbol, timeframe=cfg.timeframe.value, quote=cfg.quote, candles=candles, fills=fills
    )
