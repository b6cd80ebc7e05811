"""Entry point of the `solbot` command.

Every mistake the operator can make ends in one line on stderr and exit code 2: typer/click
usage errors and our `UserError` alike. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from solbot import __version__, legacy_layout
from solbot.cli import admin as admin_cmd
from solbot.cli import backtest as backtest_cmd
from solbot.cli import cleanup as cleanup_cmd
from solbot.cli import data as data_cmd
from solbot.cli import fees as fees_cmd
from solbot.cli import optimize as optimize_cmd
from solbot.cli import reconcile_run as reconcile_cmd
from solbot.cli import reports as reports_cmd
from solbot.cli import run as run_cmd
from solbot.cli import sim as sim_cmd
from solbot.cli import strategies as strategies_cmd
from solbot.cli import tokens as tokens_cmd
from solbot.cli import users as users_cmd
from solbot.cli import web as web_cmd
from solbot.cli import webhook as webhook_cmd
from solbot.cli.context import set_settings
from solbot.config_loading import load_settings
from solbot.errors import InterruptError, UserError, path_problem

app = typer.Typer(
    name="solbot",
    help=(
        "solbot: a self-hosted swing-trading bot for Solana tokens.\n\n"
        "Simulated by default: nothing here touches real money unless you opt in explicitly."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(data_cmd.app, name="data")
app.add_typer(tokens_cmd.app, name="tokens")
app.command(name="backtest")(backtest_cmd.backtest)
app.command(name="optimize")(optimize_cmd.optimize)
app.command(name="strategies")(strategies_cmd.strategies)
app.command(name="run")(run_cmd.run)
app.add_typer(sim_cmd.app, name="sim")
app.add_typer(web_cmd.app, name="web")
app.add_typer(webhook_cmd.app, name="webhook")
# Users and custody (the seed's CLI tools).
app.command(name="add-user")(users_cmd.add_user)
app.command(name="import-user")(users_cmd.import_user)
app.command(name="list-users")(reports_cmd.list_users)
app.command(name="export-key")(users_cmd.export_key)
app.command(name="pause")(users_cmd.pause)
app.command(name="resume")(users_cmd.resume)
app.command(name="set-risk")(users_cmd.set_risk)
app.command(name="set-fee")(users_cmd.set_fee)
app.add_typer(fees_cmd.app, name="fees")
app.command(name="rearm")(users_cmd.rearm)
app.command(name="positions")(reports_cmd.positions)
app.command(name="trades")(reports_cmd.trades)
app.command(name="reconcile")(reconcile_cmd.reconcile)
app.command(name="withdraw")(users_cmd.withdraw)
app.command(name="cleanup")(cleanup_cmd.cleanup)
# The installation.
app.command(name="gen-master-key")(admin_cmd.gen_master_key)
app.command(name="rotate-master-key")(admin_cmd.rotate_master_key)
app.add_typer(admin_cmd.backup_app, name="backup")
app.command(name="telegram")(admin_cmd.telegram)
app.add_typer(admin_cmd.db_app, name="db")
app.add_typer(admin_cmd.audit_app, name="audit")

_err = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"solbot {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where solbot keeps candles, reports, the database, the sim's state and the log "
            "(default: $SOLBOT_DATA_DIR or ./data).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Load settings once per invocation; subcommands read them from the context."""
    overrides = {"data_dir": data_dir} if data_dir is not None else {}
    cfg = load_settings(**overrides)
    set_settings(cfg)
    for note in legacy_layout.migrate(cfg.data_dir):  # once, on a data dir from before worlds
        _err.print(f"[yellow]note:[/] {escape(note)}", markup=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


def fail(message: str, code: int = 2) -> None:
    """Print one error line and exit."""
    _err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI, turning usage mistakes into one line and exit code 2."""
    try:
        # Without standalone mode click returns a command's `typer.Exit` code instead of raising.
        code = app(args=argv, standalone_mode=False)
    except NoArgsIsHelpError:
        sys.exit(0)  # the help text is already printed
    except UsageError as exc:
        fail(exc.format_message().replace("\n", " "))
    except typer.TyperException as exc:
        fail(exc.format_message().replace("\n", " "))
    except UserError as exc:
        fail(_first_line(exc))
    except InterruptError as exc:
        fail(str(exc), code=exc.exit_code)
    except OSError as exc:
        # A file or folder the operator must fix (permissions, a full or read-only disk),
        # wherever solbot met it; any other OSError is a bug and keeps its traceback.
        problem = path_problem(exc)
        if problem is None:
            raise
        fail(str(problem))
    except typer.Abort:
        fail("aborted", code=INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", code=INTERRUPTED)
    if code == INTERRUPTED:
        # Typer turns a command's KeyboardInterrupt into this code, returned silently without
        # standalone mode; no command returns it of its own accord.
        fail("interrupted", code=INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
