"""Latest USD prices from Jupiter's Price API v3.

`GET /price/v3?ids=mint1,mint2` answers `{mint: {usdPrice, blockId, decimals, priceChange24h}}`
with no wrapper (Jupiter's spec, github.com/jup-ag/docs `openapi-spec/price/v3/price.yaml`:
`usdPrice` number and `decimals` integer required, `blockId` integer and `priceChange24h`
number nullable). A mint Jupiter cannot price reliably is simply left out of the answer; it is
left out of ours too, never reported as zero, so a missing price can never look like a crash to
zero and fire a stop loss. Jupiter takes at most 50 ids a call (its docs; what the server does
beyond is undocumented), so longer lists go out in chunks of 50, each paced by the client's
rate limiter: every Jupiter endpoint of an account spends the same request budget.

Prices are read from the JSON text as `Decimal` (never through a float). The answer carries no
time, only `blockId`, the block the price was last seen at; each price is stamped with the
clock time its answer arrived, so callers can drop prices older than they accept (`fresh`), or
compare `block_id` with the chain. Assumed: a price that is zero, negative or not finite is
unreliable and treated as absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from solders.pubkey import Pubkey

from solbot.execution.jupiter import BadResponseError, JupiterClient

__all__ = ["MAX_IDS_PER_CALL", "PRICE_PATH", "JupiterPriceFeed", "PriceSnapshot", "TokenPrice"]

MAX_IDS_PER_CALL = 50
PRICE_PATH = "/price/v3"


@dataclass(frozen=True, slots=True)
class TokenPrice:
    """One token's price. `observed_at` is the clock time (Unix seconds) the answer arrived."""

    mint: str
    usd_price: Decimal
    block_id: int | None
    decimals: int | None
    price_change_24h: Decimal | None
    observed_at: float


@dataclass(frozen=True, slots=True)
class PriceSnapshot:
    """The prices of one request for a list of mints; `missing` lists the mints left unpriced."""

    prices: Mapping[str, TokenPrice]
    missing: tuple[str, ...]

    def usd(self) -> dict[str, Decimal]:
        """Mint → USD price, for the mints that have one."""
        return {mint: price.usd_price for mint, price in self.prices.items()}

    def fresh(
        self, now: float, max_age: float, *, min_block_id: int | None = None
    ) -> dict[str, Decimal]:
        """Mint → USD price of the prices at most `max_age` seconds old at `now` and, when
        `min_block_id` is given, seen at that block or later (a price without a block is then
        refused: its age cannot be told)."""
        kept = {}
        for mint, price in self.prices.items():
            if now - price.observed_at > max_age:
                continue
            if min_block_id is not None and (
                price.block_id is None or price.block_id < min_block_id
            ):
                continue
            kept[mint] = price.usd_price
        return kept


class JupiterPriceFeed:
    """Price API v3 through a `JupiterClient` (its base URL, API key, limiter and retries)."""

    def __init__(self, client: JupiterClient) -> None:
        self._client = client

    async def snapshot(self, mints: Iterable[Pubkey | str]) -> PriceSnapshot:
        """The latest prices of `mints` (duplicates asked once), in calls of at most 50 ids."""
        wanted = list(dict.fromkeys(_address(mint) for mint in mints))
        found: dict[str, TokenPrice] = {}
        for start in range(0, len(wanted), MAX_IDS_PER_CALL):
            chunk = wanted[start : start + MAX_IDS_PER_CALL]
            what = f"prices of {len(chunk)} token(s)"
            body = await self._client.get_json(PRICE_PATH, {"ids": ",".join(chunk)}, what)
            observed_at = self._client.clock.now()
            found.update(_parse(body, chunk, observed_at, what))
        missing = tuple(mint for mint in wanted if mint not in found)
        return PriceSnapshot(MappingProxyType(found), missing)

    async def prices(self, mints: Iterable[Pubkey | str]) -> dict[str, Decimal]:
        """Mint → USD price; a mint Jupiter did not price is absent."""
        return (await self.snapshot(mints)).usd()


def _address(value: Pubkey | str) -> str:
    """A checked base58 mint: a comma inside one would silently ask for other tokens."""
    if isinstance(value, Pubkey):
        return str(value)
    try:
        return str(Pubkey.from_string(value))
    except ValueError:
        raise ValueError(f"not a Solana mint address: {value!r}") from None


def _parse(body: Any, chunk: list[str], observed_at: float, what: str) -> dict[str, TokenPrice]:
    if not isinstance(body, dict):
        raise BadResponseError(f"unexpected Jupiter answer to {what}: not a JSON object")
    strangers = sorted(set(body) - set(chunk))
    if strangers:
        # Jupiter answers only for the ids asked; anything else means the format changed (Price
        # v2 wrapped its answer in "data"), and reading on would report every price as missing.
        shown = ", ".join(str(key)[:50] for key in strangers[:3])
        raise BadResponseError(f"unexpected Jupiter answer to {what}: keys not asked for: {shown}")
    prices = {}
    for mint in chunk:
        entry = body.get(mint)
        if entry is None:
            continue
        if not isinstance(entry, dict):
            raise BadResponseError(f"unexpected Jupiter answer to {what}: {mint} is not an object")
        usd = _number(entry.get("usdPrice"))
        if usd is None:
            raise BadResponseError(f"unexpected Jupiter answer to {what}: {mint} has no usdPrice")
        if not usd.is_finite() or usd <= 0:
            continue
        change = _number(entry.get("priceChange24h"))
        prices[mint] = TokenPrice(
            mint=mint,
            usd_price=usd,
            block_id=_integer(entry.get("blockId")),
            decimals=_integer(entry.get("decimals")),
            price_change_24h=change if change is not None and change.is_finite() else None,
            observed_at=observed_at,
        )
    return prices


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    if isinstance(value, float):  # NaN and Infinity arrive as floats even with parse_float
        return Decimal(value)
    return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    return None
