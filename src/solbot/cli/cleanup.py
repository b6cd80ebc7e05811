"""`solbot cleanup`: close the token accounts users' wallets no longer use, giving their rent
back (see `solbot.chain.token_accounts`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, atoms, emit, units
from solbot.errors import UserError

if TYPE_CHECKING:
    from solbot.chain.port import Chain
    from solbot.chain.token_accounts import EmptyAccount
    from solbot.clock import Clock
    from solbot.config import Settings
    from solbot.execution.cleanup import Cleanup

SOL_DECIMALS = 9


def cleanup(
    username: Annotated[
        str | None,
        typer.Option(
            "--username", "-u", metavar="NAME", help="One user's wallet.", show_default=False
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every user whose wallet is in the vault.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be closed; send nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Close the empty token accounts of users' wallets, giving back their rent (about 0.002
    SOL each).

    Each token a wallet has traded leaves an account behind after the position is sold; the
    next trade of that token makes it again. Only accounts holding none of their token are
    closed, and the token program itself refuses to close one that holds any (should tokens
    arrive meanwhile, that close fails and they stay); a user with an order in flight is left
    for later. Signed by the vault (the master key is needed); on the embedded sim, not while
    `solbot run` owns the world.
    """
    if (username is None) == (not every):
        raise UserError("give -u NAME or --all")

    async def main() -> list[tuple[str, str, Cleanup]]:
        from solbot.execution.cleanup import AccountCloses
        from solbot.store.states import Custody
        from solbot.transfer_recovery import recover_transfers

        cfg = settings()
        tokens = list(cfg.token_map().values())
        done = []
        # A dry run only reads: beside a running bot too (no run lock, the world not written).
        opened = _read_only(cfg) if dry_run else stores.writable_chain(cfg)
        async with stores.custody(cfg) as service, opened as (chain, clock):
            if username is not None:
                users = [await service.user(username)]
            else:
                users = [u for u in await service.users() if u.custody == Custody.VAULT.value]
            closes = AccountCloses(service.db, clock, chain, service)
            if not dry_run:  # what an earlier run left in flight, first
                await recover_transfers(service.db, clock, chain, service, lambda _item: None)
            for user in users:
                signer = service.signer(await service.verified(user))
                result = await closes.close_empty(
                    user.id, signer, tokens, requested_by="cli", dry_run=dry_run
                )
                done.append((user.username, user.wallet_pubkey, result))
        return done

    done = asyncio.run(main())
    if as_json:
        wallets = [
            {
                "user": name,
                "wallet": wallet,
                "empty": [a.token.symbol for a in result.found],
                "waiting_for_an_order": result.waiting,
                "closed": [a.token.symbol for a in result.closed],
                "failed": {a.token.symbol: why for a, why in result.failed},
                "reclaimed": units(result.reclaimed, SOL_DECIMALS),
                "reclaimed_lamports": atoms(result.reclaimed),
                "signatures": result.signatures,
            }
            for name, wallet, result in done
        ]
        emit({"dry_run": dry_run, "wallets": wallets})
        return
    out = stores.console()
    for name, _wallet, result in done:
        if not result.found:
            out.print(f"{name}: no empty token accounts")
        elif result.waiting:
            out.print(
                f"{name}: {_symbols(result.found)} left open: an order is in flight; "
                "try again in a minute"
            )
        elif dry_run:
            out.print(f"{name}: would close {_symbols(result.found)}")
        if result.closed:
            back = units(result.reclaimed, SOL_DECIMALS)
            out.print(f"[green]✓[/] {name}: closed {_symbols(result.closed)}, {back} SOL back")
        for account, why in result.failed:
            out.print(f"[red]✗[/] {name}: {account.token.symbol} not closed: {why}")


def _symbols(accounts: Sequence[EmptyAccount]) -> str:
    return ", ".join(a.token.symbol for a in accounts)


@contextlib.asynccontextmanager
async def _read_only(cfg: Settings) -> AsyncIterator[tuple[Chain, Clock]]:
    async with stores.chain_view(cfg) as (chain, note):
        if chain is None:
            raise UserError(note)
        yield chain, stores.clock()
