"""A grid of EMA crossovers over many tokens, fused: every (parameter set, token) pair simulated
on its own by the compiled kernel, in parallel on every core.

A research grid of 1,000 (fast, slow) sets over 8 tokens and a year of hourly candles is 70
million (set, token, bar) cells. Building the signals of every column first (what a broadcast
`from_signals` does) costs gigabytes and most of the time. Here nothing of that size exists:

- each distinct period's EMA is computed once per token (TA-Lib's recursion operation for
  operation, so the numbers are those `strategy.indicators.ema` gives, bit for bit);
- a column's entries and exits (`crossed_above`/`crossed_below` of its two EMA rows) are written
  into a buffer of one token's length and simulated at once by `kernel.run`, the same kernel,
  rules and costs as every backtest;
- each column is its own portfolio with the configured cash, exits and breakers: "how would
  this set have traded this token alone". Only its figures come back (final equity, trades,
  wins, maximum drawdown); `column` replays one column through `simulate` when its trades are
  wanted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from solbot.backtest import kernel
from solbot.backtest.engine import kernel_settings, simulate
from solbot.backtest.result import BacktestConfig, BacktestResult
from solbot.domain import BoolArray, CandleSeries, FloatArray, IntArray
from solbot.strategy import indicators as ind


@dataclass(frozen=True)
class GridResult:
    """Per parameter set (rows) and token (columns): what each column's backtest ended with."""

    tokens: tuple[str, ...]
    fast: IntArray
    slow: IntArray
    initial_cash: float
    final_equity: FloatArray
    trades: IntArray
    wins: IntArray
    max_drawdown_pct: FloatArray

    @property
    def return_pct(self) -> FloatArray:
        return 100.0 * (self.final_equity / self.initial_cash - 1.0)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _ema_into(close: np.ndarray, period: int, out: np.ndarray) -> None:
    """TA-Lib's EMA with its classic seed (the mean of the first `period` values), operation for
    operation; NaN before the seed and from the first gap after the first value on (as
    `indicators.ema`, which blanks everything after an interior gap). The TA-Lib build solbot
    installs fuses the recursion's multiply and add into one rounding (an FMA; found by exact
    arithmetic: plain rounding differs from it by one ulp now and then); `contract` lets LLVM
    do the same, and the test against `indicators.ema` holds it to every bit."""
    n = len(close)
    out[:] = np.nan
    begin = 0
    while begin < n and math.isnan(close[begin]):
        begin += 1
    end = begin
    while end < n and not math.isnan(close[end]):
        end += 1
    if end - begin < period:
        return
    total = 0.0
    for i in range(begin, begin + period):
        total += close[i]
    previous = total / period
    out[begin + period - 1] = previous
    k = 2.0 / (period + 1)
    for i in range(begin + period, end):
        previous = ((close[i] - previous) * k) + previous
        out[i] = previous


@njit(cache=True, parallel=True)
def _emas(close: np.ndarray, lengths: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """(periods, tokens, bars): each distinct period's EMA of each token, computed once."""
    n_periods, n_tokens, n = len(periods), close.shape[0], close.shape[1]
    out = np.full((n_periods, n_tokens, n), np.nan)
    for job in prange(n_periods * n_tokens):
        p, k = job // n_tokens, job % n_tokens
        m = lengths[k]
        _ema_into(close[k, :m, 0], periods[p], out[p, k, :m])
    return out


@njit(cache=True, nogil=True)
def _crossings(fast: np.ndarray, slow: np.ndarray, entries: np.ndarray, exits: np.ndarray) -> int:
    """`indicators.crossed_above`/`crossed_below` of two rows (False wherever a value is NaN:
    every comparison with NaN is False); returns the number of entries (`trade_capacity`)."""
    entries[0, 0] = False
    exits[0, 0] = False
    count = 0
    for i in range(1, len(fast)):
        entries[i, 0] = fast[i] > slow[i] and fast[i - 1] <= slow[i - 1]
        exits[i, 0] = fast[i] < slow[i] and fast[i - 1] >= slow[i - 1]
        count += entries[i, 0]
    return count


@njit(cache=True, parallel=True)
def _grid(
    times: np.ndarray,
    lengths: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    emas: np.ndarray,
    fast: np.ndarray,
    slow: np.ndarray,
    bar_seconds: float,
    default_stop: float,
    default_target: float,
    trail: float,
    max_hold_seconds: float,
    fee: float,
    slippage: float,
    next_open: bool,
    initial_cash: float,
    reserve: float,
    limits: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_sets, n_tokens = len(fast), times.shape[0]
    final = np.empty((n_sets, n_tokens))
    trades = np.zeros((n_sets, n_tokens), dtype=np.int64)
    wins = np.zeros((n_sets, n_tokens), dtype=np.int64)
    drawdown = np.zeros((n_sets, n_tokens))
    no_suggestions = np.empty((0, 1))
    depth = np.zeros(1)
    for column in prange(n_sets * n_tokens):
        s, k = column // n_tokens, column % n_tokens
        m = lengths[k]
        if m == 0:
            final[s, k] = initial_cash
            continue
        entries = np.empty((m, 1), dtype=np.bool_)
        exits = np.empty((m, 1), dtype=np.bool_)
        capacity = _crossings(emas[fast[s], k, :m], emas[slow[s], k, :m], entries, exits)
        book = np.empty((capacity, kernel.T_COLUMNS))
        refused = np.empty((capacity, kernel.R_COLUMNS))
        equity, _exposure, n_trades, _blocked, _refused = kernel.run(
            times[k, :m], bar_seconds, open_[k, :m], high[k, :m], low[k, :m], close[k, :m],
            entries, exits, no_suggestions, no_suggestions, default_stop, default_target, trail,
            max_hold_seconds, fee, slippage, depth, next_open, initial_cash, reserve, limits,
            book, refused,
        )  # fmt: skip
        final[s, k] = equity[m - 1]
        trades[s, k] = n_trades
        won = 0
        for t in range(n_trades):
            won += book[t, kernel.T_PNL] > 0.0
        wins[s, k] = won
        peak, worst = initial_cash, 0.0
        for t in range(m):
            peak = max(peak, equity[t])
            worst = max(worst, 1.0 - equity[t] / peak)
        drawdown[s, k] = 100.0 * worst
    return final, trades, wins, drawdown


def _check_sets(fast: Sequence[int], slow: Sequence[int]) -> tuple[IntArray, IntArray]:
    f = np.asarray(fast, dtype=np.int64)
    s = np.asarray(slow, dtype=np.int64)
    if f.ndim != 1 or f.shape != s.shape or len(f) == 0:
        raise ValueError("fast and slow must be equally long, non-empty lists of periods")
    if int(min(f.min(), s.min())) < 2:
        raise ValueError("an EMA period must be at least 2")
    if bool((f >= s).any()):
        raise ValueError("every fast period must be below its slow period")
    return f, s


def ema_crossover_grid(
    series: Mapping[str, CandleSeries],
    fast: Sequence[int],
    slow: Sequence[int],
    config: BacktestConfig,
) -> GridResult:
    """Backtest EMA(fast[i])/EMA(slow[i]) crossovers (entry where fast crosses above slow, exit
    where it crosses below) on each token alone, for every set i; see the module docstring."""
    f, s = _check_sets(fast, slow)
    if not series:
        raise ValueError("no candles to backtest")
    timeframes = {c.timeframe for c in series.values()}
    if len(timeframes) != 1:
        raise ValueError("all tokens must share one timeframe")
    periods, position = np.unique(np.concatenate((f, s)), return_inverse=True)
    lengths = np.array([len(c) for c in series.values()], dtype=np.int64)
    n = int(lengths.max())
    times = np.zeros((len(series), n), dtype=np.int64)
    columns = {name: np.full((len(series), n, 1), np.nan) for name in ("open", "high", "low")}
    columns["close"] = np.full((len(series), n, 1), np.nan)
    for k, candles in enumerate(series.values()):
        m = len(candles)
        times[k, :m] = candles.open_time
        for name, matrix in columns.items():
            matrix[k, :m, 0] = getattr(candles, name)
    emas = _emas(columns["close"], lengths, periods)
    run = kernel_settings(config, timeframes.pop())
    final, trades, wins, drawdown = _grid(
        times, lengths, columns["open"], columns["high"], columns["low"], columns["close"], emas,
        position[: len(f)], position[len(f) :], run.bar_seconds, run.default_stop,
        run.default_target, run.trail, run.max_hold_seconds, run.fee, run.slippage, run.next_open,
        run.initial_cash, run.reserve, run.limits,
    )  # fmt: skip
    return GridResult(tuple(series), f, s, config.initial_cash, final, trades, wins, drawdown)


def crossover_signals(close: FloatArray, fast: int, slow: int) -> tuple[BoolArray, BoolArray]:
    """One column's entries and exits from the strategy library's own indicators."""
    fast_ema, slow_ema = ind.ema(close, fast), ind.ema(close, slow)
    return ind.crossed_above(fast_ema, slow_ema), ind.crossed_below(fast_ema, slow_ema)


def column(candles: CandleSeries, fast: int, slow: int, config: BacktestConfig) -> BacktestResult:
    """One (set, token) column of a sweep as a full backtest, trades and equity curve included,
    built from the strategy library's indicators and `simulate` (what the sweep must equal)."""
    _check_sets([fast], [slow])
    entries, exits = crossover_signals(candles.close, fast, slow)
    return simulate(
        candles.open_time,
        candles.open,
        candles.high,
        candles.low,
        candles.close,
        entries,
        exits,
        config=config,
        timeframe=candles.timeframe,
        strategy="ema_crossover",
        params={"fast": fast, "slow": slow},
    )
