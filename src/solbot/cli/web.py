"""`solbot web`: the dashboard and its API on 127.0.0.1 (beside the bot, reading the same
database), and `solbot web token ...`: the operator's API tokens."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, emit, moment
from solbot.cli.tables import print_rows
from solbot.errors import UserError

if TYPE_CHECKING:
    from solbot.clock import Clock
    from solbot.config import Settings
    from solbot.web.services import WebServices

app = typer.Typer(
    help="The dashboard and its REST API (read-only by default; no keys, no withdrawals).",
    invoke_without_command=True,
)
token_app = typer.Typer(
    help="The operator's API tokens: bearer tokens for scripts, and the dashboard's sign-in.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")
sessions_app = typer.Typer(help="Browser sessions: who is signed in, and ending them.")
app.add_typer(sessions_app, name="sessions")

CLI_ACTOR = "cli"


@app.callback()
def web(
    ctx: typer.Context,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port (default $SOLBOT_WEB_PORT, 8780)."),
    ] = None,
) -> None:
    """Serve the dashboard and its API until Ctrl-C, on SOLBOT_WEB_HOST (127.0.0.1).

    Friends sign in with the one-time link Telegram's /web sends; the operator with a token
    (`solbot web token create NAME`). Run beside `solbot run`, it reads the same database
    (`solbot run --web` serves it inside the bot, with the loop's live state)."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = settings()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stores.log_file(cfg)
        await serve_dashboard(cfg, stop, port if port is not None else cfg.web_port)

    asyncio.run(main())


Announce = Callable[[str, "WebServices"], Awaitable[None]]


async def serve_dashboard(
    cfg: Settings, stop: asyncio.Event, port: int, announce: Announce | None = None
) -> None:
    """The dashboard until `stop` is set (`solbot web`, and the process `solbot run --web`
    starts); `announce` is told its address once it listens (by default, the console)."""
    from solbot.web.exposure import exposure_problem
    from solbot.web.services import WebServices
    from solbot.web.serving import serve_dashboard_app

    problem = exposure_problem(cfg) or cfg.telegram_login_problem  # nothing opened yet
    if problem is not None:
        raise UserError(problem)
    async with stores.custody(cfg, need_key=False) as custody:
        services = WebServices(cfg, custody, trading_clock(cfg))
        served = await serve_dashboard_app(services, port)
        try:
            await (announce or _tell_console)(served.url, services)
            await stop.wait()
        finally:
            await served.stop()


async def _tell_console(url: str, services: WebServices) -> None:
    console = stores.console()
    console.print(f"dashboard on {url}  (API: {url}/api/v1/openapi.json)")
    if not [t for t in await services.credentials.tokens() if t.revoked_at is None]:
        console.print("[yellow]no operator token yet:[/] `solbot web token create NAME` makes one")
    console.print("Ctrl-C stops.")


def trading_clock(cfg: Settings) -> Clock:
    """The clock breakers are read on until a running loop's heartbeat gives its own: on the
    embedded sim, from where its saved world stopped."""
    from solbot.clock import RunningFrom, WallClock

    if cfg.network == "sim" and not cfg.rpc_url:
        from solbot.sim.network import SimNetwork

        saved = SimNetwork.saved_time(cfg.sim_state_path)
        if saved is not None:
            return RunningFrom(saved)
    return WallClock()


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for (laptop, grafana, ...).")],
    as_json: JsonOption = False,
) -> None:
    """Make a token (shown once: only its digest is kept). Audited; needs the master key."""

    async def main() -> str:
        from solbot.clock import WallClock
        from solbot.web.credentials import Credentials

        async with stores.custody(settings()) as custody:
            _row, secret = await Credentials(custody, WallClock()).create_token(
                name, actor=CLI_ACTOR
            )
            return secret

    secret = asyncio.run(main())
    if as_json:
        emit({"name": name, "token": secret})
        return
    typer.echo(f"token {name!r} (shown once: keep it in a password manager):")
    typer.echo(secret)


@token_app.command("list")
def token_list(as_json: JsonOption = False) -> None:
    """Every token: when made, last used, revoked."""

    async def main() -> list[dict[str, object]]:
        from solbot.clock import WallClock
        from solbot.web.credentials import Credentials

        async with stores.custody(settings(), need_key=False) as custody:
            rows = await Credentials(custody, WallClock()).tokens()
        return [
            {
                "name": r.name,
                "created_at": moment(r.created_at),
                "created_by": r.created_by,
                "last_used_at": moment(r.last_used_at),
                "revoked_at": moment(r.revoked_at),
            }
            for r in rows
        ]

    tokens = asyncio.run(main())
    if as_json:
        emit({"tokens": tokens})
        return
    rows = [
        [
            str(t["name"]),
            _short(t["created_at"]),
            _short(t["last_used_at"]) or "never",
            _short(t["revoked_at"]) or "",
        ]
        for t in tokens
    ]
    print_rows(
        stores.console(),
        ("name", "created", "last used", "revoked"),
        rows,
        "no tokens yet: `solbot web token create NAME` makes one",
    )


def _short(value: object) -> str:
    return "" if value is None else str(value)[:16].replace("T", " ")


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token at once, and end the browser sessions opened with it. Audited."""

    async def main() -> bool:
        from solbot.clock import WallClock
        from solbot.web.credentials import Credentials

        async with stores.custody(settings()) as custody:
            return await Credentials(custody, WallClock()).revoke_token(name, actor=CLI_ACTOR)

    changed = asyncio.run(main())
    typer.echo(f"token {name!r} revoked" if changed else f"token {name!r} was revoked already")


@sessions_app.command("list")
def sessions_list(as_json: JsonOption = False) -> None:
    """Who is signed in now (browser sessions not ended nor expired)."""

    async def main() -> list[dict[str, object]]:
        from solbot.clock import WallClock
        from solbot.web.credentials import Credentials

        async with stores.custody(settings(), need_key=False) as custody:
            rows = await Credentials(custody, WallClock()).live_sessions()
        return [
            {"who": who, "since": moment(r.created_at), "until": moment(r.expires_at)}
            for r, who in rows
        ]

    rows = asyncio.run(main())
    if as_json:
        emit({"sessions": rows})
        return
    lines = [[str(r["who"]), _short(r["since"]), _short(r["until"])] for r in rows]
    print_rows(stores.console(), ("who", "since", "until"), lines, "nobody is signed in")


@sessions_app.command("end")
def sessions_end(
    username: Annotated[str, typer.Argument(help="The user whose sessions end.")],
) -> None:
    """End a user's browser sessions and spend their unused sign-in links (audited)."""

    async def main() -> int:
        from solbot.clock import WallClock
        from solbot.web.credentials import Credentials

        async with stores.custody(settings()) as custody:
            return await Credentials(custody, WallClock()).end_user(username, actor=CLI_ACTOR)

    ended = asyncio.run(main())
    typer.echo(f"{ended} session(s) of {username} ended; their unused links spent")
