"""The market side of a live tick, done once per token however many users trade: each token's
fresh USD price is a tick for its candle builder; a candle that closes joins the token's window
in the candle book, and once the window is full the strategy's signal is computed on it. The
engine (`solbot.engine`) fans those signals out to the users.

Closed candles are also kept in the run's candle store (after the orders: see `store`), and a
start warms the windows from it, so a restart does not wait for the strategy's warm-up again.
Storing a candle rewrites its token's file, so they are written at most every `SAVE_SECONDS` of
wall time (every candle, in a run at the market's pace; in batches, on a fast sim or a replay,
where rewriting a file per candle took a third of the run). A crash loses at most those
seconds of candles, which the next start back-fills.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal

from solbot.domain import Candle, CandleSeries, Signal, Timeframe, TokenInfo
from solbot.market.candles import CandleBook, CandleBuilder
from solbot.market.store import CandleStore
from solbot.strategy.base import Strategy

SAVE_SECONDS = 30.0


class LiveCandles:
    """Prices → candles → signals for one token universe and one strategy."""

    def __init__(
        self,
        tokens: Sequence[TokenInfo],
        strategy: Strategy,
        timeframe: Timeframe,
        store: CandleStore | None = None,
        priced: Sequence[TokenInfo] = (),
    ) -> None:
        self.tokens = list(tokens)
        # Built and stored, never traded nor given signals: the quote asset when it is not USD
        # (`solbot reconcile` prices a SOL-quoted run's candles with SOL's).
        self.priced = list(priced)
        self.strategy = strategy
        self.timeframe = timeframe
        self.store = store
        self.book = CandleBook(timeframe, strategy.samples_needed)
        self.builders = {t.symbol: CandleBuilder(timeframe) for t in [*self.tokens, *self.priced]}
        self.prices: dict[str, Decimal] = {}  # last fresh USD price per symbol
        self._unsaved: dict[str, list[Candle]] = {}
        self._saved_at = -SAVE_SECONDS  # monotonic seconds: the first candle is written at once

    def warm_up(self, now: float) -> None:
        """Fill the windows from the store's candles that closed before `now`."""
        if self.store is None:
            return
        start = int(now) - self.timeframe.seconds * (self.strategy.samples_needed + 1)
        for token in self.tokens:
            history = self.store.load(token.symbol, self.timeframe, start, int(now))
            closed = _closed_before(history, now)
            if len(closed):
                self.book.extend(token.symbol, closed)

    def observe(self, fresh: dict[str, Decimal], now: float) -> list[tuple[str, Candle]]:
        """Take the fresh USD prices (by mint) as ticks; every candle they closed, in order. A
        token without a fresh price sits the tick out."""
        closed: list[tuple[str, Candle]] = []
        for token in self.tokens:
            usd = fresh.get(token.mint)
            if usd is None:
                continue
            self.prices[token.symbol] = usd
            for candle in self.builders[token.symbol].add(now, float(usd)):
                self.book.append(token.symbol, candle)
                closed.append((token.symbol, candle))
        for token in self.priced:  # kept with the next `keep`, told to no one
            usd = fresh.get(token.mint)
            if usd is not None and self.store is not None:
                candles = self.builders[token.symbol].add(now, float(usd))
                self._unsaved.setdefault(token.symbol, []).extend(candles)
        return closed

    def signals(self, symbols: Sequence[str]) -> dict[str, Signal]:
        """The strategy's signal for each of `symbols` whose window is full (once per token)."""
        return {
            symbol: self.strategy.signal_at_last(self.book.series(symbol))
            for symbol in symbols
            if self.book.is_warm(symbol)
        }

    def keep(self, closed: dict[str, Candle]) -> None:
        """Keep closed candles for the store, written now if the last write is `SAVE_SECONDS`
        old (each write rewrites its token's file: milliseconds)."""
        if self.store is None:
            return
        for symbol, candle in closed.items():
            self._unsaved.setdefault(symbol, []).append(candle)
        if time.monotonic() - self._saved_at >= SAVE_SECONDS:
            self.save()

    def save(self) -> None:
        """Write every kept candle to the store (a run's end calls it)."""
        if self.store is not None:
            for symbol, candles in self._unsaved.items():
                self.store.merge(symbol, CandleSeries.from_candles(candles, self.timeframe))
        self._unsaved.clear()
        self._saved_at = time.monotonic()

    def missing(self) -> dict[str, int]:
        """Closed candles each token still needs before its first signal (0: it has them)."""
        return {t.symbol: self.book.missing(t.symbol) for t in self.tokens}


def _closed_before(series: CandleSeries, now: float) -> CandleSeries:
    """Only candles whose close is at or before `now` (the last one may still be forming)."""
    keep = series.open_time + series.timeframe.seconds <= now
    return series[: int(keep.sum())]
