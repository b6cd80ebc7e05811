"""The candles a backtest trades: stored history per token, priced in the chosen quote asset.

Candles are stored in USD (GeckoTerminal's default currency, and what synthetic data imitates).
With SOL as the quote asset every token's OHLC is divided by SOL's close of the same bar for
the fills, marks and breakers, so a bar without a SOL price is dropped. That is an
approximation for high and low (the two maxima need not coincide in time), accepted because
candles carry nothing finer. The strategy still reads the USD candles, as the live loop does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from solbot.backtest.metrics import iso_utc
from solbot.domain import CandleSeries, Timeframe, TokenInfo
from solbot.errors import UserError
from solbot.market.store import CandleStore


@dataclass(frozen=True)
class Universe:
    """Each token's candles in the quote asset (what fills, marks and breakers see), its USD
    candles (what the strategy reads: the live loop computes signals on the USD candles it
    builds, whatever the quote), and its pool depth in quote units."""

    series: dict[str, CandleSeries]
    liquidity: dict[str, float]
    quote: str
    signal_series: dict[str, CandleSeries]


def load_universe(
    store: CandleStore,
    tokens: Sequence[TokenInfo],
    timeframe: Timeframe,
    quote: str,
    start: int | None = None,
    end: int | None = None,
    sol: TokenInfo | None = None,
) -> Universe:
    """Load the tokens' stored candles for `[start, end)`; a token without any is an error."""
    if quote == "SOL" and sol is None:
        raise UserError("a SOL-quoted backtest needs SOL in the token list")
    series: dict[str, CandleSeries] = {}
    for token in tokens:
        if token.symbol == quote:
            raise UserError(f"{token.symbol} is the quote asset; it cannot also be traded")
        series[token.symbol] = _load(store, token.symbol, timeframe, start, end)
    sol_series = None
    if quote == "SOL":
        assert sol is not None
        sol_series = _load(store, sol.symbol, timeframe, start, end, " to price the tokens in SOL")
    return priced(series, {t.symbol: t.liquidity_usd for t in tokens}, quote, sol_series)


def priced(
    usd: dict[str, CandleSeries],
    liquidity_usd: Mapping[str, float],
    quote: str,
    sol: CandleSeries | None = None,
) -> Universe:
    """The tokens' USD candles and pool depths in `quote` (SOL needs SOL's USD candles)."""
    if quote != "SOL":
        return Universe(usd, dict(liquidity_usd), quote, usd)
    assert sol is not None
    series = {symbol: in_quote(s, sol, symbol) for symbol, s in usd.items()}
    sol_price = float(sol.close[0])
    liquidity = {symbol: depth / sol_price for symbol, depth in liquidity_usd.items()}
    return Universe(series, liquidity, quote, usd)


def _load(
    store: CandleStore,
    symbol: str,
    timeframe: Timeframe,
    start: int | None,
    end: int | None,
    purpose: str = "",
) -> CandleSeries:
    """A token's candles in `[start, end)`; the error tells nothing stored (and the exact
    command that fetches them) from stored candles that miss the period (and what is stored),
    because the fixes differ: `data synth` refuses to overwrite stored candles."""
    s = store.load(symbol, timeframe, start, end)
    if len(s) > 0:
        return s
    tf = timeframe.value
    cover = store.coverage(symbol, timeframe)
    if cover is None:
        args = f"--token {symbol} --timeframe {tf}"
        raise UserError(
            f"no {tf} candles stored for {symbol}{purpose}; get them with "
            f"`solbot data download {args}` or, offline, `solbot data synth {args}`"
        )
    first, last, count = cover
    raise UserError(
        f"no {tf} candles for {symbol} in the period asked (--start/--end){purpose}; "
        f"stored: {count:,} from {iso_utc(first)} to {iso_utc(last)}"
    )


def in_quote(series: CandleSeries, quote: CandleSeries, symbol: str = "token") -> CandleSeries:
    """`series` (USD) divided by `quote`'s close (USD) on the bars both have."""
    common, i, j = np.intersect1d(
        series.open_time, quote.open_time, assume_unique=True, return_indices=True
    )
    if len(common) == 0:
        raise UserError(f"{symbol} and the quote asset have no bars in common")
    q = quote.close[j]
    return CandleSeries(
        series.timeframe,
        common,
        series.open[i] / q,
        series.high[i] / q,
        series.low[i] / q,
        series.close[i] / q,
        series.volume[i],
    )


def tokens_by_symbol(known: Mapping[str, TokenInfo], symbols: Sequence[str]) -> list[TokenInfo]:
    """The token entries for `symbols`, with a one-line error naming an unknown one."""
    out = []
    for symbol in symbols:
        key = symbol.strip().upper()
        if key not in known:
            raise UserError(f"unknown token {symbol!r}; known tokens: {', '.join(sorted(known))}")
        out.append(known[key])
    return out
