"""`solbot tokens`: the token list, and adding a token by its mint (`solbot.added_tokens`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from solbot.cli import stores
from solbot.cli.context import settings
from solbot.cli.json_output import JsonOption, emit
from solbot.errors import UserError

if TYPE_CHECKING:
    from solders.pubkey import Pubkey

    from solbot.chain.port import AccountInfo

app = typer.Typer(help="The tokens solbot knows: list them, or add one by its mint.")


@app.command("list")
def list_tokens(as_json: JsonOption = False) -> None:
    """The token list: the built-in or configured tokens, then those added by mint."""
    from solbot.added_tokens import load_added

    cfg = settings()
    added = {entry.get("mint") for entry in load_added(cfg.data_dir)}
    rows = [
        (t.symbol.upper(), t.mint, t.decimals, t.pool, "added" if t.mint in added else "list")
        for t in cfg.tokens
    ]
    if as_json:
        emit(
            {
                "tokens": [
                    {"symbol": s, "mint": m, "decimals": d, "pool": p or None, "source": w}
                    for s, m, d, p, w in rows
                ]
            }
        )
        return
    table = Table(title="tokens", title_justify="left")
    for name in ("symbol", "mint", "decimals", "pool", "from"):
        table.add_column(name)
    for symbol, mint, decimals, pool, source in rows:
        table.add_row(symbol, mint, str(decimals), pool or "—", source)
    stores.console().print(table)


@app.command("add")
def add_token(
    mint: Annotated[str, typer.Argument(metavar="MINT", help="The token's mint address.")],
    symbol: Annotated[
        str,
        typer.Option("--symbol", metavar="SYMBOL", help="The name solbot will use, e.g. POPCAT."),
    ],
    pool: Annotated[
        str,
        typer.Option(metavar="ADDRESS", help="A GeckoTerminal pool, for history downloads."),
    ] = "",
    liquidity_usd: Annotated[
        float,
        typer.Option(
            metavar="USD", min=1.0, help="Depth of its pool, for the backtest's price impact."
        ),
    ] = 1_000_000.0,
    force: Annotated[
        bool,
        typer.Option("--force", help="Add a mint with a freeze authority anyway."),
    ] = False,
) -> None:
    """Add a token by its mint: its decimals and authorities are read from the network's chain
    (the configured RPC; the saved world on the sim). A mint whose issuer can freeze holders'
    accounts is refused unless --force. The configured token list is not rewritten: added
    tokens live in <data dir>/tokens.json."""

    from solbot.added_tokens import add_token as add_to_file
    from solbot.chain.mint import parse_mint
    from solbot.config import TokenConfig

    cfg = settings()
    name = symbol.strip().upper()
    if not name.isalnum() or len(name) > 16:
        raise UserError(f"--symbol {symbol!r}: letters and digits, at most 16")
    address = _address(mint)
    if pool.strip():
        _address(pool, "--pool ")  # it goes into GeckoTerminal's URLs: an address, nothing else
    for known in cfg.tokens:
        if known.symbol.upper() == name:
            raise UserError(f"{name} is already in the token list (mint {known.mint})")
        if known.mint == str(address):
            raise UserError(f"{address} is already in the token list as {known.symbol.upper()}")

    async def read() -> AccountInfo | None:
        async with stores.chain_view(cfg) as (chain, where):
            if chain is None:
                raise UserError(f"cannot read the mint: {where}")
            return await chain.account(address)

    account = asyncio.run(read())
    network = cfg.network
    if account is None:
        raise UserError(f"{address} does not exist on {network}; check the address and network")
    try:
        facts = parse_mint(account)
    except ValueError as exc:
        raise UserError(f"{address} on {network}: {exc}") from None
    if facts.freeze_authority is not None and not force:
        raise UserError(
            f"{address} has a freeze authority ({facts.freeze_authority}): its issuer can freeze "
            "any holder's tokens, the bot's wallets included; pass --force to add it anyway"
        )
    token = TokenConfig(
        symbol=name,
        mint=str(address),
        decimals=facts.decimals,
        pool=pool.strip(),
        liquidity_usd=liquidity_usd,
    )
    try:
        path = add_to_file(cfg.data_dir, token.model_dump())
    except ValueError as exc:  # another `tokens add` took the symbol or mint meanwhile
        raise UserError(str(exc)) from None
    kind = "Token-2022" if facts.token_2022 else "SPL Token"
    warning = f"; freeze authority {facts.freeze_authority}" if facts.freeze_authority else ""
    stores.console().print(
        f"[green]✓[/] {name}: {address}, {facts.decimals} decimals ({kind}{warning}), in {path}. "
        f"Trade it with SOLBOT_TRADE_TOKENS."
    )


def _address(text: str, option: str = "") -> Pubkey:
    from solders.pubkey import Pubkey

    try:
        return Pubkey.from_string(text.strip())
    except ValueError:
        raise UserError(f"{option}{text!r} is not a Solana address") from None
