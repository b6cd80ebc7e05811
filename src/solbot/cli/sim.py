"""`solbot sim serve`: the simulated network on sockets, for programs in other processes.

The servers themselves live in `solbot.sim.serve` (imported when the command runs, so that
`solbot --help` does not load them).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from solbot.cli.context import settings

app = typer.Typer(
    name="sim",
    help="The simulated Solana network (LiteSVM, a market maker behind Jupiter's API).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.command()
def serve(
    rpc_port: Annotated[
        int,
        typer.Option(min=0, max=65534, help="JSON-RPC port; websockets on the next one; 0: any."),
    ] = 8899,
    jupiter_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Jupiter API port; 0: any free one.")
    ] = 8080,
    speed: Annotated[
        float,
        typer.Option(min=0.001, metavar="N", help="N simulated seconds per real second."),
    ] = 1.0,
    seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            metavar="S",
            help="Seed of a new world (default $SOLBOT_SIM_SEED); a saved world keeps its own.",
            show_default=False,
        ),
    ] = None,
    drop_rate: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, metavar="R", help="Fault: share of sendTransaction calls dropped."
        ),
    ] = 0.0,
    error_rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            metavar="R",
            help="Fault: share of RPC calls answered 503 'node is behind'.",
        ),
    ] = 0.0,
    latency: Annotated[
        float,
        typer.Option(min=0.0, metavar="S", help="Fault: seconds added to every RPC answer."),
    ] = 0.0,
    congestion: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="RATE",
            help="Busy spells: a send bidding under RATE micro-lamports a compute unit is "
            "dropped then, and recent fees show RATE. 0: never busy.",
        ),
    ] = 0,
    busy: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, metavar="R", help="Share of the time --congestion is on."),
    ] = 0.5,
) -> None:
    """Serve the simulated network on 127.0.0.1 until Ctrl-C (or SIGTERM).

    Solana JSON-RPC on `--rpc-port` (websockets on the next port) and Jupiter's Swap and Price
    APIs on `--jupiter-port`, over the world saved in the data dir (created on first use, as
    `solbot run` creates it). Blocks keep coming with the clock; the world is saved every few
    simulated minutes and on exit. Prints the URLs and the funded test wallet, and how to point
    `solbot run` at it.
    """
    # the servers: imported when they are started
    from solbot.sim.rpc_server import Congestion, Faults
    from solbot.sim.serve import serve_sim

    # The served network is the sim world's, whatever network this shell is set to trade on.
    cfg = settings().model_copy(update={"network": "sim", "paper": False})
    if seed is not None:
        cfg = cfg.model_copy(update={"sim_seed": seed})
    faults = Faults(drop_rate=drop_rate, error_rate=error_rate, latency=latency, seed=cfg.sim_seed)
    crowd = Congestion(going_rate=congestion, busy_share=busy, seed=cfg.sim_seed)
    asyncio.run(
        serve_sim(cfg, rpc_port, jupiter_port, speed, faults, explicit_seed=seed, congestion=crowd)
    )


@app.command()
def fund(
    address: Annotated[str, typer.Argument(metavar="ADDRESS", help="The wallet to fund.")],
    token: Annotated[
        str, typer.Option(metavar="SYMBOL", help="SOL, or a token the sim trades.")
    ] = "SOL",
    amount: Annotated[
        str, typer.Option(metavar="AMOUNT", help="Whole units, e.g. 1.5 (SOL) or 250 (USDC).")
    ] = "1",
    url: Annotated[
        str,
        typer.Option(metavar="URL", help="The served sim's Jupiter URL (`solbot sim serve`)."),
    ] = "http://127.0.0.1:8080",
) -> None:
    """Give any address sim SOL or sim tokens, from a running `solbot sim serve` (its faucet):
    for other programs tested against the sim. Tokens land in the address's associated token
    account, created if needed; the world is saved at once."""
    import httpx

    from solbot.cli import stores
    from solbot.errors import UserError
    from solbot.sim.client import SIM_FUND_PATH

    body = {"address": address, "token": token, "amount": amount}
    try:
        with httpx.Client(trust_env=False, timeout=10.0) as http:
            answer = http.post(url.rstrip("/") + SIM_FUND_PATH, json=body)
    except httpx.HTTPError as exc:
        raise UserError(
            f"no sim at {url} ({type(exc).__name__}): start `solbot sim serve`, or give --url"
        ) from None
    try:
        document = answer.json()
    except ValueError:
        document = {}
    if answer.status_code != 200 or "balance" not in document:
        why = document.get("error") if isinstance(document, dict) else None
        raise UserError(why or f"{url} answered HTTP {answer.status_code}: is it a solbot sim?")
    stores.console().print(
        f"[green]✓[/] {document['amount']} {document['token']} to {document['address']} "
        f"(now {document['balance']} {document['token']})"
    )
