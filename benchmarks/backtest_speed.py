"""Backtest speed: solbot's backtester against vectorbt's `Portfolio.from_signals`, in one run.

What is measured (issue 2):

* Data: `--bars` seeded one-minute OHLCV bars (default 1,000,000). The log close is a random
  walk with 1% noise per bar, a slowly varying drift (an AR(1) "trend regime") and a weak pull
  back to its starting level, so prices stay in a sane range and trend following neither wins
  nor loses astronomically. Each open is the previous close with small noise, and 0.2% of opens
  gap by a few percent, so stops also fill at a gapped open. High and low lie around open and
  close (valid OHLC).
* Strategy: EMA(12)/EMA(26) of the close (`talib.EMA`); entry where the fast EMA crosses above
  the slow one, exit where it crosses below (no signal while either is NaN); long only, all
  cash per entry, 5% stop loss, 0.3% fee per fill, fills at the signal bar's close.
* Engines, fed the same price and signal arrays: `solbot.backtest.engine.simulate` and
  vectorbt 1.2's `Portfolio.from_signals` with `engine="rust"` (vectorbt-rust) and
  `engine="numba"`. Each is called once first (compile / first-call time, reported apart), then
  `--repeats` times in interleaved rounds (so load from elsewhere hits every engine alike); the
  table quotes the median, and the minimum. Only the call itself is timed: vectorbt's call
  produces its order records (trades and equity are derived lazily afterwards); solbot's
  returns the equity curve and the trade log. A second vectorbt figure adds deriving those two
  (`pf.trades.records_arr`, `pf.value()`). Data generation, signals and imports are not timed.
* Agreement: every trade (entry/exit bar, entry/exit price, quantity, fees, PnL), the final
  equity and the whole equity curve must agree to 1e-9 relative (PnL relative to the trade's
  entry value); a position still open at the end counts as a trade marked at the last close
  without exit fee in both engines. The script exits with status 1 if they do not.
* End to end: the default strategy `ema_trend` (indicators included) through
  `backtest_strategy` on the same candles, with the same configuration.

Close fills on purpose: with next-open fills vectorbt checks the stop against the low of the bar
whose open fills a pending exit and books the (worse) stop price, so the engines would differ
for a reason that has nothing to do with speed (see docs/benchmarks.md).

Run: `python benchmarks/backtest_speed.py [--bars N] [--repeats R] [--seed S] [--skip-vectorbt]`
(vectorbt comes with the `bench` extra: `pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import talib
from numba import njit

from solbot.backtest.engine import simulate
from solbot.backtest.result import BacktestConfig, BacktestResult
from solbot.domain import CandleSeries, ExitReason, ExitRules, RiskLimits, Timeframe

T = TypeVar("T")

TOLERANCE = 1e-9  # relative
INITIAL_CASH = 10_000.0
FEE = 0.003  # per fill
STOP = 0.05
FAST, SLOW = 12, 26
START_TIME = 1_704_067_200  # 2024-01-01T00:00:00Z, seconds

# Synthetic market (see the module docstring).
NOISE = 0.01  # per-bar standard deviation of the log return
DRIFT_PERSISTENCE = 0.995  # AR(1) coefficient of the drift
DRIFT_SHOCK = 7.5e-5  # standard deviation of the drift's innovations
MEAN_REVERSION = 1e-4  # pull of the log price towards its start, per bar
GAP_PROBABILITY = 0.002
GAP_SIZE = 0.04  # standard deviation of a gap, in log terms


@dataclass(frozen=True)
class Market:
    open_time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


@dataclass(frozen=True)
class Trades:
    """One engine's round trips in columns, sorted by entry bar."""

    entry_index: np.ndarray
    exit_index: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    quantity: np.ndarray
    fees: np.ndarray
    pnl: np.ndarray

    def __len__(self) -> int:
        return len(self.entry_index)

    def sorted(self) -> Trades:
        order = np.argsort(self.entry_index, kind="stable")
        return Trades(**{name: getattr(self, name)[order] for name in self.__dataclass_fields__})


@dataclass(frozen=True)
class Timing:
    first_s: float
    median_s: float
    runs_s: list[float]


@dataclass(frozen=True)
class EngineRun:
    name: str
    timing: Timing
    trades: Trades
    final_equity: float
    equity: np.ndarray
    with_outputs: Timing | None = None  # vectorbt: the call plus deriving trades and equity


@dataclass(frozen=True)
class Agreement:
    identical: bool
    max_rel_diff: float  # over trade fields, final equity and the equity curve
    detail: str


@njit(cache=True)
def _log_path(
    noise: np.ndarray, drift_shocks: np.ndarray, persistence: float, reversion: float
) -> np.ndarray:
    """Log price relative to the start: x[t] = (1 - reversion) x[t-1] + drift[t] + noise[t],
    drift[t] = persistence * drift[t-1] + drift_shocks[t]."""
    out = np.empty(len(noise))
    x = 0.0
    drift = 0.0
    for t in range(len(noise)):
        drift = persistence * drift + drift_shocks[t]
        x = (1.0 - reversion) * x + drift + noise[t]
        out[t] = x
    return out


def make_market(n: int, seed: int) -> Market:
    """Seeded one-minute bars with valid OHLC (low <= open, close <= high; all positive)."""
    rng = np.random.default_rng(seed)
    log_close = _log_path(
        rng.normal(0.0, NOISE, n),
        rng.normal(0.0, DRIFT_SHOCK, n),
        DRIFT_PERSISTENCE,
        MEAN_REVERSION,
    )
    close = 100.0 * np.exp(log_close)
    previous = np.concatenate(([100.0], close[:-1]))
    gap = rng.normal(0.0, NOISE / 10.0, n)
    jumps = rng.random(n) < GAP_PROBABILITY
    gap[jumps] += rng.normal(0.0, GAP_SIZE, int(jumps.sum()))
    open_ = previous * np.exp(gap)
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, NOISE / 2.0, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, NOISE / 2.0, n)))
    volume = rng.lognormal(10.0, 1.0, n)
    open_time = START_TIME + 60 * np.arange(n, dtype=np.int64)
    return Market(open_time, open_, high, low, close, volume)


def crossover_signals(close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EMA(12)/EMA(26) crossings: entries where fast crosses above slow, exits where it crosses
    below; False wherever either EMA (now or on the previous bar) is NaN."""
    fast = talib.EMA(close, timeperiod=FAST)
    slow = talib.EMA(close, timeperiod=SLOW)
    valid = ~(np.isnan(fast) | np.isnan(slow))
    both = valid[1:] & valid[:-1]
    entries = np.zeros(len(close), dtype=np.bool_)
    exits = np.zeros(len(close), dtype=np.bool_)
    entries[1:] = both & (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1])
    exits[1:] = both & (fast[1:] < slow[1:]) & (fast[:-1] >= slow[:-1])
    return entries, exits


def solbot_config() -> BacktestConfig:
    return BacktestConfig(
        initial_cash=INITIAL_CASH,
        fee_bps=FEE * 10_000.0,
        slippage_bps=0.0,
        price_impact=False,
        fill="close",
        risk=RiskLimits(
            position_size_pct=100.0,
            max_position_pct=100.0,
            max_daily_loss_pct=100.0,
            max_drawdown_pct=100.0,
            max_open_positions=1,
            cooldown_losses=0,
            fee_reserve_sol=0.0,
        ),
        exits=ExitRules(stop_loss_pct=STOP * 100.0),
    )


def time_calls(fn: Callable[[], T], repeats: int) -> tuple[Timing, T]:
    """One first call (compilation, caches), then `repeats` timed calls; returns the timing
    and the last result."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    runs = []
    for _ in range(repeats):
        del result
        gc.collect()
        start = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - start)
    return Timing(first, statistics.median(runs), runs), result


def race(
    calls: dict[str, Callable[[], Any]],
    repeats: int,
    keep: Callable[[str, Any], Any] | None = None,
) -> dict[str, tuple[Timing, Any]]:
    """Like `time_calls` for several contenders, with the timed calls interleaved: round r runs
    each contender once (in an order rotated every round), so a burst of load from elsewhere on
    the machine hits all of them alike. Returns each one's timing and last result, or what
    `keep(name, result)` makes of it (untimed: a large result need not stay alive whole)."""
    names = list(calls)
    results: dict[str, Any] = {}
    firsts: dict[str, float] = {}

    def timed(name: str) -> float:
        results[name] = None
        gc.collect()
        start = time.perf_counter()
        result = calls[name]()
        took = time.perf_counter() - start
        results[name] = result if keep is None else keep(name, result)
        return took

    for name in names:
        firsts[name] = timed(name)
    runs: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            runs[name].append(timed(name))
    return {
        name: (Timing(firsts[name], statistics.median(runs[name]), runs[name]), results[name])
        for name in names
    }


def solbot_trades(result: BacktestResult) -> Trades:
    t = result.trades
    return Trades(
        t.entry_index.astype(np.int64),
        t.exit_index.astype(np.int64),
        t.entry_price,
        t.exit_price,
        t.quantity,
        t.fees,
        t.pnl,
    ).sorted()


SOLBOT = "solbot simulate"
OUTPUTS = " + outputs"


def solbot_call(market: Market, entries: np.ndarray, exits: np.ndarray) -> Callable[[], Any]:
    config = solbot_config()

    def call() -> BacktestResult:
        return simulate(
            market.open_time,
            market.open,
            market.high,
            market.low,
            market.close,
            entries,
            exits,
            config=config,
            tokens=("X",),
            timeframe=Timeframe.M1,
        )

    return call


def vectorbt_calls(
    engine: str, market: Market, entries: np.ndarray, exits: np.ndarray
) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """`from_signals` on one engine; and the same followed by deriving trades and equity."""
    import vectorbt as vbt

    def call() -> Any:
        return vbt.Portfolio.from_signals(
            market.close,
            entries,
            exits,
            open=market.open,
            high=market.high,
            low=market.low,
            direction="longonly",
            size=np.inf,  # all available cash
            init_cash=INITIAL_CASH,
            fees=FEE,
            sl_stop=STOP,  # checked from the bar after the entry, against the low
            price=np.inf,  # fill at the close
            engine=engine,
        )

    def call_with_outputs() -> tuple[Any, Any]:
        pf = call()
        return pf.trades.records_arr, pf.value()

    return call, call_with_outputs


def vectorbt_name(engine: str) -> str:
    import vectorbt as vbt

    return f"vectorbt {vbt.__version__} {engine}"


def vectorbt_run(name: str, timing: Timing, pf: Any, with_outputs: Timing) -> EngineRun:
    records = pf.trades.records_arr
    trades = Trades(
        records["entry_idx"].astype(np.int64),
        records["exit_idx"].astype(np.int64),
        records["entry_price"],
        records["exit_price"],
        records["size"],
        records["entry_fees"] + records["exit_fees"],
        records["pnl"],
    ).sorted()
    equity = np.asarray(pf.value(), dtype=np.float64).reshape(-1)
    return EngineRun(name, timing, trades, float(pf.final_value()), equity, with_outputs)


def _rel(a: np.ndarray, b: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    denom = np.maximum(np.abs(a), np.abs(b)) if scale is None else np.abs(scale)
    diff = np.abs(a - b)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(diff == 0.0, 0.0, diff / denom)
    return np.nan_to_num(rel, nan=math.inf)


def compare(reference: EngineRun, other: EngineRun) -> Agreement:
    """Trade by trade, then final equity and the equity curve, to `TOLERANCE` relative."""
    a, b = reference.trades, other.trades
    if len(a) != len(b):
        return Agreement(False, math.inf, f"{len(a)} trades vs {len(b)}")
    idx_mismatch = np.flatnonzero((a.entry_index != b.entry_index) | (a.exit_index != b.exit_index))
    if len(idx_mismatch):
        i = int(idx_mismatch[0])
        return Agreement(
            False,
            math.inf,
            f"{len(idx_mismatch)} trades on other bars; first: trade {i} "
            f"bars {a.entry_index[i]}->{a.exit_index[i]} vs {b.entry_index[i]}->{b.exit_index[i]}",
        )
    entry_value = a.quantity * a.entry_price
    diffs = {
        "entry_price": _rel(a.entry_price, b.entry_price),
        "exit_price": _rel(a.exit_price, b.exit_price),
        "quantity": _rel(a.quantity, b.quantity),
        "fees": _rel(a.fees, b.fees),
        "pnl": _rel(a.pnl, b.pnl, scale=entry_value),
    }
    worst_field, worst = "", 0.0
    for field, rel in diffs.items():
        m = float(rel.max()) if len(rel) else 0.0
        if m > worst:
            worst_field, worst = field, m
    final = float(_rel(np.array([reference.final_equity]), np.array([other.final_equity]))[0])
    if len(reference.equity) == len(other.equity):
        curve = float(_rel(reference.equity, other.equity).max()) if len(other.equity) else 0.0
    else:
        curve = math.inf
    overall = max(worst, final, curve)
    detail = (
        f"trades {worst:.1e}"
        + (f" ({worst_field})" if worst_field else "")
        + f", final equity {final:.1e}, equity curve {curve:.1e}"
    )
    if worst > TOLERANCE:
        rel = diffs[worst_field]
        i = int(np.argmax(rel))
        ours, theirs = float(getattr(a, worst_field)[i]), float(getattr(b, worst_field)[i])
        detail += (
            f"; worst trade {i} (bars {a.entry_index[i]}->{a.exit_index[i]}): "
            f"{worst_field} {ours!r} vs {theirs!r}"
        )
    return Agreement(overall <= TOLERANCE, overall, detail)


def run_end_to_end(market: Market, repeats: int) -> tuple[Timing, BacktestResult] | str:
    """The default strategy through `backtest_strategy`; a message if it cannot be run."""
    try:
        from solbot.backtest.engine import backtest_strategy
        from solbot.strategy.registry import load_strategy
    except ImportError as exc:
        return f"not run: {exc}"
    series = CandleSeries(
        Timeframe.M1,
        market.open_time,
        market.open,
        market.high,
        market.low,
        market.close,
        market.volume,
    )
    strategy = load_strategy("ema_trend", {})
    config = solbot_config()
    return time_calls(lambda: backtest_strategy(strategy, {"X": series}, config), repeats)


def _fmt_seconds(s: float) -> str:
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def print_table(runs: list[EngineRun], n: int) -> None:
    solbot_median = runs[0].timing.median_s
    header = (
        f"{'engine':<24} {'first call s':>12} {'median s':>9} {'min s':>7} {'M bars/s':>9} "
        f"{'t / t_solbot':>12} {'trades':>7} {'final equity':>17}"
    )
    print(header)
    print("-" * len(header))
    for run in runs:
        t = run.timing
        print(
            f"{run.name:<24} {_fmt_seconds(t.first_s):>12} {t.median_s:>9.4f} "
            f"{min(t.runs_s):>7.4f} "
            f"{n / t.median_s / 1e6:>9.2f} {t.median_s / solbot_median:>12.2f} "
            f"{len(run.trades):>7} {run.final_equity:>17.10g}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bars", type=int, default=1_000_000, help="bars to simulate")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls after the first")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic market")
    parser.add_argument(
        "--skip-vectorbt", action="store_true", help="time solbot only (no bench extras needed)"
    )
    args = parser.parse_args(argv)
    if args.bars < SLOW + 2:
        parser.error(f"--bars must be at least {SLOW + 2}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.bars
    market = make_market(n, args.seed)
    entries, exits = crossover_signals(market.close)
    print(
        f"{n:,} one-minute bars (seed {args.seed}); EMA({FAST})/EMA({SLOW}) crossover, long only, "
        f"{STOP:.0%} stop, {FEE:.1%} fee per fill, close fills, all cash per entry"
    )
    print(
        f"signals: {int(entries.sum()):,} entries, {int(exits.sum()):,} exits; "
        f"median of {args.repeats} timed calls after a first call, engines interleaved"
    )

    calls: dict[str, Callable[[], Any]] = {SOLBOT: solbot_call(market, entries, exits)}
    engines = () if args.skip_vectorbt else ("rust", "numba")
    if engines:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import vectorbt  # noqa: F401  (import time is not part of any figure)
    for engine in engines:
        call, call_with_outputs = vectorbt_calls(engine, market, entries, exits)
        calls[vectorbt_name(engine)] = call
        calls[vectorbt_name(engine) + OUTPUTS] = call_with_outputs
    timed = race(calls, args.repeats)

    solbot_timing, solbot_result = timed[SOLBOT]
    solbot_run = EngineRun(
        SOLBOT,
        solbot_timing,
        solbot_trades(solbot_result),
        solbot_result.final_equity,
        solbot_result.equity,
    )
    reasons = solbot_result.trades.reason
    stop_rows = reasons == int(ExitReason.STOP_LOSS)
    gapped = stop_rows & (
        solbot_result.trades.exit_price == market.open[solbot_result.trades.exit_index]
    )
    runs = [solbot_run]
    agreements: list[tuple[str, Agreement]] = []
    for engine in engines:
        name = vectorbt_name(engine)
        timing, pf = timed[name]
        run = vectorbt_run(name, timing, pf, timed[name + OUTPUTS][0])
        runs.append(run)
        agreements.append((run.name, compare(solbot_run, run)))

    print()
    print_table(runs, n)
    for run in runs:
        if run.with_outputs is not None:
            t = run.with_outputs.median_s
            print(
                f"  {run.name}, call + trades + equity curve (what solbot's call returns): "
                f"median {t:.4f} s, {n / t / 1e6:.2f} M bars/s"
            )
    print(
        f"\nsolbot exits: {int(stop_rows.sum()):,} stop losses ({int(gapped.sum()):,} at a gapped "
        f"open), {int((reasons == int(ExitReason.SIGNAL)).sum()):,} signal exits, "
        f"{int((reasons == int(ExitReason.END_OF_DATA)).sum())} open at the end"
    )
    # Cases the engines handle differently (docs/benchmarks.md); crossovers never produce them.
    conflicts = int((entries & exits).sum())
    reentries = int(entries[solbot_result.trades.exit_index[stop_rows]].sum())
    print(
        f"bars where the engines' rules differ: {conflicts} with both an entry and an exit signal, "
        f"{reentries} with an entry signal on a stop-loss bar"
    )

    ok = True
    if agreements:
        print(f"\nagreement with solbot (tolerance {TOLERANCE:g} relative):")
        for name, agreement in agreements:
            verdict = "yes" if agreement.identical else "NO"
            print(
                f"  {name:<24} trades identical: {verdict} "
                f"(max relative diff {agreement.max_rel_diff:.1e}: {agreement.detail})"
            )
            ok = ok and agreement.identical
        fastest = min(runs[1:], key=lambda r: r.timing.median_s)
        ratio = fastest.timing.median_s / solbot_run.timing.median_s
        verdict = "met" if ratio >= 1.0 else "NOT met"
        print(
            f"  target (solbot at least as fast as the fastest vectorbt engine, {fastest.name}): "
            f"{verdict}, solbot {ratio:.2f}x its speed"
        )

    end_to_end = run_end_to_end(market, args.repeats)
    print("\nend to end, default strategy 'ema_trend' (indicators included), backtest_strategy:")
    if isinstance(end_to_end, str):
        print(f"  {end_to_end}")
    else:
        timing, result = end_to_end
        print(
            f"  first call {_fmt_seconds(timing.first_s)} s, median {timing.median_s:.4f} s, "
            f"{n / timing.median_s / 1e6:.2f} M bars/s, {len(result.trades):,} trades, "
            f"final equity {result.final_equity:.10g}"
        )
    if not ok:
        print("\nFAIL: engines disagree beyond the tolerance", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
