"""Optimize speed: a 1,000-set EMA-crossover grid over 8 tokens, solbot's fused sweep against
vectorbt's broadcast `from_signals`, in one run, signals included (issue 13).

What is measured:

* Data: 8 tokens × `--bars` hourly candles (default 8,760: a year), each token the seeded
  synthetic market of `backtest_speed.py` (random walk, drift regimes, gapped opens) with its
  own seed, open times one hour apart.
* GridResult: EMA(fast)/EMA(slow) crossover for fast in 2..41 and slow in 45, 50, ..., 165: 1,000
  sets, 65 distinct periods; each (set, token) column trades that token alone: long only, all
  cash per entry, 5% stop loss, 0.3% fee per fill, fills at the signal bar's close. 8,000
  columns, 70 million (column, bar) cells.
* solbot: `solbot.backtest.crossover_grid.ema_crossover_grid` (TA-Lib's EMA once per distinct period
  and token, each column's signals and simulation fused, on every core via numba).
* vectorbt 1.2, signals included: TA-Lib's EMA through vectorbt's own
  `IndicatorFactory.from_talib("EMA")` for the fast and the slow period lists,
  `real_crossed_above`/`real_crossed_below` for entries and exits, then
  `Portfolio.from_signals` on the token prices broadcast to the grid, with `engine="rust"` and
  `engine="numba"`; the figure ends with each column's final value (`pf.final_value()`), what
  solbot's call returns. The target is set against the faster of these two.
* vectorbt's floor, for scale: `from_signals` alone on ready numpy signals and the prices tiled
  to the grid's 8,000 columns (no indicator, no crossing, no pandas alignment), each engine.
* Timing: each contender once first (compile, caches), then `--repeats` interleaved rounds; the
  median is quoted.
* Agreement (not timed): every column's trade count and final equity (1e-9 relative), and every
  trade of every column (entry and exit bar, prices, quantity, fees, PnL) against
  `crossover_grid.column`, the same backtest through the strategy library's indicators and
  `simulate`.
  Exit status 1 if anything differs.

Run: `python benchmarks/optimize_speed.py [--bars N] [--repeats R] [--seed S] [--skip-vectorbt]`
(vectorbt comes with the `bench` extra: `pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from backtest_speed import (
    FEE,
    INITIAL_CASH,
    STOP,
    TOLERANCE,
    Timing,
    make_market,
    race,
    solbot_config,
)
from solbot.backtest.crossover_grid import GridResult, column, ema_crossover_grid
from solbot.backtest.result import BacktestConfig
from solbot.domain import CandleSeries, Timeframe

SOLBOT = "solbot crossover grid"
TOKENS = ("SOL", "JUP", "BONK", "WIF", "PYTH", "JTO", "RAY", "ORCA")
FAST = list(range(2, 42))  # 40 values
SLOW = list(range(45, 170, 5))  # 25 values
START_TIME = 1_704_067_200  # 2024-01-01T00:00:00Z
HOUR = 3600


def grid() -> tuple[list[int], list[int]]:
    pairs = [(f, s) for f in FAST for s in SLOW]
    return [f for f, _ in pairs], [s for _, s in pairs]


def make_tokens(bars: int, seed: int) -> dict[str, CandleSeries]:
    series = {}
    for k, symbol in enumerate(TOKENS):
        m = make_market(bars, seed + k)
        times = START_TIME + HOUR * np.arange(bars, dtype=np.int64)
        series[symbol] = CandleSeries(Timeframe.H1, times, m.open, m.high, m.low, m.close, m.volume)
    return series


def config() -> BacktestConfig:
    return solbot_config()  # all cash, 5% stop, 0.3% fee, close fills, no breakers in the way


def solbot_call(series: dict[str, CandleSeries]) -> Callable[[], GridResult]:
    fast, slow = grid()
    cfg = config()
    return lambda: ema_crossover_grid(series, fast, slow, cfg)


BARE = ", from_signals alone"


@dataclass(frozen=True)
class VectorbtOutcome:
    """What is kept of a vectorbt call (untimed), so that four portfolios of 8,000 columns need
    not stay in memory: each column's final value, its trade records, and the column labels."""

    final: np.ndarray
    records: np.ndarray
    columns: Any


def keep(name: str, result: Any) -> Any:
    if name == SOLBOT:
        return result
    pf, final = result
    return VectorbtOutcome(np.asarray(final, dtype=np.float64).reshape(-1),
                           pf.trades.records_arr, pf.wrapper.columns)  # fmt: skip


def vectorbt_calls(series: dict[str, CandleSeries], engines: tuple[str, ...]) -> dict[str, Any]:
    """Per engine: signals and portfolio as a vectorbt user writes a broadcast grid (signals
    included); and `from_signals` alone, on ready numpy signals and prices tiled to the grid
    (vectorbt's floor: no indicator, no pandas alignment)."""
    import pandas as pd
    import vectorbt as vbt

    columns = pd.Index(list(series), name="token")
    frame = {
        name: pd.DataFrame(
            np.column_stack([getattr(s, name) for s in series.values()]), columns=columns
        )
        for name in ("open", "high", "low", "close")
    }
    ema = vbt.IndicatorFactory.from_talib("EMA")
    fast, slow = grid()

    def signals() -> tuple[Any, Any]:
        fast_ema = ema.run(frame["close"], timeperiod=fast, short_name="fast")
        slow_ema = ema.run(frame["close"], timeperiod=slow, short_name="slow")
        return fast_ema.real_crossed_above(slow_ema.real), fast_ema.real_crossed_below(
            slow_ema.real
        )

    def portfolio(engine: str, prices: dict[str, Any], entries: Any, exits: Any) -> Any:
        pf = vbt.Portfolio.from_signals(
            prices["close"], entries, exits, open=prices["open"], high=prices["high"],
            low=prices["low"], direction="longonly", size=np.inf, init_cash=INITIAL_CASH,
            fees=FEE, sl_stop=STOP, price=np.inf, engine=engine,
        )  # fmt: skip
        return pf, pf.final_value()

    ready_entries, ready_exits = (np.ascontiguousarray(m.values) for m in signals())
    tiled = {name: np.tile(m.values, (1, len(fast))) for name, m in frame.items()}
    calls: dict[str, Any] = {}
    for engine in engines:
        name = f"vectorbt {vbt.__version__} {engine}"
        calls[name] = lambda engine=engine: portfolio(engine, frame, *signals())
        calls[name + BARE] = lambda engine=engine: portfolio(
            engine, tiled, ready_entries, ready_exits
        )
    return calls


def check_columns(sweep: GridResult, theirs: VectorbtOutcome) -> str | None:
    """Each column's final equity and trade count against vectorbt's; None when they agree."""
    fast, slow = grid()
    if theirs.columns.nlevels > 1:
        expected_order = (
            np.repeat(fast, len(TOKENS)),
            np.repeat(slow, len(TOKENS)),
            np.tile(TOKENS, len(fast)),
        )
        levels = ("fast_timeperiod", "slow_timeperiod", "token")
        for level, want in zip(levels, expected_order, strict=True):
            if not np.array_equal(np.asarray(theirs.columns.get_level_values(level)), want):
                return f"vectorbt's columns are not in the grid's order ({level})"
    final = theirs.final.reshape(len(fast), len(TOKENS))
    rel = np.abs(final - sweep.final_equity) / np.abs(final)
    if float(rel.max()) > TOLERANCE:
        i, k = np.unravel_index(int(np.argmax(rel)), rel.shape)
        return (
            f"final equity differs by {rel.max():.1e} at fast {fast[i]} slow {slow[i]} "
            f"{TOKENS[k]}: {sweep.final_equity[i, k]!r} vs {final[i, k]!r}"
        )
    counts = np.bincount(theirs.records["col"], minlength=len(fast) * len(TOKENS))
    ours = sweep.trades.reshape(-1)
    if not np.array_equal(counts, ours):
        bad = int(np.flatnonzero(counts != ours)[0])
        return f"trade count differs in column {bad}: {ours[bad]} vs {counts[bad]}"
    return None


def check_trades(
    series: dict[str, CandleSeries], sweep: GridResult, theirs: VectorbtOutcome | None
) -> str | None:
    """Every trade of every column, through `crossover_grid.column` (indicators + `simulate`),
    against the sweep's figures and, when given, vectorbt's trade records."""
    fast, slow = grid()
    cfg = config()
    records = None
    if theirs is not None:
        records = theirs.records[np.lexsort((theirs.records["entry_idx"], theirs.records["col"]))]
    offset = 0
    for i, (f, s) in enumerate(zip(fast, slow, strict=True)):
        for k, candles in enumerate(series.values()):
            reference = column(candles, f, s, cfg)
            t = reference.trades
            where = f"fast {f} slow {s} {TOKENS[k]}"
            if reference.final_equity != sweep.final_equity[i, k] or len(t) != sweep.trades[i, k]:
                return f"the sweep differs from its column's backtest at {where}"
            if records is None:
                continue
            theirs = records[offset : offset + len(t)]
            offset += len(t)
            order = np.argsort(t.entry_index, kind="stable")
            if not (
                np.array_equal(theirs["entry_idx"], t.entry_index[order])
                and np.array_equal(theirs["exit_idx"], t.exit_index[order])
            ):
                return f"trades on other bars at {where}"
            checks = {
                "entry_price": (t.entry_price[order], theirs["entry_price"], None),
                "exit_price": (t.exit_price[order], theirs["exit_price"], None),
                "quantity": (t.quantity[order], theirs["size"], None),
                "fees": (t.fees[order], theirs["entry_fees"] + theirs["exit_fees"], None),
                "pnl": (t.pnl[order], theirs["pnl"], t.entry_value[order]),  # as backtest_speed
            }
            for name, (ours, other, scale) in checks.items():
                bound = np.maximum(np.abs(ours), np.abs(other)) if scale is None else scale
                if bool((np.abs(ours - other) > TOLERANCE * bound).any()):
                    return f"{name} differs at {where}"
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=8760, help="hourly bars per token")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the first")
    parser.add_argument("--seed", type=int, default=11, help="seed of the first token's market")
    parser.add_argument("--skip-vectorbt", action="store_true", help="time solbot only")
    args = parser.parse_args(argv)
    if args.bars < max(SLOW) + 2:
        parser.error(f"--bars must be at least {max(SLOW) + 2}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    series = make_tokens(args.bars, args.seed)
    fast, _slow = grid()
    cells = len(fast) * len(TOKENS) * args.bars
    print(
        f"{len(fast):,} sets × {len(TOKENS)} tokens × {args.bars:,} hourly bars = "
        f"{cells / 1e6:.1f} M cells; {os.cpu_count()} cores; median of {args.repeats} "
        "interleaved calls after a first"
    )
    calls: dict[str, Callable[[], Any]] = {SOLBOT: solbot_call(series)}
    engines = () if args.skip_vectorbt else ("rust", "numba")
    if engines:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            calls.update(vectorbt_calls(series, engines))  # imports and set-up not timed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        timed = race(calls, args.repeats, keep)

    solbot_timing: Timing = timed[SOLBOT][0]
    sweep: GridResult = timed[SOLBOT][1]
    header = (
        f"{'contender':<42} {'first call s':>12} {'median s':>9} {'min s':>7} "
        f"{'M cells/s':>10} {'÷ solbot':>9}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, (timing, _result) in timed.items():
        print(
            f"{name:<42} {timing.first_s:>12.2f} {timing.median_s:>9.3f} "
            f"{min(timing.runs_s):>7.3f} {cells / timing.median_s / 1e6:>10.1f} "
            f"{timing.median_s / solbot_timing.median_s:>9.2f}"
        )
    print(
        f"\nsolbot: {int(sweep.trades.sum()):,} trades; best set by mean return over the tokens: "
        + _best(sweep)
    )

    problems = []
    started = time.perf_counter()
    theirs = None
    for name, (_timing, result) in timed.items():
        if name == SOLBOT:
            continue
        theirs = result
        problem = check_columns(sweep, theirs)
        if problem:
            problems.append(f"{name}: {problem}")
    problem = check_trades(series, sweep, theirs)
    if problem:
        problems.append(problem)
    print(
        "agreement: every column's trades and final equity"
        + (" against each vectorbt contender's and" if theirs is not None else "")
        + f" against indicators + simulate: {'yes' if not problems else 'NO'} "
        f"(checked in {time.perf_counter() - started:.1f} s)"
    )
    if engines:
        included = [n for n in timed if n != SOLBOT and not n.endswith(BARE)]
        fastest = min(included, key=lambda n: timed[n][0].median_s)
        ratio = timed[fastest][0].median_s / solbot_timing.median_s
        met = ratio >= 4.0 and solbot_timing.median_s < 3.0
        print(
            f"target (at least 4× the fastest vectorbt engine with its signals, {fastest}, and "
            f"under 3 s): {'met' if met else 'NOT met'}: {ratio:.1f}×, "
            f"{solbot_timing.median_s:.2f} s"
        )
        floor = min((n for n in timed if n.endswith(BARE)), key=lambda n: timed[n][0].median_s)
        print(
            f"against vectorbt's floor ({floor}: signals ready, prices tiled): "
            f"{timed[floor][0].median_s / solbot_timing.median_s:.1f}×"
        )
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _best(sweep: GridResult) -> str:
    mean = sweep.return_pct.mean(axis=1)
    i = int(np.argmax(mean))
    return f"EMA({sweep.fast[i]})/EMA({sweep.slow[i]}), {mean[i]:+.1f} % a token"


if __name__ == "__main__":
    sys.exit(main())
