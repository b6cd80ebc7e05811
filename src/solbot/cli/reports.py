"""Operator commands that only read: the users with their balances (`list-users`), their
positions and their trades. Nothing here needs the master key or changes anything.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, atoms, emit, exact, moment, units
from solbot.cli.tables import print_table, short
from solbot.store.states import Custody, PositionStatus

if TYPE_CHECKING:  # the rest is imported by the commands that use it (see cli/stores.py)
    from solbot.domain import TokenInfo
    from solbot.quarantine import Hold
    from solbot.services.custody import CustodyService
    from solbot.store.tables import PositionRow, TradeRow, UserRow


# ---------------------------------------------------------------------------------- list-users
@dataclass
class _UserLine:
    """One user's row of `list-users`, shared by the table and `--json`."""

    user: UserRow
    lamports: int | None  # None: no chain to read from
    cash_atoms: int | None  # the quote asset's; lamports when SOL is the quote
    positions: list[PositionRow]
    pnl_today: Decimal


def list_users(as_json: JsonOption = False) -> None:
    """A table of users: wallet, balances, value, open positions, today's PnL, tier, status.

    Addresses are whole when the terminal is wide enough (and always in a pipe or a file);
    `--json` prints everything as one JSON object."""
    from solders.pubkey import Pubkey
    from sqlalchemy import select

    from solbot.chain.port import holdings
    from solbot.store.positions import Positions
    from solbot.store.tables import TradeRow

    async def main() -> None:
        cfg = settings()
        async with stores.custody(cfg, need_key=False) as service:
            users = await service.users()
            async with service.db.session() as s:
                positions = await Positions(s, service.clock).all_open()
                day = datetime.fromtimestamp(service.clock.now(), UTC).replace(
                    hour=0, minute=0, second=0, microsecond=0
                )
                today = list(await s.scalars(select(TradeRow).where(TradeRow.timestamp >= day)))
        quote = cfg.token(cfg.quote)
        if not users:  # no balances to read: no chain needed
            if as_json:
                emit(_users_document([], "no users", quote, {}))
            else:
                stores.console().print(
                    "no users yet: `solbot add-user --username NAME` creates one"
                )
            return
        lines = []
        async with stores.chain_view(cfg) as (chain, note):
            for user in users:
                lamports = cash = None
                if chain is not None and not user.wallet_pubkey.startswith("unknown:"):
                    owner = Pubkey.from_string(user.wallet_pubkey)
                    lamports = await chain.balance(owner)
                    cash = lamports
                    if quote.symbol != "SOL":
                        cash = await holdings(chain, owner, Pubkey.from_string(quote.mint))
                pnl = sum((t.pnl or Decimal(0)) for t in today if t.user_id == user.id)
                held = [p for p in positions if p.user_id == user.id]
                lines.append(_UserLine(user, lamports, cash, held, Decimal(pnl)))
        decimals = {t.symbol: t.decimals for t in cfg.token_map().values()}
        if as_json:
            emit(_users_document(lines, note, quote, decimals))
            return
        print_table(
            stores.console(), lambda whole: _users_table(lines, note, quote, decimals, whole)
        )

    asyncio.run(main())


def _users_table(
    lines: list[_UserLine], note: str, quote: TokenInfo, decimals: dict[str, int], whole: bool
) -> Table:
    table = Table(title=f"users ({note})", title_justify="left")
    numeric = ("SOL", quote.symbol, "value", "open", "PnL today")
    for name in ("user", "address", "SOL", quote.symbol, "tokens", "value", "open", "PnL today"):
        table.add_column(name, justify="right" if name in numeric else "left")
    table.add_column("tier")
    table.add_column("status")
    for line in lines:
        user = line.user
        tokens = ", ".join(
            f"{p.token} {_compact(Decimal(p.quantity).scaleb(-decimals.get(p.token, 0)))}"
            for p in line.positions
        )
        sol = None if line.lamports is None else Decimal(line.lamports).scaleb(-9)
        cash = None if line.cash_atoms is None else Decimal(line.cash_atoms).scaleb(-quote.decimals)
        table.add_row(
            user.username,
            user.wallet_pubkey if whole else short(user.wallet_pubkey),
            _num(sol, 4),
            _num(cash, 2),
            tokens or "–",
            _num(user.portfolio_value, 2),
            str(len(line.positions)),
            f"{line.pnl_today:+.2f}",
            describe_limits(user),
            _status(user),
        )
    return table


def _users_document(
    lines: list[_UserLine], note: str, quote: TokenInfo, decimals: dict[str, int]
) -> dict[str, Any]:
    return {
        "quote": quote.symbol,
        "balances": note,
        "users": [
            {
                "id": line.user.id,
                "username": line.user.username,
                "address": line.user.wallet_pubkey,
                "custody": line.user.custody,
                "active": line.user.is_active,
                "paused_reason": line.user.paused_reason,
                "risk_tier": line.user.risk_tier,
                "max_position_size_pct": exact(line.user.max_position_size_pct),
                "max_daily_loss_pct": exact(line.user.max_daily_loss_pct),
                "sol": units(line.lamports, 9),
                "sol_lamports": atoms(line.lamports),
                "cash": units(line.cash_atoms, quote.decimals),
                "cash_atoms": atoms(line.cash_atoms),
                "portfolio_value": exact(line.user.portfolio_value),
                "open_positions": len(line.positions),
                "positions": [
                    {
                        "token": p.token,
                        "quantity": units(p.quantity, decimals.get(p.token, 0)),
                        "quantity_atoms": atoms(p.quantity),
                    }
                    for p in line.positions
                ],
                "pnl_today": exact(line.pnl_today),
            }
            for line in lines
        ],
    }


# ---------------------------------------------------------------------------------- positions
def positions(
    username: Annotated[
        str | None,
        typer.Option("--username", "-u", metavar="NAME", help="Only this user."),
    ] = None,
    closed: Annotated[bool, typer.Option("--closed", help="Closed positions instead.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Open positions (or, with --closed, the last closed ones): entry, size, stop, target,
    and whether their orders are backing off or quarantined (`solbot rearm` lifts that)."""
    from sqlalchemy import select

    from solbot.quarantine import Hold
    from solbot.store.holds import OrderHolds
    from solbot.store.tables import PositionRow

    async def main() -> None:
        user_id = None
        async with stores.custody(settings(), need_key=False) as service:
            names = await _names(service)
            stmt = select(PositionRow)
            if username is not None:
                user_id = (await service.user(username)).id
                stmt = stmt.where(PositionRow.user_id == user_id)
            status = PositionStatus.CLOSED if closed else PositionStatus.OPEN
            stmt = stmt.where(PositionRow.status == status.value)
            order = PositionRow.exit_time.desc() if closed else PositionRow.entry_time
            async with service.db.session() as s:
                rows = list(await s.scalars(stmt.order_by(order).limit(200)))
                holds = [Hold.of(h) for h in await OrderHolds(s, service.clock).all(user_id)]
            now = service.clock.now()
        cfg = settings()
        decimals = {t.symbol: t.decimals for t in cfg.token_map().values()}
        if as_json:
            quote = cfg.token(cfg.quote)
            emit(_positions_document(rows, holds, names, decimals, quote, closed))
            return
        table = Table(title=f"{'closed' if closed else 'open'} positions", title_justify="left")
        columns = ["user", "token", "quantity", "entry", "stop", "target", "entered (UTC)"]
        columns += ["exit", "PnL", "reason"] if closed else ["orders"]
        for name in columns:
            table.add_column(name)
        shown: set[tuple[str, str, str]] = set()
        for p in rows:
            cells = [
                names.get(p.user_id, p.user_id),
                p.token,
                f"{Decimal(p.quantity).scaleb(-decimals.get(p.token, 0)):,.4f}",
                f"{p.entry_price:.6g}",
                "–" if p.stop_loss is None else f"{p.stop_loss:.6g}",
                "–" if p.take_profit is None else f"{p.take_profit:.6g}",
                p.entry_time.strftime("%Y-%m-%d %H:%M"),
            ]
            if closed:
                cells += [
                    "–" if p.exit_price is None else f"{p.exit_price:.6g}",
                    "–" if p.pnl is None else f"{p.pnl:+.2f}",
                    p.exit_reason or "",
                ]
            else:
                hold = _held_by(holds, p.user_id, p.token)
                if hold is not None:
                    shown.add((hold.user_id, hold.token, hold.side))
                cells.append(_hold_text(hold, now))
            table.add_row(*cells)
        console = stores.console()
        console.print(table if rows else "no positions")
        if closed:
            return
        for hold in holds:  # entries, and a user's whole trading: not a position's row
            if (hold.user_id, hold.token, hold.side) not in shown:
                who = names.get(hold.user_id, hold.user_id)
                console.print(f"{who} {hold.what}: {_hold_text(hold, now)}", markup=False)

    asyncio.run(main())


def _positions_document(
    rows: list[PositionRow],
    holds: list[Hold],
    names: dict[str, str],
    decimals: dict[str, int],
    quote: TokenInfo,
    closed: bool,
) -> dict[str, Any]:
    def hold_state(hold: Hold | None) -> str:
        if hold is None:
            return "ok"
        return "quarantined" if hold.quarantined else "backing_off"

    positions = []
    for p in rows:
        places = decimals.get(p.token, 0)
        positions.append(
            {
                "id": p.id,
                "user": names.get(p.user_id, p.user_id),
                "user_id": p.user_id,
                "token": p.token,
                "mint": p.mint,
                "status": p.status,
                "quantity": units(p.quantity, places),
                "quantity_atoms": atoms(p.quantity),
                "cost": units(p.cost, quote.decimals),
                "cost_atoms": atoms(p.cost),
                "entry_price": exact(p.entry_price),
                "entry_time": moment(p.entry_time),
                "stop_loss": exact(p.stop_loss),
                "take_profit": exact(p.take_profit),
                "trailing_stop_pct": exact(p.trailing_stop_pct),
                "exit_price": exact(p.exit_price),
                "exit_time": moment(p.exit_time),
                "proceeds": units(p.proceeds, quote.decimals),
                "proceeds_atoms": atoms(p.proceeds),
                "pnl": exact(p.pnl),
                "exit_reason": p.exit_reason,
                "orders": "ok" if closed else hold_state(_held_by(holds, p.user_id, p.token)),
            }
        )
    return {
        "status": "closed" if closed else "open",
        "quote": quote.symbol,
        "positions": positions,
        "holds": [
            {
                "user": names.get(h.user_id, h.user_id),
                "user_id": h.user_id,
                "token": h.token,
                "side": h.side,
                "what": h.what,
                "state": hold_state(h),
                "failures": h.failures,
                "last_error": h.last_error,
                "first_failed_at": moment(h.first_failed_at),
                "retry_at": moment(h.retry_at),
                "quarantined_at": moment(h.quarantined_at),
                "position_id": h.position_id,
            }
            for h in holds
        ],
    }


def _held_by(holds: list[Hold], user_id: str, token: str) -> Hold | None:
    """The hold on a position's exits: the user's whole trading first, then the token's."""
    from solbot.quarantine import ANY

    for wanted in ((user_id, ANY, ANY), (user_id, token, "sell")):
        for hold in holds:
            if (hold.user_id, hold.token, hold.side) == wanted:
                return hold
    return None


def _hold_text(hold: Hold | None, now: float) -> str:
    """'ok', 'backing off: ...' or 'quarantined: ...' (with why), for `positions`."""
    if hold is None:
        return "ok"
    scope = " (all trading)" if hold.whole_user else ""
    if hold.quarantined:
        return f"quarantined{scope}: {hold.failures} failures; last: {hold.last_error}"
    wait = max(0.0, hold.retry_at - now)
    return (
        f"backing off{scope}: {hold.failures} failures, next try in {wait:.0f} s; "
        f"last: {hold.last_error}"
    )


def trades(
    username: Annotated[
        str | None,
        typer.Option("--username", "-u", metavar="NAME", help="Only this user."),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="How many days back.")] = 7,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Whole transaction signatures even on a narrow terminal (they wrap). A wide "
            "terminal, a pipe and --json show them whole anyway.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Fills of the last days, newest first: side, price, size, PnL, transaction."""
    from sqlalchemy import select

    from solbot.store.tables import TradeRow

    async def main() -> None:
        async with stores.custody(settings(), need_key=False) as service:
            names = await _names(service)
            since = datetime.fromtimestamp(service.clock.now(), UTC) - timedelta(days=days)
            stmt = select(TradeRow).where(TradeRow.timestamp >= since)
            if username is not None:
                stmt = stmt.where(TradeRow.user_id == (await service.user(username)).id)
            async with service.db.session() as s:
                rows = list(await s.scalars(stmt.order_by(TradeRow.timestamp.desc()).limit(500)))
        cfg = settings()
        decimals = {t.symbol: t.decimals for t in cfg.token_map().values()}
        quote = cfg.token(cfg.quote)
        if as_json:
            emit(_trades_document(rows, names, decimals, quote, days, since))
            return
        console = stores.console()
        if not rows:
            console.print(f"no trades in the last {days} days")
            return

        def build(whole: bool) -> Table:
            table = Table(title=f"trades, last {days} days", title_justify="left")
            for name in ("time (UTC)", "user", "side", "token", "quantity", "price"):
                table.add_column(name)
            for name in (quote.symbol, "PnL"):
                table.add_column(name, justify="right")
            table.add_column("transaction", overflow="fold", no_wrap=not full)
            for t in rows:
                table.add_row(
                    t.timestamp.strftime("%Y-%m-%d %H:%M"),
                    names.get(t.user_id, t.user_id),
                    t.side,
                    t.token,
                    f"{Decimal(t.quantity).scaleb(-decimals.get(t.token, 0)):,.4f}",
                    f"{t.price:.6g}",
                    f"{Decimal(t.quote_amount).scaleb(-quote.decimals):,.2f}",
                    "" if t.pnl is None else f"{t.pnl:+.2f}",
                    (t.signature if whole or full else short(t.signature)) if t.signature else "",
                )
            return table

        print_table(console, build)

    asyncio.run(main())


def _trades_document(
    rows: list[TradeRow],
    names: dict[str, str],
    decimals: dict[str, int],
    quote: TokenInfo,
    days: int,
    since: datetime,
) -> dict[str, Any]:
    return {
        "days": days,
        "since": moment(since),
        "trades": [
            {
                "id": t.id,
                "time": moment(t.timestamp),
                "user": names.get(t.user_id, t.user_id),
                "user_id": t.user_id,
                "side": t.side,
                "token": t.token,
                "quantity": units(t.quantity, decimals.get(t.token, 0)),
                "quantity_atoms": atoms(t.quantity),
                "price": exact(t.price),
                "quote": quote.symbol,
                "quote_amount": units(t.quote_amount, quote.decimals),
                "quote_amount_atoms": atoms(t.quote_amount),
                "fee_lamports": atoms(t.fee_lamports),
                "pnl": exact(t.pnl),
                "signature": t.signature,
                "order_id": t.order_id,
                "position_id": t.position_id,
            }
            for t in rows
        ],
    }


# ---------------------------------------------------------------------------------- helpers
async def _names(service: CustodyService) -> dict[str, str]:
    return {u.id: u.username for u in await service.users()}


def _compact(amount: Decimal) -> str:
    """12,345 → 12.3k, 4,500,000 → 4.5M: token amounts at a glance."""
    for size, suffix in ((Decimal(10**9), "B"), (Decimal(10**6), "M"), (Decimal(10**3), "k")):
        if amount >= size:
            return f"{amount / size:.1f}{suffix}"
    return f"{amount:.4g}"


def _num(value: Decimal | None, places: int) -> str:
    return "–" if value is None else f"{value:,.{places}f}"


def describe_limits(user: UserRow) -> str:
    extra = []
    if user.max_position_size_pct is not None:
        extra.append(f"position {user.max_position_size_pct}%")
    if user.max_daily_loss_pct is not None:
        extra.append(f"daily loss {user.max_daily_loss_pct}%")
    return user.risk_tier + (f" ({', '.join(extra)})" if extra else "")


def _status(user: UserRow) -> str:
    kind = "operator wallet" if user.custody == Custody.EXTERNAL.value else "vault"
    state = "active" if user.is_active else "paused"
    return f"{state} · {kind}"
