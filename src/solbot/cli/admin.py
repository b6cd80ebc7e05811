"""Operator commands for the installation itself: the master key, the schema, the audit log."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from sqlalchemy import func, select

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.store import schema
from solbot.store.tables import AuditRow
from solbot.wallet import audit, keycheck, master

db_app = typer.Typer(help="The database: schema migrations.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit log of wallet operations (hash-chained).", no_args_is_help=True
)


def gen_master_key() -> None:
    """Print a fresh random master key (64 hex characters) for MASTER_ENCRYPTION_KEY.

    Keep it outside the data dir and outside backups of the database (a password manager, the
    deployment's secret store): the database alone is useless without it, and the key alone is
    useless without the database. Lose it and every wallet in the vault is lost.
    """
    key = master.MasterKey.generate()
    typer.echo(key.hex())


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Option(metavar="REV", help="Target revision (default: the newest).")
    ] = "head",
) -> None:
    """Apply the schema migrations this version of solbot needs, in one transaction."""

    async def main() -> tuple[str | None, str]:
        url = settings().database
        before = await schema.current_revision(url)
        after = await schema.upgrade(url, revision)
        return before, after

    before, after = asyncio.run(main())
    out = stores.console()
    if before == after:
        out.print(f"the database is already at {after}")
    else:
        out.print(f"[green]✓[/] database upgraded from {before or 'empty'} to {after}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every row of the audit log against its chained MAC: reports edited, deleted,
    inserted or reordered rows (exit code 1 if any)."""

    async def main() -> tuple[int, list[audit.Problem]]:
        key = master.require()
        async with stores.database(settings()) as db, db.session() as s:
            current = await keycheck.current_key_id(s)
            if current is not None:
                await keycheck.check(s, key)
            count = int(await s.scalar(select(func.count()).select_from(AuditRow)) or 0)
            return count, await audit.verify(s, [key])

    count, problems = asyncio.run(main())
    out = stores.console()
    if not problems:
        out.print(f"[green]✓[/] audit log intact: {count} rows, chain and head verified")
        return
    for problem in problems:
        out.print(f"[red]✗[/] {problem}")
    raise typer.Exit(code=1)
