"""Operator commands for users and their wallets (the seed's CLI tools): add, import, list,
export, pause, resume, set risk, re-arm, and their positions and trades.

Every command that needs a key reads the master key from `MASTER_ENCRYPTION_KEY` and checks it
against the database before changing anything. Private keys are printed only where that is the
command's purpose (`add-user` once, `export-key`), and never appear in an error.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.errors import UserError
from solbot.private_files import create_private
from solbot.store.states import Custody, PositionStatus, RiskTier, WithdrawalState

if TYPE_CHECKING:  # the rest is imported by the commands that use it (see cli/stores.py)
    from solbot.custody import CustodyService, Paused
    from solbot.quarantine import Hold
    from solbot.store.tables import UserRow
    from solbot.wallet.vault import RevealedKey

ACTOR = "cli"

UsernameOption = Annotated[
    str,
    typer.Option(
        "--username",
        "-u",
        metavar="NAME",
        help="The user: 3-32 characters of a-z, 0-9 and _.",
        show_default=False,
    ),
]


def _tier(value: str) -> RiskTier:
    try:
        return RiskTier(value)
    except ValueError:
        raise UserError(
            f"unknown risk tier {value!r}: use conservative, moderate or aggressive"
        ) from None


# ---------------------------------------------------------------------------------- wallets
def add_user(
    username: UsernameOption,
    tier: Annotated[
        str, typer.Option(metavar="TIER", help="conservative, moderate or aggressive.")
    ] = "moderate",
    show_key: Annotated[
        bool,
        typer.Option(
            "--show-key/--no-show-key",
            help="Print the new wallet's private key once (the only time it is shown).",
        ),
    ] = True,
) -> None:
    """Create a user with a new dedicated wallet.

    The bot generates the keypair, seals it with AES-256-GCM under the master key, stores it,
    and prints the address to deposit to. Unless `--no-show-key`, it also prints the private key
    once, so the user can keep a copy: anyone who sees it controls the wallet.
    """
    chosen = _tier(tier)

    async def main() -> None:
        async with stores.custody(settings()) as service:
            user, key = await service.create_user(username, actor=ACTOR, tier=chosen)
        out = stores.console()
        out.print(f"[green]✓[/] created wallet for [bold]{user.username}[/]")
        out.print(f"address: [bold]{user.wallet_pubkey}[/]")
        out.print(f"risk tier: {user.risk_tier}; deposit SOL to this address to start trading")
        if show_key:
            out.print(
                "[bold red]private key (shown once; anyone who has it controls the wallet, "
                "store it offline):[/]"
            )
            out.print(key.reveal(), markup=False)
        out.print("[dim]the key is sealed (AES-256-GCM) in the database[/]")

    asyncio.run(main())


def import_user(
    username: UsernameOption,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            metavar="FILE",
            help="A file holding the key: base58 or a Solana CLI JSON array. Without it, the "
            "key is asked for at a hidden prompt.",
            show_default=False,
        ),
    ] = None,
    tier: Annotated[
        str, typer.Option(metavar="TIER", help="conservative, moderate or aggressive.")
    ] = "moderate",
) -> None:
    """Add a user whose wallet already exists (its private key is sealed like a generated one).

    The key is never taken as an argument (shell history and `ps` would keep it): give a file
    or type it at the hidden prompt.
    """
    chosen = _tier(tier)
    if key_file is not None:
        try:
            secret = key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot read {key_file}: {exc.strerror}") from None
    elif sys.stdin.isatty():
        secret = typer.prompt("private key (base58 or JSON array)", hide_input=True)
    else:
        secret = sys.stdin.read()

    async def main() -> None:
        async with stores.custody(settings()) as service:
            user = await service.import_user(username, secret, actor=ACTOR, tier=chosen)
        out = stores.console()
        out.print(f"[green]✓[/] imported the wallet of [bold]{user.username}[/]")
        out.print(f"address: [bold]{user.wallet_pubkey}[/]")

    asyncio.run(main())


def export_key(
    username: UsernameOption,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="base58 (what Phantom and Solflare import) or json (the Solana CLI key file).",
        ),
    ] = "base58",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Write the key to FILE (created with mode 0600; an existing file is refused) "
            "instead of printing it. The safer way.",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help="Print the key to a terminal without asking (for scripts that know why).",
        ),
    ] = False,
) -> None:
    """Export a user's private key, to import the wallet elsewhere. The export is audited.

    Printed to a terminal only after a warning and a confirmation (unless --yes); --out FILE
    writes it to a new 0600 file and never prints it. Exports count against the decryption
    limit like signatures; a refused or failed export is audited too.
    """
    if out is None and sys.stdout.isatty() and not yes:
        _confirm_printing(username)
    target = _new_key_file(out) if out is not None else None

    async def main() -> RevealedKey:
        async with stores.custody(settings()) as service:
            return await service.export_key(username, fmt, actor=ACTOR)

    try:
        key = asyncio.run(main())
    except BaseException:
        if target is not None and out is not None:
            target.close()
            out.unlink(missing_ok=True)  # the empty file made for it
        raise
    console = stores.console()
    if target is None:
        console.print(key.reveal(), markup=False)
        return
    with target:
        target.write(key.reveal().encode() + b"\n")
    console.print(f"[green]✓[/] key written to {escape(str(out))} (mode 0600)")


def _confirm_printing(username: str) -> None:
    """Warn before a private key goes to a terminal (scrollback, screen sharing, a recording
    all keep it) and ask; suggest `--out`."""
    err = Console(stderr=True, highlight=False)
    err.print(
        f"[bold red]This prints the private key of {escape(username)} on this terminal.[/] "
        "Anyone who sees it, in the scrollback, a screen share or a recording, controls the "
        "wallet. Safer: `solbot export-key --out FILE` writes it to a new file only you can "
        "read (mode 0600) and never prints it."
    )
    if not typer.confirm("Print the private key here?", default=False, err=True):
        err.print("nothing exported")
        raise typer.Exit(code=1)


def _new_key_file(path: Path) -> BinaryIO:
    """The key file, created before the key is opened: a bad path costs no export."""
    try:
        return create_private(path)
    except FileExistsError:
        raise UserError(
            f"{path} exists; refusing to overwrite a file (choose another path)"
        ) from None
    except OSError as exc:
        raise UserError(f"cannot create {path}: {exc.strerror}") from None


# ---------------------------------------------------------------------------------- listing
def list_users() -> None:
    """A table of users: wallet, balances, value, open positions, today's PnL, tier, status."""
    from solders.pubkey import Pubkey
    from sqlalchemy import select

    from solbot.chain.port import holdings
    from solbot.store.repos import Positions
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
        decimals = {t.symbol: t.decimals for t in cfg.token_map().values()}
        console = stores.console()
        if not users:
            console.print("no users yet: `solbot add-user --username NAME` creates one")
            return
        async with stores.chain_view(cfg) as (chain, note):
            table = Table(title=f"users ({note})", title_justify="left")
            for name in (
                "user",
                "address",
                "SOL",
                quote.symbol,
                "tokens",
                "value",
                "open",
                "PnL today",
                "tier",
                "status",
            ):
                table.add_column(
                    name,
                    justify="right"
                    if name in ("SOL", quote.symbol, "value", "open", "PnL today")
                    else "left",
                )
            for user in users:
                sol = cash = None
                if chain is not None and not user.wallet_pubkey.startswith("unknown:"):
                    owner = Pubkey.from_string(user.wallet_pubkey)
                    sol = Decimal(await chain.balance(owner)).scaleb(-9)
                    if quote.symbol != "SOL":
                        atoms = await holdings(chain, owner, Pubkey.from_string(quote.mint))
                        cash = Decimal(atoms).scaleb(-quote.decimals)
                pnl = sum((t.pnl or Decimal(0)) for t in today if t.user_id == user.id)
                held = [p for p in positions if p.user_id == user.id]
                tokens = ", ".join(
                    f"{p.token} {_compact(Decimal(p.quantity).scaleb(-decimals.get(p.token, 0)))}"
                    for p in held
                )
                table.add_row(
                    user.username,
                    _short(user.wallet_pubkey),
                    _num(sol, 4),
                    _num(cash if quote.symbol != "SOL" else sol, 2),
                    tokens or "–",
                    _num(user.portfolio_value, 2),
                    str(sum(1 for p in positions if p.user_id == user.id)),
                    f"{pnl:+.2f}",
                    _limits(user),
                    _status(user),
                )
        console.print(table)

    asyncio.run(main())


def positions(
    username: Annotated[
        str | None,
        typer.Option("--username", "-u", metavar="NAME", help="Only this user."),
    ] = None,
    closed: Annotated[bool, typer.Option("--closed", help="Closed positions instead.")] = False,
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


def rearm(
    username: UsernameOption,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            "-t",
            metavar="SYMBOL",
            help="Only this token's orders; without it, all of the user's (their whole "
            "trading too, held when their key could not sign).",
        ),
    ] = None,
) -> None:
    """Let quarantined orders go again: a position whose exits kept failing, a token's entries,
    or a user's whole trading. Their failure count starts over; a running bot tries again at
    its next tick. Needs the master key: re-arming is audited."""
    symbol = None
    if token is not None:
        symbol = token.strip().upper()
        known = settings().token_map()
        if symbol not in known:
            raise UserError(f"unknown token {token!r}: use one of {', '.join(sorted(known))}")

    async def main() -> None:
        async with stores.custody(settings()) as service:
            cleared = await service.rearm(username, symbol, actor=ACTOR)
        what = f"{username} {symbol}" if symbol else username
        out = stores.console()
        if not cleared:
            out.print(f"nothing to re-arm for {what}: no quarantine or back-off", markup=False)
            return
        lifted = ", ".join(
            f"{'all trading' if h.token == '*' else h.token + ' ' + h.side} "
            f"({h.failures} failures{', quarantined' if h.quarantined_at else ''})"
            for h in cleared
        )
        out.print(f"[green]✓[/] re-armed {what}: {lifted}")
        out.print("[dim]a running bot tries again at its next tick[/]")

    asyncio.run(main())


def trades(
    username: Annotated[
        str | None,
        typer.Option("--username", "-u", metavar="NAME", help="Only this user."),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="How many days back.")] = 7,
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
        table = Table(title=f"trades, last {days} days", title_justify="left")
        for name in (
            "time (UTC)",
            "user",
            "side",
            "token",
            "quantity",
            "price",
            quote.symbol,
            "PnL",
            "transaction",
        ):
            table.add_column(name)
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
                _short(t.signature) if t.signature else "",
            )
        stores.console().print(table if rows else f"no trades in the last {days} days")

    asyncio.run(main())


# ---------------------------------------------------------------------------------- settings
def pause(
    username: UsernameOption,
    reason: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Why (kept with the user and audited).")
    ] = None,
) -> None:
    """Stop opening positions for a user (open ones are still managed and exited).

    For emergencies: works whatever the state of the keys (no master key, a wrong one, a
    damaged wallet, signing paused), since it touches none. It is audited when the master key
    is this database's, and written to the log otherwise. A running bot picks it up within a
    tick.
    """
    cfg = settings()

    async def main() -> Paused:
        async with stores.custody(cfg, need_key=False, emergency=True) as service:
            return await service.pause(username, actor=ACTOR, reason=reason)

    from solbot.logs import log_to_file

    log_to_file(cfg.log_path, delay=True)  # where a pause that cannot be audited is recorded
    done = asyncio.run(main())
    out = stores.console()
    if not done.changed:
        out.print(f"{username} was already paused")
        return
    out.print(f"[green]✓[/] {username} paused")
    if done.unaudited is not None:
        out.print(
            f"[yellow]not audited[/] ({escape(done.unaudited)}); the pause is recorded in "
            f"{escape(str(cfg.log_path))}"
        )


def resume(username: UsernameOption) -> None:
    """Let a paused user trade again (needs the master key: resuming is audited)."""

    async def main() -> None:
        async with stores.custody(settings()) as service:
            changed = await service.set_active(username, True, actor=ACTOR)
        stores.console().print(
            f"[green]✓[/] {username} resumed" if changed else f"{username} was not paused"
        )

    asyncio.run(main())


def set_risk(
    username: UsernameOption,
    tier: Annotated[
        str | None,
        typer.Option(
            metavar="TIER",
            help="conservative, moderate or aggressive (drops earlier single-limit overrides).",
        ),
    ] = None,
    max_position_pct: Annotated[
        str | None,
        typer.Option(metavar="PCT", help="Override: a position's share of portfolio value."),
    ] = None,
    max_daily_loss_pct: Annotated[
        str | None,
        typer.Option(metavar="PCT", help="Override: the day's loss that stops new entries."),
    ] = None,
) -> None:
    """Change a user's risk tier, or override single limits of it (percent, 0 < PCT <= 100)."""
    from solbot.custody import RiskChange, parse_pct

    change = RiskChange(
        tier=_tier(tier) if tier is not None else None,
        max_position_size_pct=parse_pct(max_position_pct, "--max-position-pct")
        if max_position_pct is not None
        else None,
        max_daily_loss_pct=parse_pct(max_daily_loss_pct, "--max-daily-loss-pct")
        if max_daily_loss_pct is not None
        else None,
    )

    async def main() -> None:
        async with stores.custody(settings()) as service:
            user = await service.set_risk(username, change, actor=ACTOR)
        stores.console().print(f"[green]✓[/] {user.username}: {_limits(user)}")

    asyncio.run(main())


# ---------------------------------------------------------------------------------- money out
def withdraw(
    username: UsernameOption,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="ADDRESS",
            help="The destination wallet (base58, exactly as copied).",
            show_default=False,
        ),
    ],
    amount: Annotated[
        str,
        typer.Option("--amount", metavar="SOL", help="SOL to send, e.g. 0.5.", show_default=False),
    ],
) -> None:
    """Send SOL from a user's wallet to an address: a real transfer, signed by the vault.

    The destination must be a plain wallet (or a new address), checked on chain: a mint, a
    token account or a program is refused. The amount may be at most the balance less the fee
    reserve (0.05 SOL), the network fee and any withdrawal still in flight. The withdrawal is
    journaled before it is sent (a crash never sends it twice) and audited. Withdrawals a
    previous run left in flight are settled first. The same request again (same user, address
    and amount) while the first is in flight or within 10 minutes of it confirming returns
    the first instead of sending again.
    """
    from solbot.faults import crash_hook
    from solbot.roster import limits_of
    from solbot.withdrawals import (
        IDEMPOTENCY_SECONDS,
        LAMPORTS_PER_SOL,
        Recovered,
        WithdrawalService,
        recover_withdrawals,
        sol,
    )

    out = stores.console()

    def tell(item: Recovered) -> None:
        out.print(f"[yellow]↻[/] {item.username}: {item.text}", markup=True)

    async def main() -> None:
        cfg = settings()
        hook = crash_hook(cfg, "withdrawal")
        async with stores.custody(cfg) as service, stores.writable_chain(cfg) as (chain, clock):
            await recover_withdrawals(service.db, clock, chain, service, tell, on_step=hook)
            user = await service.user(username)
            reserve = int(limits_of(user).fee_reserve_sol * LAMPORTS_PER_SOL)
            withdrawals = WithdrawalService(
                service.db, clock, chain, service, fee_reserve_lamports=reserve, on_step=hook
            )
            done = await withdrawals.request(username, to, amount, actor=ACTOR)
        row = done.row
        confirmed = row.state == WithdrawalState.CONFIRMED.value
        if done.repeated:
            minutes = f"{IDEMPOTENCY_SECONDS / 60:g}"
            out.print(
                f"an identical withdrawal {row.id} is {row.state}; not sent again (the same "
                f"request while one is in flight or within {minutes} minutes of it is that one)"
            )
        if confirmed:
            out.print(
                f"[green]✓[/] sent {sol(row.lamports)} SOL from {username} to {row.destination}"
            )
            out.print(f"transaction: {row.signature}")
            return
        if not done.repeated:
            out.print(f"[red]✗[/] withdrawal {row.state}: {row.error}")
        raise typer.Exit(code=1)

    asyncio.run(main())


# ---------------------------------------------------------------------------------- helpers
async def _names(service: CustodyService) -> dict[str, str]:
    return {u.id: u.username for u in await service.users()}


def _short(text: str) -> str:
    return text if len(text) <= 12 else f"{text[:4]}…{text[-4:]}"


def _compact(amount: Decimal) -> str:
    """12,345 → 12.3k, 4,500,000 → 4.5M: token amounts at a glance."""
    for size, suffix in ((Decimal(10**9), "B"), (Decimal(10**6), "M"), (Decimal(10**3), "k")):
        if amount >= size:
            return f"{amount / size:.1f}{suffix}"
    return f"{amount:.4g}"


def _num(value: Decimal | None, places: int) -> str:
    return "–" if value is None else f"{value:,.{places}f}"


def _limits(user: UserRow) -> str:
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
