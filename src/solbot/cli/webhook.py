"""`solbot webhook ...`: where the loop's events go besides Telegram (Discord, Slack, any JSON
endpoint), for the operator and per user; and the deliveries that gave up."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, emit, moment
from solbot.cli.tables import print_rows
from solbot.errors import UserError

app = typer.Typer(
    help="Webhooks: entries, exits, breakers, the daily summary and alerts to Discord, Slack or "
    "a JSON endpoint (a running `solbot run` delivers them).",
    no_args_is_help=True,
)
CLI_ACTOR = "cli"


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="A name for it (lowercase: discord, alice-slack).")],
    url: Annotated[
        str | None,
        typer.Argument(
            help="The endpoint's https:// address (kept sealed). Leave it out to type it "
            "unseen (or pipe it in): an address on the command line stays in shell history."
        ),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="A user's webhook: only that user's events.")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="discord, slack or json (default: from the address)."),
    ] = None,
    events: Annotated[
        str | None,
        typer.Option(
            "--events",
            help="Comma-separated groups: entry, exit, breaker, summary, alert (the operator's "
            "only). Default: all a webhook may take.",
        ),
    ] = None,
) -> None:
    """Add a webhook (audited; needs the master key: the address is stored sealed)."""
    from solbot.webhooks.formats import HookKind
    from solbot.webhooks.registry import Webhooks

    if kind is not None and kind not in {k.value for k in HookKind}:
        raise UserError(f"unknown kind {kind!r}: discord, slack or json")

    address = url if url is not None else _read_address()

    async def main() -> None:
        async with stores.custody(settings()) as custody:
            hook = await Webhooks(custody).add(
                name,
                address,
                actor=CLI_ACTOR,
                username=user,
                kind=HookKind(kind) if kind else None,
                events=events,
            )
        whose = f"{hook.username}'s" if hook.username else "the operator's"
        typer.echo(
            f"webhook {hook.name!r} added ({hook.kind}, {whose}, {hook.hint}): "
            f"{', '.join(sorted(hook.events))}"
        )

    asyncio.run(main())


def _read_address() -> str:
    """The address typed without echo (a terminal) or piped in (its first line)."""
    import sys

    if sys.stdin.isatty():
        return str(typer.prompt("The webhook's address (not shown)", hide_input=True))
    line = sys.stdin.readline().strip()
    if not line:
        raise UserError("no address: give it, type it when asked, or pipe it in")
    return line


@app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """Every webhook (addresses shown as a hint only) and what is owed to each."""
    from solbot.webhooks.outbox import DEAD, PENDING, Outbox
    from solbot.webhooks.registry import Webhooks

    async def main() -> list[dict[str, object]]:
        async with stores.custody(settings(), need_key=False) as custody:
            hooks = await Webhooks(custody).all()
            owed = await Outbox(custody.db, custody.clock).counts()
        return [
            {
                "name": h.name,
                "user": h.username,
                "kind": h.kind.value,
                "address": h.hint,
                "events": sorted(h.events),
                "pending": owed.get((h.id, PENDING), 0),
                "failed": owed.get((h.id, DEAD), 0),
            }
            for h in hooks
        ]

    hooks = asyncio.run(main())
    if as_json:
        emit({"webhooks": hooks})
        return
    rows = [
        [
            str(h["name"]),
            str(h["user"] or "operator"),
            str(h["kind"]),
            str(h["address"]),
            ", ".join(h["events"]),  # type: ignore[arg-type]
            str(h["pending"]),
            str(h["failed"]),
        ]
        for h in hooks
    ]
    print_rows(
        stores.console(),
        ("name", "for", "kind", "address", "events", "pending", "failed"),
        rows,
        "no webhooks yet: `solbot webhook add NAME` adds one",
    )


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The webhook's name.")]) -> None:
    """Remove a webhook and what is still owed to it (audited)."""
    from solbot.webhooks.registry import Webhooks

    async def main() -> None:
        async with stores.custody(settings()) as custody:
            await Webhooks(custody).remove(name, actor=CLI_ACTOR)

    asyncio.run(main())
    typer.echo(f"webhook {name!r} removed")


@app.command("test")
def test(name: Annotated[str, typer.Argument(help="The webhook's name.")]) -> None:
    """Post a test message now, from here, and say what the endpoint answered."""

    from solbot.webhooks import registry, sender

    async def main() -> sender.Answer:
        cfg = settings()
        async with stores.custody(cfg) as custody:
            hook = await registry.Webhooks(custody).named(name)
            return await registry.send_test(custody, hook, cfg.world.name)

    answer = asyncio.run(main())
    if not answer.delivered:
        raise UserError(f"webhook {name!r} did not take the test: {answer.error}")
    typer.echo(f"webhook {name!r} took the test message")


@app.command("failed")
def failed(as_json: JsonOption = False) -> None:
    """Deliveries that gave up (the dead-letter log): `solbot webhook replay` sends them again."""
    from solbot.webhooks.outbox import Outbox

    async def main() -> list[dict[str, object]]:
        async with stores.custody(settings(), need_key=False) as custody:
            dead = await Outbox(custody.db, custody.clock).dead()
        return [
            {
                "id": d.id,
                "webhook": d.webhook,
                "event": d.kind,
                "attempts": d.attempts,
                "error": d.last_error,
                "created_at": moment(d.created_at),
            }
            for d in dead
        ]

    rows = asyncio.run(main())
    if as_json:
        emit({"failed": rows})
        return
    lines = [
        [
            str(r["id"])[:8],
            str(r["webhook"]),
            str(r["event"]),
            str(r["attempts"]),
            str(r["error"] or ""),
            str(r["created_at"])[:16].replace("T", " "),
        ]
        for r in rows
    ]
    columns = ("id", "webhook", "event", "tries", "error", "since")
    print_rows(stores.console(), columns, lines, "no failed deliveries")


@app.command("replay")
def replay(
    ids: Annotated[
        list[str] | None, typer.Argument(help="Failed deliveries' ids (their first 8 chars do).")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every failed delivery.")] = False,
) -> None:
    """Send failed deliveries again (a running `solbot run` sends them within seconds)."""
    from solbot.webhooks.outbox import Outbox

    if not ids and not everything:
        raise UserError("name failed deliveries by id (`solbot webhook failed`) or use --all")

    async def main() -> int:
        async with stores.custody(settings(), need_key=False) as custody:
            outbox = Outbox(custody.db, custody.clock)
            chosen = None
            if not everything:
                dead = await outbox.dead()
                chosen = []
                for prefix in ids or []:
                    found = [d.id for d in dead if d.id.startswith(prefix)]
                    if len(found) != 1:
                        raise UserError(
                            f"{prefix!r} names {len(found) or 'no'} failed deliveries "
                            "(`solbot webhook failed` lists them)"
                        )
                    chosen += found
            return await outbox.replay(chosen)

    count = asyncio.run(main())
    typer.echo(f"{count} deliveries owed again")
