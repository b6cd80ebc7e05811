"""Operator commands that act on users and their wallets (the seed's CLI tools): add, import,
export, pause, resume, set risk, set the performance fee, re-arm, withdraw. What only reads
(list-users, positions, trades) is in `cli/reports.py`.

Every command that needs a key reads the master key from `MASTER_ENCRYPTION_KEY` and checks it
against the database before changing anything. Private keys are printed only where that is the
command's purpose (`add-user` once, `export-key`), and never appear in an error.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer
from rich.console import Console
from rich.markup import escape

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.cli.reports import describe_limits
from solbot.errors import UserError
from solbot.private_files import create_private
from solbot.store.states import RiskTier, WithdrawalState

if TYPE_CHECKING:  # the rest is imported by the commands that use it (see cli/stores.py)
    from solbot.services.custody import Paused
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
    and prints the address and what to deposit: the quote asset (USDC or SOL) the trades need,
    and SOL for the network fees. Unless `--no-show-key`, it also prints the private key
    once, so the user can keep a copy: anyone who sees it controls the wallet.
    """
    from solbot.funding import deposits
    from solbot.services.roster import limits_of

    chosen = _tier(tier)
    cfg = settings()

    async def main() -> None:
        async with stores.custody(cfg) as service:
            user, key = await service.create_user(username, actor=ACTOR, tier=chosen)
        out = stores.console()
        out.print(f"[green]✓[/] created wallet for [bold]{user.username}[/]")
        out.print(f"address: [bold]{user.wallet_pubkey}[/]")
        out.print(f"risk tier: {user.risk_tier}")
        out.print("deposit to this address to start trading:")
        for deposit in deposits(cfg.quote, cfg.min_trade_cash_for(cfg.quote), limits_of(user)):
            out.print(f"  {deposit.line()}", markup=False)
        if cfg.network == "sim" and not cfg.rpc_url and not cfg.paper:
            out.print(
                f"  [dim]on the embedded sim, `solbot run` deposits {cfg.sim_user_usdc:g} USDC "
                f"and {cfg.sim_user_sol:g} SOL from the sim's faucet[/]"
            )
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


# ---------------------------------------------------------------------------------- quarantine
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
    from solbot.services.custody import RiskChange, parse_pct

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
        stores.console().print(f"[green]✓[/] {user.username}: {describe_limits(user)}")

    asyncio.run(main())


def set_fee(
    username: UsernameOption,
    pct: Annotated[
        str | None,
        typer.Option(metavar="PCT", help="Percent of realised profit above the high-water mark."),
    ] = None,
    default: Annotated[
        bool, typer.Option("--default", help="Follow SOLBOT_PERFORMANCE_FEE_PCT again.")
    ] = False,
) -> None:
    """Set a user's performance fee (0 <= PCT < 100; 0 is none), or `--default` to follow
    SOLBOT_PERFORMANCE_FEE_PCT. Audited; it applies to the days accrued from now on."""
    from decimal import Decimal, InvalidOperation

    if (pct is None) == (not default):
        raise UserError("give --pct PCT or --default")
    value = None
    if pct is not None:
        try:
            value = Decimal(pct)
        except InvalidOperation:
            raise UserError(f"--pct must be a number, got {pct!r}") from None

    async def main() -> None:
        async with stores.custody(settings()) as service:
            user = await service.set_fee(username, value, actor=ACTOR)
        shown = "the default" if user.fee_pct is None else f"{user.fee_pct}%"
        stores.console().print(f"[green]✓[/] {user.username}: performance fee {shown}")

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
    from solbot.services.roster import limits_of
    from solbot.services.withdrawals import (
        IDEMPOTENCY_SECONDS,
        LAMPORTS_PER_SOL,
        WithdrawalService,
        sol,
    )
    from solbot.transfer_recovery import Recovered, recover_transfers

    out = stores.console()

    def tell(item: Recovered) -> None:
        out.print(f"[yellow]↻[/] {item.username}: {item.text}", markup=True)

    async def main() -> None:
        cfg = settings()
        hook = crash_hook(cfg, "withdrawal", "fee_sweep")
        async with stores.custody(cfg) as service, stores.writable_chain(cfg) as (chain, clock):
            await recover_transfers(
                service.db, clock, chain, service, tell, on_step=hook, wall=stores.clock()
            )
            user = await service.user(username)
            reserve = int(limits_of(user).fee_reserve_sol * LAMPORTS_PER_SOL)
            withdrawals = WithdrawalService(
                service.db,
                clock,
                chain,
                service,
                fee_reserve_lamports=reserve,
                on_step=hook,
                wall=stores.clock(),
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
