"""Loading a token's stored candles: one million 1-minute bars (about two years) from the
Parquet candle store, as a backtest or the live loop's warm-up does.

Medians of `--repeats` loads after one warm-up load (the file in the page cache, as on a bot
that has been running). The goal it watches: a million bars under half a second.

Run: `python benchmarks/candle_store.py [--bars 1000000] [--repeats 7]`
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from solbot.domain import Timeframe
from solbot.market.store import CandleStore
from solbot.market.synth import synth_candles

T0 = 1_704_067_200  # 2024-01-01 00:00 UTC: a candle start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = CandleStore(Path(folder))
        store.save("SOL", synth_candles(Timeframe.M1, args.bars, seed=3, start_time=T0))
        store.load("SOL", Timeframe.M1)  # warm-up
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            loaded = store.load("SOL", Timeframe.M1)
            times.append(time.perf_counter() - began)
        assert len(loaded) == args.bars
    median = statistics.median(times)
    print(f"{args.bars:,} bars: median load {median * 1000:.1f} ms over {args.repeats} loads")
    print(f"goal: under 500 ms -> {'met' if median < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
