"""The candles a backtest trades: stored history per token, priced in the chosen quote asset.

Candles are stored in USD (GeckoTerminal's default currency, and what synthetic data imitates).
With SOL as the quote asset every token's OHLC is divided by SOL's close of the same bar, so a
bar without a SOL price is dropped. That is an approximation for high and low (the two maxima
need not coincide in time), accepted because candles carry nothing finer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from solbot.domain import CandleSeries, Timeframe, TokenInfo
from solbot.errors import UserError
from solbot.market.store import CandleStore


@dataclass(frozen=True)
class Universe:
    """Each token's candles in the quote asset, and its pool depth in quote units."""

    series: dict[str, CandleSeries]
    liquidity: dict[str, float]
    quote: str


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
        s = store.load(token.symbol, timeframe, start, end)
        if len(s) == 0:
            raise UserError(
                f"no {timeframe.value} candles for {token.symbol} in that period; "
                f"run `solbot data synth` (offline) or `solbot data download` first"
            )
        series[token.symbol] = s
    liquidity = {t.symbol: t.liquidity_usd for t in tokens}
    if quote == "SOL":
        assert sol is not None
        sol_series = store.load(sol.symbol, timeframe, start, end)
        if len(sol_series) == 0:
            raise UserError(
                f"no {timeframe.value} candles for SOL to price the tokens in SOL; "
                "add SOL with `solbot data synth --token SOL` or `solbot data download`"
            )
        series = {symbol: in_quote(s, sol_series, symbol) for symbol, s in series.items()}
        sol_price = float(sol_series.close[0])
        liquidity = {symbol: usd / sol_price for symbol, usd in liquidity.items()}
    return Universe(series, liquidity, quote)


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
