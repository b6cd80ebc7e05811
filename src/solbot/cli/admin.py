"""Operator commands for the installation itself: the master key, the schema, the audit log.

Each command imports what it works with (SQLAlchemy, Alembic, the custody service) when it
runs: `solbot` loads every command module to build its help, and each would otherwise make
every invocation pay for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.errors import UserError

if TYPE_CHECKING:
    from solbot.config import Settings
    from solbot.store import backup
    from solbot.wallet import audit

db_app = typer.Typer(help="The database: schema migrations.", no_args_is_help=True)
backup_app = typer.Typer(
    help=(
        "Backups of the whole database: a consistent snapshot in one file (sealed keys stay "
        "sealed; the master key is never in it), a drill that proves it restores, a restore."
    ),
    no_args_is_help=True,
)
audit_app = typer.Typer(
    help="The audit log of wallet operations (hash-chained).", no_args_is_help=True
)


def gen_master_key() -> None:
    """Print a fresh random master key (64 hex characters) for MASTER_ENCRYPTION_KEY.

    Keep it outside the data dir and outside backups of the database (a password manager, the
    deployment's secret store): the database alone is useless without it, and the key alone is
    useless without the database. Lose it and every wallet in the vault is lost.
    """
    from solbot.wallet.master import MasterKey

    typer.echo(MasterKey.generate().hex())


LOCK_LOOK_SECONDS = 10.0  # how often `solbot telegram` looks at its hold on the database


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Option(metavar="REV", help="Target revision (default: the newest).")
    ] = "head",
) -> None:
    """Apply the schema migrations this version of solbot needs, in one transaction."""
    from solbot.store import run_lock, schema

    async def main() -> tuple[str | None, str]:
        cfg = settings()
        url = cfg.database
        lock = await run_lock.acquire(
            url, what="solbot db upgrade", doing=": stop it before upgrading the schema"
        )
        try:
            before = await schema.current_revision(url)
            after = await schema.upgrade(url, revision, world=cfg.world, hints=cfg.world_hints())
        finally:
            await lock.release()
        return before, after

    before, after = asyncio.run(main())
    out = stores.console()
    if before == after:
        out.print(f"the database is already at {after}")
    else:
        out.print(f"[green]✓[/] database upgraded from {before or 'empty'} to {after}")


@db_app.command("adopt")
def db_adopt() -> None:
    """Say that the configured database, one from before worlds with no world recorded, is the
    configured world's (SOLBOT_NETWORK, and --paper or not). Refused for a database that already
    names its world or whose contents show another (the sim's marks, paper books)."""
    from solbot.store import schema

    cfg = settings()
    hints = cfg.world_hints()
    asyncio.run(schema.adopt(cfg.database, cfg.world, hints))
    stores.console().print(f"[green]✓[/] {hints.shown} now belongs to the {cfg.world} world")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit log and what anchors it: every row against its chained MAC and the MACed
    head (edited, deleted, inserted or reordered rows, a deleted tail), every vault user's
    identity and creation record, every withdrawal's request record, the master key's
    registration (an emptied or rolled-back log). One line per kind of problem, exit code 1
    if any."""
    from solbot.wallet import integrity, master

    async def main() -> tuple[int, list[audit.Problem]]:
        key = master.require()
        async with stores.database(settings()) as db, db.session() as s:
            return await integrity.report(s, key)

    count, problems = asyncio.run(main())
    out = stores.console()
    if not problems:
        out.print(
            f"[green]✓[/] audit log intact: {count} rows, chain and head verified; users and "
            "withdrawals agree with it"
        )
        return
    for problem in problems:
        out.print(f"[red]✗[/] {problem}")
    raise typer.Exit(code=1)


def rotate_master_key() -> None:
    """Re-seal every wallet under a new master key, in one transaction.

    Set the new key in `MASTER_ENCRYPTION_KEY` and the current one in
    `MASTER_ENCRYPTION_KEY_OLD`. Every vault wallet is re-sealed, the audit log is verified and
    re-chained, every identity re-MACed, and the database switches to the new key, all or
    nothing: if anything fails, everything stays under the old key and the command can simply
    be run again. A running `solbot run` stops signing for the vault's wallets at its next
    tick, with one alert: restart it with the new key.
    """
    from solbot.wallet import master

    async def main() -> int:
        old = master.require(master.ENV_OLD)
        async with stores.custody(settings()) as service:
            return await service.rotate(old, actor="cli")

    count = asyncio.run(main())
    stores.console().print(
        f"[green]✓[/] {count} wallet(s) re-sealed under the new master key; the audit log is "
        "re-chained. Keep the old key until you have a backup made under the new one."
    )


@backup_app.command("create")
def backup_create(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write it (a new file).")],
) -> None:
    """Write a consistent snapshot of the database to FILE (mode 0600), MACed under
    MASTER_ENCRYPTION_KEY so that any later edit to it is found."""
    from solbot import backups
    from solbot.wallet import master

    async def main() -> backup.BackupInfo:
        cfg = settings()
        return await backups.create(cfg, file, master.require(), stores.clock())

    info = asyncio.run(main())
    rows = sum(info.rows.values())
    stores.console().print(
        f"[green]✓[/] backup written to {file}: {rows} rows, {info.rows.get('users', 0)} "
        f"user(s), schema {info.revision}. Run `solbot backup verify {file}` to prove it restores."
    )


@backup_app.command("verify")
def backup_verify(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The backup to check.")],
) -> None:
    """Prove FILE whole: its MAC under MASTER_ENCRYPTION_KEY (any edit since it was made), then
    restored into a scratch database, every sealed key opening to the address stored with it,
    the audit log's chain and what anchors it. Exit code 1 if anything is wrong; the configured
    database is not touched."""
    from solbot import backups
    from solbot.store import backup
    from solbot.wallet import master

    async def main() -> tuple[backup.BackupInfo | None, list[str]]:
        document = backup.read(file)
        return await backups.drill(file, document, master.require(), stores.clock())

    info, problems = asyncio.run(main())
    out = stores.console()
    if problems or info is None:
        for problem in problems:
            out.print(f"[red]✗[/] {problem}", markup=True, highlight=False)
        raise typer.Exit(code=1)
    users = info.rows.get("users", 0)
    out.print(
        f"[green]✓[/] {file} restores: {sum(info.rows.values())} rows, schema {info.revision}, "
        f"made {info.created_at}, MAC verified; {users} user(s), every sealed key opens to its "
        "address; audit log intact"
    )


@backup_app.command("restore")
def backup_restore(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The backup to restore.")],
) -> None:
    """Load FILE into the configured database, which must be empty (a new SQLite file, or a new
    PostgreSQL database in DATABASE_URL): a restore never overwrites data. FILE is first proven
    whole as `backup verify` does (MAC, every sealed key, the audit log); anything wrong and
    nothing is restored. The restore is recorded in the audit log."""
    from solbot import backups
    from solbot.store import backup
    from solbot.wallet import master

    async def main() -> backup.BackupInfo:
        document = backup.read(file)
        key = master.require()
        cfg = settings()
        return await backups.restore(
            cfg.database, file, document, key, stores.clock(), actor="cli", world=cfg.world
        )

    info = asyncio.run(main())
    stores.console().print(
        f"[green]✓[/] restored {sum(info.rows.values())} rows ({info.rows.get('users', 0)} "
        f"user(s)) from a backup made {info.created_at}, every sealed key proven; the schema is "
        "current and the restore is in the audit log"
    )


def telegram() -> None:
    """Run only the Telegram bot (without the trading loop), until Ctrl-C.

    `solbot run` starts the bot by itself when TELEGRAM_BOT_TOKEN is set; this is for when no
    loop runs on the database: it moves money (withdrawals) and settles first what a dead
    process left in flight, so it holds the database's run lock (and on the embedded sim, the
    sim world) while it runs.
    """

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        cfg = settings()
        stores.log_file(cfg)  # the world's log, reopened on SIGHUP (logrotate)
        await serve_telegram(cfg, stop)

    asyncio.run(main())


async def serve_telegram(cfg: Settings, stop: asyncio.Event) -> None:
    """`solbot telegram` until `stop` is set. Before the bot answers anyone, the withdrawals
    and fee sweeps a previous process left in flight are settled; each user is told in their
    chat (and the operator on the console)."""
    from solbot.events import Event
    from solbot.faults import crash_hook
    from solbot.logs import use_bot_clock
    from solbot.telegram.bot import TelegramBot  # python-telegram-bot: only for this command
    from solbot.telegram.services import BotServices
    from solbot.transfer_recovery import Recovered, recover_transfers

    if cfg.telegram_bot_token is None:
        raise UserError("set TELEGRAM_BOT_TOKEN (from @BotFather) to run the Telegram bot")
    if not cfg.telegram_allowed_ids:
        raise UserError("TELEGRAM_ALLOWED_IDS is empty: name the friends' Telegram user ids")
    console = stores.console()
    async with (
        stores.custody(cfg, need_key=False) as service,
        stores.money_lock(cfg) as lock,
        stores.writable_chain(cfg, locked=lock) as (chain, clock),
    ):
        use_bot_clock(clock)  # log lines say the sim's time too
        services = BotServices(
            settings=cfg, db=service.db, clock=clock, custody=service, chain=chain
        )
        bot = TelegramBot(
            services,
            token=cfg.telegram_bot_token.get_secret_value(),
            api_url=cfg.telegram_api_url,
        )

        def tell(item: Recovered) -> None:
            console.print(f"[yellow]↻[/] {item.username}: {item.text}")
            event = Event(clock.now(), item.user_id, item.kind, item.text, item.username)
            bot.notifier.on_event(event)

        hook = crash_hook(cfg, "withdrawal", "fee_sweep")
        await recover_transfers(
            service.db, clock, chain, service, tell, on_step=hook, wall=services.wall
        )
        await bot.start()
        console.print(
            f"[green]✓[/] Telegram bot running for {len(cfg.telegram_allowed_ids)} "
            "allowed user(s); Ctrl-C stops it"
        )
        try:
            while not stop.is_set():  # the lock looked at now and then: it lives on a connection
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(LOCK_LOOK_SECONDS):
                        await stop.wait()
                if not stop.is_set():
                    await lock.still_held()  # another process took the database: stop
        finally:
            await bot.stop()
