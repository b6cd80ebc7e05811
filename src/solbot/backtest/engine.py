"""Run a backtest: align tokens on one clock, compute signals once, simulate in the kernel.

`simulate` takes ready arrays (what benchmarks and tests use); `backtest_strategy` takes a
strategy and each token's candles, which is what `solbot backtest` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from solbot.backtest import kernel
from solbot.backtest.result import BacktestConfig, BacktestResult, RefusalLog, TradeLog
from solbot.domain import BlockReason, BoolArray, CandleSeries, FloatArray, IntArray, Timeframe
from solbot.risk import limits_vector

if TYPE_CHECKING:
    from solbot.strategy.base import Strategy

Progress = Callable[[str], None]


def _as_2d(name: str, a: np.ndarray, n: int, dtype: type) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape (n,) or (n, k) with n = {n}, got {arr.shape}")
    return np.ascontiguousarray(arr)


@dataclass(frozen=True)
class KernelSettings:
    """The kernel's scalar arguments as a configuration gives them: fractions, seconds, the
    breakers' vector. Written once for every caller of `kernel.run` (a backtest, a sweep)."""

    bar_seconds: float
    default_stop: float
    default_target: float
    trail: float
    max_hold_seconds: float
    fee: float
    slippage: float
    next_open: bool
    initial_cash: float
    reserve: float
    limits: FloatArray


def kernel_settings(config: BacktestConfig, timeframe: Timeframe) -> KernelSettings:
    exits = config.exits
    return KernelSettings(
        bar_seconds=float(timeframe.seconds),
        default_stop=exits.stop_loss_pct / 100.0,
        default_target=exits.take_profit_pct / 100.0,
        trail=exits.trailing_stop_pct / 100.0,
        max_hold_seconds=exits.max_hold_minutes * 60.0,
        fee=config.fee_bps / 10_000.0,
        slippage=config.slippage_bps / 10_000.0,
        next_open=config.fill == "next_open",
        initial_cash=config.initial_cash,
        reserve=config.risk.fee_reserve_sol if config.quote == "SOL" else 0.0,
        limits=limits_vector(config.risk),
    )


def simulate(
    open_time: IntArray,
    open_: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    entries: BoolArray,
    exits: BoolArray,
    *,
    config: BacktestConfig,
    tokens: tuple[str, ...] = ("TOKEN",),
    timeframe: Timeframe = Timeframe.M1,
    stop_loss: FloatArray | None = None,
    take_profit: FloatArray | None = None,
    liquidity: FloatArray | None = None,
    strategy: str = "signals",
    params: Mapping[str, Any] | None = None,
) -> BacktestResult:
    """Simulate one portfolio trading k tokens on a shared bar index.

    Price arrays are (n,) or (n, k), NaN where a token has no bar; `stop_loss`/`take_profit` are
    per-bar suggested distances (fractions, NaN = the configured default); `liquidity` is each
    token's pool depth in quote units for the impact model (ignored unless
    `config.price_impact`).
    """
    times = np.ascontiguousarray(open_time, dtype=np.int64)
    n = len(times)
    if n > 1 and not bool(np.all(np.diff(times) > 0)):
        raise ValueError("open times must be strictly increasing")
    o = _as_2d("open", open_, n, np.float64)
    h = _as_2d("high", high, n, np.float64)
    lo = _as_2d("low", low, n, np.float64)
    c = _as_2d("close", close, n, np.float64)
    k = c.shape[1]
    if len(tokens) != k:
        raise ValueError(f"{len(tokens)} token names for {k} price columns")
    for name, arr in (("open", o), ("high", h), ("low", lo)):
        if arr.shape != c.shape:
            raise ValueError(f"{name} has shape {arr.shape}, close has {c.shape}")
    ent = _as_2d("entries", entries, n, np.bool_)
    ext = _as_2d("exits", exits, n, np.bool_)
    none = np.empty((0, k))  # the kernel reads an empty matrix as "defaults on every bar"
    sl = none if stop_loss is None else _as_2d("stop_loss", stop_loss, n, np.float64)
    tp = none if take_profit is None else _as_2d("take_profit", take_profit, n, np.float64)
    depth = np.zeros(k)
    if config.price_impact and liquidity is not None:
        depth = np.ascontiguousarray(liquidity, dtype=np.float64).reshape(k)
    run = kernel_settings(config, timeframe)

    capacity = kernel.trade_capacity(ent)
    trades = np.empty((capacity, kernel.T_COLUMNS))
    refusals = np.empty((capacity, kernel.R_COLUMNS))
    equity, exposure, n_trades, blocked, n_refusals = kernel.run(
        times,
        run.bar_seconds,
        o,
        h,
        lo,
        c,
        ent,
        ext,
        sl,
        tp,
        run.default_stop,
        run.default_target,
        run.trail,
        run.max_hold_seconds,
        run.fee,
        run.slippage,
        depth,
        run.next_open,
        run.initial_cash,
        run.reserve,
        run.limits,
        trades,
        refusals,
    )
    return BacktestResult(
        strategy=strategy,
        params=dict(params or {}),
        tokens=tuple(tokens),
        timeframe=timeframe,
        config=config,
        open_time=times,
        close=_carry_forward(c),
        equity=equity,
        exposure=exposure,
        trades=_trade_log(trades[:n_trades]),
        blocked={BlockReason(i).label: int(v) for i, v in enumerate(blocked) if i and int(v) > 0},
        refusals=_refusal_log(refusals[:n_refusals]),
    )


def _carry_forward(close: FloatArray) -> FloatArray:
    """Each column's last known close on every bar (NaN before its first bar)."""
    if not np.isnan(close).any():
        return close
    n = close.shape[0]
    idx = np.where(~np.isnan(close), np.arange(n)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(close, idx, axis=0)
    return filled


def _trade_log(m: np.ndarray) -> TradeLog:
    if len(m) == 0:
        return TradeLog.empty()
    as_int = lambda col: m[:, col].astype(np.int64)  # noqa: E731
    entry_value = m[:, kernel.T_ENTRY_VALUE]
    pnl = m[:, kernel.T_PNL]
    return TradeLog(
        token=as_int(kernel.T_TOKEN),
        entry_index=as_int(kernel.T_ENTRY_INDEX),
        exit_index=as_int(kernel.T_EXIT_INDEX),
        entry_time=as_int(kernel.T_ENTRY_TIME),
        exit_time=as_int(kernel.T_EXIT_TIME),
        entry_price=m[:, kernel.T_ENTRY_PRICE].copy(),
        exit_price=m[:, kernel.T_EXIT_PRICE].copy(),
        quantity=m[:, kernel.T_QUANTITY].copy(),
        entry_value=entry_value.copy(),
        exit_value=m[:, kernel.T_EXIT_VALUE].copy(),
        fees=m[:, kernel.T_FEES].copy(),
        pnl=pnl.copy(),
        return_pct=100.0 * pnl / entry_value,
        reason=as_int(kernel.T_REASON),
    )


def _refusal_log(m: np.ndarray) -> RefusalLog:
    as_int = lambda col: m[:, col].astype(np.int64)  # noqa: E731
    return RefusalLog(as_int(kernel.R_TIME), as_int(kernel.R_TOKEN), as_int(kernel.R_REASON))


def align(series: Mapping[str, CandleSeries]) -> tuple[IntArray, dict[str, FloatArray]]:
    """Put tokens on the union of their open times; missing bars become NaN rows.

    Returns the common index and, per column name (`open`, `high`, `low`, `close`), an (n, k)
    matrix in the order of `series`.
    """
    if not series:
        raise ValueError("no candles to backtest")
    timeframes = {s.timeframe for s in series.values()}
    if len(timeframes) != 1:
        raise ValueError("all tokens must share one timeframe")
    times = [s.open_time for s in series.values()]
    if all(np.array_equal(t, times[0]) for t in times[1:]):
        index = times[0]  # the common case, and np.unique on a million bars costs 0.5 s
    else:
        merged = np.sort(np.concatenate(times), kind="stable")
        index = merged[np.concatenate(([True], merged[1:] != merged[:-1]))]
    n, k = len(index), len(series)
    columns = {name: np.full((n, k), np.nan) for name in ("open", "high", "low", "close")}
    for j, s in enumerate(series.values()):
        rows = np.searchsorted(index, s.open_time)
        for name, matrix in columns.items():
            matrix[rows, j] = getattr(s, name)
    return index, columns


def _spread(index: IntArray, times: IntArray, values: np.ndarray, fill: Any) -> np.ndarray:
    """`values` at `times` placed on `index`; a time the index does not have (a bar the quote
    asset has no price for) is dropped."""
    out = np.full(len(index), fill, dtype=values.dtype)
    rows = np.searchsorted(index, times)
    ok = rows < len(index)
    ok[ok] = index[rows[ok]] == times[ok]
    out[rows[ok]] = values[ok]
    return out


def backtest_strategy(
    strategy: Strategy,
    series: Mapping[str, CandleSeries],
    config: BacktestConfig,
    liquidity: Mapping[str, float] | None = None,
    progress: Progress | None = None,
    trade_from: int | None = None,
    signal_series: Mapping[str, CandleSeries] | None = None,
) -> BacktestResult:
    """Evaluate `strategy` once over each token's whole history, then simulate the portfolio.

    Signals are computed per token on its own candles (so gaps in one token do not shift
    another's indicators) and then placed on the common index. With `trade_from` (Unix seconds)
    the bars before it only warm the indicators up: no entry is taken on them, as a live bot
    that starts at `trade_from` with that history back-filled. `signal_series` are the candles
    the strategy reads when they are not the ones traded (the USD candles of a SOL-quoted run).
    """
    say = progress or (lambda _msg: None)
    prepared = prepare(strategy, series, say, trade_from, signal_series)
    say("simulating")
    return prepared.simulate(config, liquidity)


@dataclass(frozen=True)
class Prepared:
    """A strategy's signals on its tokens' common index (`backtest_strategy` without the
    simulation): computed once, simulated under as many configurations as needed (each user's
    breakers and cash in `solbot reconcile`)."""

    strategy: Strategy
    series: Mapping[str, CandleSeries]
    index: IntArray
    prices: dict[str, FloatArray]
    entries: BoolArray
    exits: BoolArray
    stops: FloatArray
    targets: FloatArray
    trade_from: int | None

    def simulate(
        self, config: BacktestConfig, liquidity: Mapping[str, float] | None = None
    ) -> BacktestResult:
        depth = None
        if liquidity is not None:
            depth = np.array([liquidity[symbol] for symbol in self.series], dtype=np.float64)
        result = simulate(
            self.index,
            self.prices["open"],
            self.prices["high"],
            self.prices["low"],
            self.prices["close"],
            self.entries,
            self.exits,
            config=config,
            tokens=tuple(self.series),
            timeframe=next(iter(self.series.values())).timeframe,
            stop_loss=self.stops,
            take_profit=self.targets,
            liquidity=depth,
            strategy=self.strategy.name,
            params=self.strategy.params.model_dump(),
        )
        return result if self.trade_from is None else _from(result, self.trade_from)


def prepare(
    strategy: Strategy,
    series: Mapping[str, CandleSeries],
    progress: Progress | None = None,
    trade_from: int | None = None,
    signal_series: Mapping[str, CandleSeries] | None = None,
) -> Prepared:
    """The signals of `backtest_strategy`, ready to simulate (no entry before `trade_from`)."""
    index, prices = align(series)
    read = series if signal_series is None else signal_series
    entries, exits, stops, targets = signal_matrices(strategy, read, index, progress)
    if trade_from is not None:
        entries[index < trade_from, :] = False
    return Prepared(strategy, series, index, prices, entries, exits, stops, targets, trade_from)


def signal_matrices(
    strategy: Strategy,
    series: Mapping[str, CandleSeries],
    index: IntArray,
    progress: Progress | None = None,
) -> tuple[BoolArray, BoolArray, FloatArray, FloatArray]:
    """Entries, exits, stop and target suggestions, (n, k) on the common `index`: each token's
    signals computed once on its own candles (gaps in one do not shift another's indicators)."""
    n, k = len(index), len(series)
    entries = np.zeros((n, k), dtype=np.bool_)
    exits = np.zeros((n, k), dtype=np.bool_)
    stops = np.full((n, k), np.nan)
    targets = np.full((n, k), np.nan)
    for j, (symbol, s) in enumerate(series.items()):
        if progress is not None:
            progress(f"signals {symbol}")
        sig = strategy.signals(s)
        entries[:, j] = _spread(index, s.open_time, sig.entry, False)
        exits[:, j] = _spread(index, s.open_time, sig.exit, False)
        stops[:, j] = _spread(index, s.open_time, sig.stop_loss, math.nan)
        targets[:, j] = _spread(index, s.open_time, sig.take_profit, math.nan)
    return entries, exits, stops, targets


def _from(result: BacktestResult, start: int) -> BacktestResult:
    """The result from bar `start` on: the warm-up bars before it took no trade, so the equity
    there is the initial cash and nothing is lost by dropping them from the report."""
    k = int(np.searchsorted(result.open_time, start))
    trades = result.trades
    shifted = replace(trades, entry_index=trades.entry_index - k, exit_index=trades.exit_index - k)
    return replace(
        result,
        open_time=result.open_time[k:],
        close=result.close[k:],
        equity=result.equity[k:],
        exposure=result.exposure[k:],
        trades=shifted,
    )
