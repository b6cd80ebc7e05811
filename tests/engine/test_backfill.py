"""On mainnet the strategy's warm-up window comes from GeckoTerminal at start-up: downloaded into
market history (as `solbot data download` would), and given to the run's own candle store."""

import httpx

from market.fake_gecko import serve
from solbot.clock import ManualClock
from solbot.config import Settings
from solbot.domain import Timeframe
from solbot.market.store import CandleStore
from solbot.market.synth import synth_candles
from solbot.runner import _History

H = 3600
T0 = 1_704_067_200
NOW = T0 + 300 * H + 600


async def test_the_warm_up_window_is_downloaded_once(tmp_path):
    settings = Settings(data_dir=tmp_path)
    jup, wif = settings.token("JUP"), settings.token("WIF")
    usdc = settings.token("USDC")
    market = CandleStore(settings.candles_dir)
    store = CandleStore(settings.built_candles_dir())
    history = _History(store, ["JUP", "WIF"], Timeframe.H1, bars=200)
    with serve() as gecko:
        for token in (jup, wif):
            series = synth_candles(Timeframe.H1, 300, seed=1, start_price=1.0, start_time=T0)
            gecko.add_pool(token.pool, token.mint, usdc.mint, series)
        async with httpx.AsyncClient(trust_env=False) as http:
            start = (http, gecko.base_url, ManualClock(NOW), [jup, wif], market)
            await history.from_geckoterminal(*start)
            first_requests = len(gecko.requests)
            await history.from_geckoterminal(*start)
    for symbol in ("JUP", "WIF"):
        for where in (market, store):
            first, last, count = where.coverage(symbol, Timeframe.H1)
            assert first == T0 + 100 * H
            assert count == 200
            assert last == T0 + 299 * H  # the last closed candle before NOW
    assert first_requests == 2
    assert len(gecko.requests) == 2  # the second start found everything stored


async def test_a_download_failure_costs_only_the_warm_up(tmp_path):
    settings = Settings(data_dir=tmp_path)
    market = CandleStore(settings.candles_dir)
    store = CandleStore(settings.built_candles_dir())
    history = _History(store, ["JUP"], Timeframe.H1, bars=10)
    async with httpx.AsyncClient(trust_env=False) as http:
        # Nothing listens on port 9 of 127.0.0.1: the download fails, the start-up goes on.
        await history.from_geckoterminal(
            http, "http://127.0.0.1:9/api/v2", ManualClock(NOW), [settings.token("JUP")], market
        )
    assert store.coverage("JUP", Timeframe.H1) is None
    assert market.coverage("JUP", Timeframe.H1) is None
