"""Market data: building, resampling, keeping, storing, importing and generating candles.

Everything here speaks `solbot.domain` types (`Candle`, `CandleSeries`, `Timeframe`), so the
strategy and backtest layers never learn where a bar came from: a live feed, a CSV, GeckoTerminal
or the synthetic generator.
"""

from solbot.market.candles import CandleBook, CandleBuilder, resample
from solbot.market.store import CandleStore, StoredSeries

__all__ = ["CandleBook", "CandleBuilder", "CandleStore", "StoredSeries", "resample"]
