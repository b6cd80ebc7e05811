"""`solbot run` against `solbot sim serve` in another process: every byte over HTTP on
127.0.0.1 (the Jupiter API, JSON-RPC), the wallet from the `WALLET_PRIVATE_KEY` the server
printed, time from the sim's clock, warm-up candles from the sim's history."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
from solana.rpc.async_api import AsyncClient

from solbot.domain import Timeframe
from solbot.market.store import CandleStore
from solbot.store.states import OrderState
from solbot.strategy.registry import load_strategy

from .support import (
    SETTINGS,
    TRADED,
    USDC,
    SimServer,
    assert_books_match_chain,
    read_books,
    run_bot,
    token_balance,
)


async def test_the_bot_trades_over_http_and_its_books_equal_the_chain(
    sim: SimServer, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        sim_now = (await http.get(f"{sim.jupiter_url}/sim/clock")).json()["now"]
    async with AsyncClient(sim.rpc_url) as client:
        owner = sim.wallet.pubkey()
        usdc_before = await token_balance(client, owner, USDC.mint)
        bot = await run_bot(tmp_path, sim, sim.secret, "--stop-after", "2h", timeout=90)
        assert bot.code == 0, bot.describe()
        books = read_books(tmp_path)
        await assert_books_match_chain(client, books, owner, usdc_before)

    # Two simulated hours in seconds of real time: the bot lived on the sim's clock.
    assert "run summary: 2.0 h of bot time" in bot.out, bot.describe()
    assert bot.seconds < 60
    entries = [o for o in books.orders if o.purpose == "entry" and o.state == "confirmed"]
    assert entries, bot.describe()
    assert min(o.created_at.timestamp() for o in books.orders) >= sim_now
    assert all(OrderState(o.state).terminal for o in books.orders)
    assert len(books.trades) == len([o for o in books.orders if o.state == "confirmed"])
    # The strategy's warm-up came from the sim's history (candles reaching back a full warm-up
    # before the bot started), and the bot built its own candles on the sim's time. At 600x a
    # minute lasts 0.1 s of real time, so a slow tick (the first ones, a tick with orders) can
    # miss a minute: gaps stay gaps (see `market.candles`), but they must stay rare.
    started = re.search(r"the sim's clock \(600x speed\) at (\S+ \S+) UTC", bot.out)
    assert started, bot.out
    start = datetime.fromisoformat(started[1]).replace(tzinfo=UTC).timestamp()
    assert start >= sim_now - 60
    params = json.loads(SETTINGS["SOLBOT_STRATEGY_PARAMS"])
    warmup = load_strategy(SETTINGS["SOLBOT_STRATEGY"], params).samples_needed * 60
    store = CandleStore(tmp_path / "data" / "sim" / "candles")
    for symbol in TRADED:
        times = store.load(symbol, Timeframe.M1).open_time
        assert times[0] <= start - warmup, symbol
        assert (times >= start).sum() >= 0.9 * 120, symbol  # of the run's 120 minutes
