"""Performance figures of a finished backtest, from its equity curve and trade log.

Conventions shared by every figure (they go into the docs as written here):

- The equity path has one point more than there are bars: the initial cash, observed at the open
  of the first bar, then `equity[i]`, observed at the close of bar i (`open_time[i] + width`).
  Starting from the initial cash means a loss on the very first bar (an entry fee, say) counts as
  a return and as a drawdown, and the per-bar returns compound exactly to the total return.
- A year is 365.25 days of 86,400 seconds: crypto trades around the clock, so calendar time and
  trading time are the same thing. Bars per year `P = 365.25 * 86400 / width_seconds`.
- Percentages are percent (21.0 means 21 %). A figure that is undefined for the input (no bars,
  no trades, zero deviation) is `None`, never NaN, so it serialises to JSON `null`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from solbot.backtest.result import BacktestResult, TradeLog
from solbot.domain import BlockReason, ExitReason, FloatArray, IntArray

SECONDS_PER_YEAR = 365.25 * 86_400


@dataclass(frozen=True, slots=True)
class TokenMetrics:
    """One token's share of the result, so a winner on one token cannot hide a loser on another.

    - `win_rate_pct = 100 * #(pnl > 0) / trades` (None without trades)
    - `pnl = sum(pnl)` in the quote asset
    - `contribution_pct = 100 * pnl / initial_cash`: the token's part of the total return in
      percentage points; the contributions add up to the total return when every position is
      closed at the end.
    - `avg_return_pct = mean(return_pct)` (None without trades)
    """

    token: str
    trades: int
    win_rate_pct: float | None
    pnl: float
    contribution_pct: float
    avg_return_pct: float | None


@dataclass(frozen=True, slots=True)
class HourMetrics:
    """The trades entered in one hour of the UTC day (0-23), as `TokenMetrics` counts them: a
    strategy whose profit comes from a few hours is a strategy about those hours."""

    hour: int
    trades: int
    win_rate_pct: float | None
    pnl: float
    avg_return_pct: float | None


@dataclass(frozen=True, slots=True)
class TradeExtreme:
    """The best or worst trade, ranked by `return_pct` so that position size does not decide."""

    token: str
    return_pct: float
    pnl: float
    exit_time: int


@dataclass(frozen=True)
class Metrics:
    """Everything `compute_metrics` derives. Times are Unix seconds UTC.

    Formulas, with `V` the equity path (initial cash, then one value per bar close), `C` the
    initial cash, `E` the final equity, `r_i = V_i / V_(i-1) - 1` the n per-bar simple returns
    (n = number of bars; a return after a non-positive equity counts as 0), and `P` bars per year:

    - `total_return_pct = 100 * (E / C - 1)`
    - `cagr_pct = 100 * ((E / C) ** (1 / years) - 1)`, `years = (last bar close - first bar open)
      / (365.25 * 86400)`; -100 when E <= 0; None without bars or when it overflows a float.
    - `max_drawdown_pct = 100 * max_i (1 - V_i / max_(j<=i) V_j)`, a positive number (0 when
      equity never falls below a previous peak). `max_drawdown_peak_time` is when the peak that
      the deepest fall started from was last seen, `max_drawdown_trough_time` when the fall hit
      bottom; both None when there is no drawdown.
    - `sharpe = mean(r) / stdev(r) * sqrt(P)`, sample standard deviation (n - 1 denominator),
      risk-free rate 0; None when n < 2 or the deviation is 0.
    - `sortino = mean(r) / dd * sqrt(P)`, `dd = sqrt(mean(min(r_i, 0) ** 2))` over all n bars
      (not only losing ones); None when dd is 0.
    - `calmar = cagr_pct / max_drawdown_pct`; None when either is None or the drawdown is 0.
    - `win_rate_pct = 100 * #(pnl > 0) / trades`; a break-even trade is not a win.
    - `gross_profit = sum(pnl > 0)`, `gross_loss = -sum(pnl < 0)` (a positive number).
    - `profit_factor = gross_profit / gross_loss`; `inf` when there are profits and no losses;
      None without trades or when both sums are 0. JSON cannot say `inf`: there it is `null`,
      and `gross_profit` / `gross_loss` tell the cases apart.
    - `expectancy = mean(pnl)` in the quote asset, `expectancy_pct = mean(return_pct)`.
    - `exposure_pct = 100 * mean(exposure)`: the share of bars with a position open.
    - `avg_holding_seconds = mean(exit_time - entry_time)`.
    - `total_fees = sum(fees)`; `exit_reasons` counts trades by exit reason (every reason, zeros
      included, so JSON keys are stable); `blocked` counts the entries refused by each circuit
      breaker (every breaker, zeros included).
    """

    bars: int
    start_time: int | None
    end_time: int | None
    initial_equity: float
    final_equity: float
    total_return_pct: float
    cagr_pct: float | None
    max_drawdown_pct: float
    max_drawdown_peak_time: int | None
    max_drawdown_trough_time: int | None
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    exposure_pct: float | None
    trades: int
    win_rate_pct: float | None
    gross_profit: float
    gross_loss: float
    profit_factor: float | None
    expectancy: float | None
    expectancy_pct: float | None
    avg_holding_seconds: float | None
    best_trade: TradeExtreme | None
    worst_trade: TradeExtreme | None
    total_fees: float
    exit_reasons: dict[str, int]
    blocked: dict[str, int]
    per_token: tuple[TokenMetrics, ...]
    per_entry_hour: tuple[HourMetrics, ...]  # the hours with trades, in order

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only: times become ISO-8601 UTC, NaN and infinities become None."""
        data: dict[str, Any] = jsonable(asdict(self))
        for name in _TIME_FIELDS:
            ts = getattr(self, name)
            data[name] = None if ts is None else iso_utc(ts)
        for name in ("best_trade", "worst_trade"):
            extreme = getattr(self, name)
            if extreme is not None:
                data[name]["exit_time"] = iso_utc(extreme.exit_time)
        return data


_TIME_FIELDS = ("start_time", "end_time", "max_drawdown_peak_time", "max_drawdown_trough_time")


def compute_metrics(result: BacktestResult) -> Metrics:
    """Derive every figure of `Metrics` (formulas in its docstring) from one backtest result."""
    times, values = equity_path(result)
    returns = bar_returns(values)
    periods = bars_per_year(result.timeframe.seconds)
    n_bars = len(result.open_time)
    start = int(times[0]) if n_bars else None
    end = int(times[-1]) if n_bars else None
    initial = result.initial_cash
    final = result.final_equity
    years = (end - start) / SECONDS_PER_YEAR if start is not None and end is not None else 0.0
    cagr = _cagr(final / initial, years)
    max_dd, peak, trough = _max_drawdown(times, values)
    trades = result.trades
    pnl = trades.pnl
    gross_profit = float(pnl[pnl > 0].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    best, worst = _extremes(trades, result.tokens)
    return Metrics(
        bars=n_bars,
        start_time=start,
        end_time=end,
        initial_equity=initial,
        final_equity=final,
        total_return_pct=100.0 * (final / initial - 1.0),
        cagr_pct=cagr,
        max_drawdown_pct=max_dd,
        max_drawdown_peak_time=peak,
        max_drawdown_trough_time=trough,
        sharpe=_sharpe(returns, periods),
        sortino=_sortino(returns, periods),
        calmar=cagr / max_dd if cagr is not None and max_dd > 0 else None,
        exposure_pct=100.0 * float(np.mean(result.exposure)) if len(result.exposure) else None,
        trades=len(trades),
        win_rate_pct=_win_rate(pnl),
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        profit_factor=_profit_factor(len(trades), gross_profit, gross_loss),
        expectancy=_mean(pnl),
        expectancy_pct=_mean(trades.return_pct),
        avg_holding_seconds=_mean((trades.exit_time - trades.entry_time).astype(np.float64)),
        best_trade=best,
        worst_trade=worst,
        total_fees=float(trades.fees.sum()),
        exit_reasons=_exit_reasons(trades.reason),
        blocked=_blocked(result.blocked),
        per_token=tuple(_token_metrics(result, k) for k in range(len(result.tokens))),
        per_entry_hour=_hour_metrics(result),
    )


def equity_path(result: BacktestResult) -> tuple[IntArray, FloatArray]:
    """Equity and the instant it was observed: the initial cash at the first bar's open, then each
    bar's equity at that bar's close. Empty when the backtest has no bars."""
    if not len(result.open_time):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    open_time = result.open_time.astype(np.int64)
    times = np.concatenate((open_time[:1], open_time + result.timeframe.seconds))
    values = np.concatenate(([result.initial_cash], result.equity.astype(np.float64)))
    return times, values


def drawdown_pct(values: FloatArray) -> FloatArray:
    """Percent below the running peak at every point (0 at a new high, negative under water).

    The path starts at the initial cash, which is positive, so the running peak never is 0.
    """
    if not len(values):
        return np.zeros(0, dtype=np.float64)
    peak = np.maximum.accumulate(values)
    return 100.0 * (values / peak - 1.0)


def bar_returns(values: FloatArray) -> FloatArray:
    """Simple return of each step of the equity path; 0 after a non-positive equity, where a
    ratio means nothing (a long-only book cannot come back from 0)."""
    prev, curr = values[:-1], values[1:]
    ratio = np.ones(len(curr), dtype=np.float64)
    np.divide(curr, prev, out=ratio, where=prev > 0)
    return ratio - 1.0


def bars_per_year(bar_seconds: int) -> float:
    return SECONDS_PER_YEAR / bar_seconds


def iso_utc(ts: int) -> str:
    """ISO-8601 with an explicit `Z`, so no reader mistakes the time for local time."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def jsonable(value: Any) -> Any:
    """A copy of `value` that `json.dumps(allow_nan=False)` accepts.

    Non-finite floats become None (JSON has no NaN or infinity), numpy scalars and arrays become
    Python numbers and lists, and anything else unknown (an enum, a path in strategy params)
    becomes its string.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _cagr(growth: float, years: float) -> float | None:
    if years <= 0:
        return None
    if growth <= 0:
        return -100.0
    try:
        return 100.0 * (math.exp(math.log(growth) / years) - 1.0)
    except OverflowError:
        return None


def _max_drawdown(times: IntArray, values: FloatArray) -> tuple[float, int | None, int | None]:
    dd = drawdown_pct(values)
    if not len(dd) or dd.min() >= 0:
        return 0.0, None, None
    trough = int(np.argmin(dd))
    peak_value = values[: trough + 1].max()
    peak = int(np.flatnonzero(values[: trough + 1] == peak_value)[-1])
    return float(-dd[trough]), int(times[peak]), int(times[trough])


def _sharpe(returns: FloatArray, periods: float) -> float | None:
    if len(returns) < 2:
        return None
    std = float(np.std(returns, ddof=1))
    if std == 0:
        return None
    return float(np.mean(returns)) / std * math.sqrt(periods)


def _sortino(returns: FloatArray, periods: float) -> float | None:
    if not len(returns):
        return None
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0:
        return None
    return float(np.mean(returns)) / downside * math.sqrt(periods)


def _profit_factor(trades: int, gross_profit: float, gross_loss: float) -> float | None:
    if trades == 0 or (gross_profit == 0 and gross_loss == 0):
        return None
    if gross_loss == 0:
        return math.inf
    return gross_profit / gross_loss


def _win_rate(pnl: FloatArray) -> float | None:
    return 100.0 * float(np.count_nonzero(pnl > 0)) / len(pnl) if len(pnl) else None


def _mean(values: FloatArray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _extremes(
    trades: TradeLog, tokens: tuple[str, ...]
) -> tuple[TradeExtreme | None, TradeExtreme | None]:
    if not len(trades):
        return None, None

    def pick(i: int) -> TradeExtreme:
        return TradeExtreme(
            token=tokens[int(trades.token[i])],
            return_pct=float(trades.return_pct[i]),
            pnl=float(trades.pnl[i]),
            exit_time=int(trades.exit_time[i]),
        )

    return pick(int(np.argmax(trades.return_pct))), pick(int(np.argmin(trades.return_pct)))


def _exit_reasons(reason: IntArray) -> dict[str, int]:
    counts = np.bincount(reason.astype(np.int64), minlength=len(ExitReason))
    return {r.label: int(counts[r]) for r in ExitReason if r is not ExitReason.NONE}


def _blocked(counts: dict[str, int]) -> dict[str, int]:
    """Every breaker, zeros included: stable JSON keys, and a table that shows which breakers
    never fired (the engine reports only those that did)."""
    return {r.label: int(counts.get(r.label, 0)) for r in BlockReason if r is not BlockReason.NONE}


def _token_metrics(result: BacktestResult, k: int) -> TokenMetrics:
    trades = result.trades.select(result.trades.token == k)
    pnl = float(trades.pnl.sum())
    return TokenMetrics(
        token=result.tokens[k],
        trades=len(trades),
        win_rate_pct=_win_rate(trades.pnl),
        pnl=pnl,
        contribution_pct=100.0 * pnl / result.initial_cash,
        avg_return_pct=_mean(trades.return_pct),
    )


def _hour_metrics(result: BacktestResult) -> tuple[HourMetrics, ...]:
    hours = (result.trades.entry_time // 3600) % 24
    out = []
    for hour in np.unique(hours):
        trades = result.trades.select(hours == hour)
        out.append(
            HourMetrics(
                int(hour),
                len(trades),
                _win_rate(trades.pnl),
                float(trades.pnl.sum()),
                _mean(trades.return_pct),
            )
        )
    return tuple(out)


__all__ = [
    "SECONDS_PER_YEAR",
    "HourMetrics",
    "Metrics",
    "TokenMetrics",
    "TradeExtreme",
    "bar_returns",
    "bars_per_year",
    "compute_metrics",
    "drawdown_pct",
    "equity_path",
    "iso_utc",
    "jsonable",
]
