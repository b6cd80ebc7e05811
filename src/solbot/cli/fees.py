"""`solbot fees`: what each user's performance fee has come to (accrued, paid to the fee wallet,
in flight, still owed), and `solbot fees sweep`: pay what is owed now, as the running loop does
after each day (`solbot.fee_sweeps`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, emit, exact, units
from solbot.cli.tables import print_table
from solbot.errors import UserError

if TYPE_CHECKING:
    from solbot.fee_sweeps import Owed
    from solbot.fees import FeeState
    from solbot.store.tables import UserRow

ACTOR = "cli"

app = typer.Typer(
    help="The operator's performance fees: `solbot fees` reports, `solbot fees sweep` pays."
)


@dataclass
class _FeeLine:
    user: UserRow
    state: FeeState
    owed: Owed


@app.callback(invoke_without_command=True)
def report(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Each vault user's fee: percent, high-water mark, accrued, paid, in flight, owed."""
    if ctx.invoked_subcommand is not None:
        return
    from solbot.fee_sweeps import owed
    from solbot.fees import FeeBook
    from solbot.store.states import Custody

    async def main() -> None:
        cfg = settings()
        quote = cfg.token(cfg.quote)
        async with stores.custody(cfg, need_key=False) as service:
            book = FeeBook(service.db, service.clock, cfg.performance_fee_pct)
            lines = []
            for user in await service.users():
                if user.custody != Custody.VAULT.value:
                    continue
                state = await book.state(user)
                async with service.db.session() as s:
                    lines.append(_FeeLine(user, state, await owed(s, user.id, quote.decimals)))
        wallet = cfg.fee_wallet
        if as_json:
            emit(
                {
                    "quote": quote.symbol,
                    "fee_wallet": wallet,
                    "users": [_line_json(line, quote.decimals) for line in lines],
                }
            )
            return
        out = stores.console()
        if not lines:
            out.print("no vault users yet")
            return

        def build(_whole: bool) -> Table:
            table = Table(title=f"Performance fees ({quote.symbol})", title_justify="left")
            for name in ("user", "fee", "high-water", "accrued", "paid", "in flight", "owed"):
                table.add_column(name, justify="left" if name == "user" else "right")
            table.add_column("through")
            for line in lines:
                o, d = line.owed, quote.decimals
                table.add_row(
                    line.user.username,
                    f"{line.state.pct}%",
                    _amount(line.state.high_water),
                    _amount(line.state.accrued),
                    _amount(Decimal(o.paid).scaleb(-d)),
                    _amount(Decimal(o.in_flight).scaleb(-d)),
                    _amount(Decimal(o.due).scaleb(-d)),
                    line.state.through or "-",
                )
            return table

        print_table(out, build)
        if wallet:
            out.print(f"paid to {wallet}; `solbot fees sweep` pays what is owed now")
        else:
            out.print(
                "[yellow]SOLBOT_FEE_WALLET is not set: fees accrue but are not paid[/]",
                markup=True,
            )

    asyncio.run(main())


def _amount(value: Decimal) -> str:
    """An amount for people: exact, without trailing zeros."""
    return exact(value.normalize()) or "0"


def _line_json(line: _FeeLine, decimals: int) -> dict[str, object]:
    o = line.owed
    return {
        "username": line.user.username,
        "fee_pct": exact(line.state.pct),
        "high_water": exact(line.state.high_water),
        "accrued": exact(line.state.accrued),
        "accrued_through": line.state.through,
        "paid": units(o.paid, decimals),
        "in_flight": units(o.in_flight, decimals),
        "owed": units(o.due, decimals),
        "owed_atoms": str(o.due),
    }


@app.command("sweep")
def sweep(
    username: Annotated[
        str | None,
        typer.Option("--username", "-u", help="Only this user (default: every vault user)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="After a restore: you compared `solbot fees` with the fee wallet's history; "
            "payments go on (audited).",
        ),
    ] = False,
) -> None:
    """Pay each user's owed fee to SOLBOT_FEE_WALLET now, in the quote asset: a real transfer,
    journaled before it is sent, audited, at most what the wallet can spare. Transfers a
    previous process left in flight are settled first; a day's fee is paid once however often
    this runs. After a backup is restored, payments wait for `--resume` (a fee paid after the
    backup was made is not in it and would be paid again)."""
    from solbot.faults import crash_hook
    from solbot.fee_sweeps import (
        UNREACHED,
        FeeSweeps,
        amount_text,
        fee_wallet_address,
        require_not_held,
    )
    from solbot.transfer_recovery import Recovered, recover_transfers

    out = stores.console()

    def tell(item: Recovered) -> None:
        out.print(f"[yellow]↻[/] {item.username}: {item.text}", markup=True)

    async def main() -> int:
        cfg = settings()
        if cfg.paper:
            raise UserError("paper trading pays no fees: its books are not wallets")
        fee_wallet_address(cfg.fee_wallet)  # a setting to fix: said before anything opens
        hook = crash_hook(cfg, "withdrawal", "fee_sweep")
        quote = cfg.token(cfg.quote)
        async with stores.custody(cfg) as service:
            # Held after a restore: said before the chain is opened, and nothing is changed.
            if not resume:
                await require_not_held(service.db)
            async with stores.writable_chain(cfg) as (chain, clock):
                await recover_transfers(
                    service.db, clock, chain, service, tell, on_step=hook, wall=stores.clock()
                )
                sweeps = FeeSweeps(
                    service.db,
                    clock,
                    chain,
                    service,
                    quote=quote,
                    fee_wallet=cfg.fee_wallet,
                    minimum=Decimal(str(cfg.fee_sweep_minimum_for(quote.symbol))),
                    on_step=hook,
                    wall=stores.clock(),
                )
                if resume and await sweeps.resume(ACTOR):
                    out.print("fee payments go on after the restore (recorded in the audit log)")
                results = await sweeps.sweep_all(actor=ACTOR, only=username)
        failed = 0
        for result in results:
            row = result.row
            if row is None and (result.skipped or "").startswith(UNREACHED):
                failed += 1
                out.print(
                    f"[red]✗[/] {result.username}: {result.skipped}; a payment may be in "
                    "flight: run `solbot fees sweep` again to settle it"
                )
                continue
            if row is None:
                out.print(f"· {result.username}: {result.skipped}")
                continue
            amount = amount_text(row.atoms, row.decimals, row.symbol)
            if result.confirmed:
                out.print(f"[green]✓[/] {result.username}: paid {amount} to {row.destination}")
                out.print(f"  transaction: {row.signature}")
            else:
                failed += 1
                out.print(f"[red]✗[/] {result.username}: {amount} {row.state}: {row.error}")
        return 1 if failed else 0

    code = asyncio.run(main())
    if code:
        raise typer.Exit(code=code)
