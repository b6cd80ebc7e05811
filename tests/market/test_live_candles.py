"""The candles a run builds reach its store: the first at once, the next in batches of at most
`SAVE_SECONDS` of wall time (rewriting a token's file per candle took a third of a fast run),
and every one kept by `save`, which the end of a run calls."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from solbot.domain import Timeframe, TokenInfo
from solbot.market import live
from solbot.market.live import LiveCandles
from solbot.market.store import CandleStore
from solbot.strategy.registry import load_strategy

JUP = TokenInfo("JUP", "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN", 6, pool="")
TF = Timeframe.M1


def test_closed_candles_are_stored_in_batches_and_all_at_a_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall = [1000.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: wall[0])
    store = CandleStore(tmp_path)
    market = LiveCandles([JUP], load_strategy("ema_trend", {}), TF, store)

    def minute(n: int) -> None:  # a tick in minute n closes minute n - 1
        for symbol, candle in market.observe({JUP.mint: Decimal(1 + n)}, 60.0 * n):
            market.keep({symbol: candle})

    minute(0)
    minute(1)
    assert len(store.load("JUP", TF)) == 1  # the first closed candle, at once
    minute(2)
    minute(3)
    assert len(store.load("JUP", TF)) == 1  # within SAVE_SECONDS of wall time: kept
    wall[0] += live.SAVE_SECONDS
    minute(4)
    assert list(store.load("JUP", TF).close) == [1.0, 2.0, 3.0, 4.0]
    minute(5)
    market.save()
    assert list(store.load("JUP", TF).close) == [1.0, 2.0, 3.0, 4.0, 5.0]
