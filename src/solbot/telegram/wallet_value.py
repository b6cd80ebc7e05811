"""What a friend's wallet holds and is worth, every asset counted, in the quote asset.

The loop's marked value (`users.portfolio_value`) is what the breakers watch: quote cash and
open positions. A friend asking "what do I have" means everything in the wallet: the SOL
kept for fees (or deposited by mistake), the quote asset, and every token, open position or
not. A wallet holding 10 SOL and no USDC is not worth "0.00 USDC". Prices come from the loop
when the bot runs inside `solbot run`; an asset without a price here is listed and said to be
left out of the total, never counted as zero silently.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from solders.pubkey import Pubkey

from solbot.chain.port import holdings
from solbot.telegram.services import BotServices


@dataclass(frozen=True)
class Holding:
    symbol: str
    units: Decimal
    value: Decimal | None  # in the quote asset; None when no price is known here


@dataclass(frozen=True)
class WalletValue:
    quote: str
    holdings: list[Holding]

    @property
    def total(self) -> Decimal:
        return sum((h.value for h in self.holdings if h.value is not None), Decimal(0))

    @property
    def unpriced(self) -> list[str]:
        return [h.symbol for h in self.holdings if h.value is None]

    def lines(self) -> list[str]:
        """'SOL: 10.0000 (≈ 1,500.00 USDC)' per asset held, then the total."""
        out = []
        for h in self.holdings:
            places = 4 if h.symbol == "SOL" else (2 if h.symbol == self.quote else 6)
            text = f"{h.symbol}: {h.units:,.{places}f}"
            if h.symbol != self.quote:
                text += " (no price here)" if h.value is None else f" (≈ {h.value:,.2f})"
            out.append(text)
        total = f"Total: ≈ {self.total:,.2f} {self.quote}"
        if self.unpriced:
            total += f", not counting {', '.join(self.unpriced)}"
        return [*out, total]


async def wallet_value(services: BotServices, owner: Pubkey) -> WalletValue:
    """Every asset the wallet holds (SOL, the quote asset, each known token), valued."""
    cfg = services.settings
    quote = cfg.quote
    chain = services.chain
    assert chain is not None
    tokens = [t for t in cfg.token_map().values() if t.symbol != "SOL"]
    lamports, *atoms = await asyncio.gather(
        chain.balance(owner), *(holdings(chain, owner, Pubkey.from_string(t.mint)) for t in tokens)
    )
    usd = services.prices() if services.prices is not None else {}
    sol_price = Decimal(1) if quote == "SOL" else None
    if sol_price is None and services.sol_price is not None:
        sol_price = await services.sol_price()
    sol = Decimal(lamports).scaleb(-9)
    sol_value = Decimal(0) if lamports == 0 else None if sol_price is None else sol * sol_price
    found = [Holding("SOL", sol, sol_value)]
    quote_usd = usd.get(quote, Decimal(1) if quote == "USDC" else None)
    for token, amount in zip(tokens, atoms, strict=True):
        if amount == 0 and token.symbol != quote:
            continue
        units = Decimal(amount).scaleb(-token.decimals)
        if token.symbol == quote:
            found.append(Holding(quote, units, units))
            continue
        price = usd.get(token.symbol)
        value = None if price is None or not quote_usd else units * price / quote_usd
        found.append(Holding(token.symbol, units, value))
    return WalletValue(quote, found)
