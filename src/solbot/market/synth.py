"""Synthetic candles for offline work: a seeded random walk with trend and volatility regimes.

Real markets are not one stationary random walk: they trend up, trend down, drift sideways, and
alternate calm and turbulent spells. A strategy tested on a single-regime walk learns nothing
about that, so two independent Markov chains pick, per bar, a trend (bull, bear, sideways) and a
volatility level (low, high); regime lengths are geometric with means given in days. Returns are
log-returns with fat tails (Student-t, 4 degrees of freedom), so prices stay positive. Each bar's
high and low are drawn from the exact distribution of a Brownian bridge's extremes between its open
and close, which keeps `high >= max(open, close)` and `low <= min(open, close)` by construction.
Occasionally a bar opens away from the previous close (a gap), as thin DEX markets do.

Everything is vectorised and drawn from one `numpy.random.default_rng(seed)`, in a fixed order:
the same arguments give the same candles on every machine, and a million bars take well under a
second.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from solbot.domain import CandleSeries, FloatArray, IntArray, Timeframe

__all__ = [
    "DEFAULT_START_TIME",
    "RegimeState",
    "TokenProfile",
    "WalkSteps",
    "derive_seed",
    "regime_walk",
    "synth_candles",
    "token_profile",
]

DEFAULT_START_TIME = 1_704_067_200  # 2024-01-01T00:00:00Z
_YEAR = 365.0 * 86_400.0
# Trend drift as a multiple of the current volatility (an annualised Sharpe ratio): trends then
# stay visible whatever the token's volatility, and a stablecoin barely drifts at all.
_TREND_SHARPE = np.array([3.0, -3.0, 0.0])  # bull, bear, sideways
_VOLATILITY = np.array([0.55, 1.4])  # annualised, low and high regimes
_TAIL_DF = 4.0


@dataclass(frozen=True, slots=True)
class TokenProfile:
    """A plausible starting price (USD) and a volatility multiplier for a token."""

    start_price: float
    volatility: float


_PROFILES = {
    "SOL": TokenProfile(150.0, 0.8),
    "USDC": TokenProfile(1.0, 0.005),
    "JUP": TokenProfile(0.8, 1.1),
    "BONK": TokenProfile(0.00002, 1.4),
    "WIF": TokenProfile(1.5, 1.5),
    "JTO": TokenProfile(2.5, 1.1),
    "PYTH": TokenProfile(0.3, 1.1),
    "RAY": TokenProfile(2.0, 1.1),
}


def token_profile(symbol: str) -> TokenProfile:
    """The profile of a known token, or a neutral one (1 USD, typical volatility)."""
    return _PROFILES.get(symbol.upper(), TokenProfile(1.0, 1.0))


def derive_seed(seed: int, symbol: str) -> int:
    """A per-token seed from one base seed, stable across runs and Python versions."""
    digest = hashlib.sha256(f"{seed}/{symbol.upper()}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def synth_candles(
    timeframe: Timeframe,
    bars: int,
    seed: int,
    start_price: float = 100.0,
    start_time: int = DEFAULT_START_TIME,
    *,
    volatility: float = 1.0,
    trend_days: float = 12.0,
    volatility_days: float = 4.0,
    gap_probability: float = 0.01,
    hourly_volume: float = 100_000.0,
) -> CandleSeries:
    """`bars` consecutive candles starting at `start_time` (which must be a bucket start).

    `volatility` scales both volatility regimes; `trend_days` and `volatility_days` are the mean
    regime lengths; `hourly_volume` is the typical quote volume of an hour of trading.
    """
    _check(timeframe, bars, seed, start_price, start_time, volatility, gap_probability)
    if bars == 0:
        return CandleSeries.empty(timeframe)
    rng = np.random.default_rng(seed)
    walk = regime_walk(
        rng,
        bars,
        timeframe.seconds,
        volatility=volatility,
        trend_days=trend_days,
        volatility_days=volatility_days,
    )
    calm_or_wild, sigma_bar, shocks, moves = walk.calm_or_wild, walk.sigma, walk.shocks, walk.moves

    gaps = np.where(rng.random(bars) < gap_probability, rng.normal(0.0, 0.5, bars), 0.0)
    gaps[0] = 0.0
    level = np.cumsum(gaps * sigma_bar + moves)
    log_close = math.log(start_price) + level
    # From the previous close rather than `log_close - moves`: without a gap, a bar then opens at
    # exactly the previous close, with no rounding difference.
    log_open = math.log(start_price) + np.concatenate(([0.0], level[:-1])) + gaps * sigma_bar

    # Extremes of a Brownian bridge from 0 to `moves` with volatility sigma_bar over the bar:
    # P(max > m) = exp(-2 m (m - x) / s^2), sampled by inversion with exponential variates.
    up, down = rng.exponential(1.0, (2, bars))
    spread = 2.0 * sigma_bar**2
    high_move = 0.5 * (moves + np.sqrt(moves**2 + spread * up))
    low_move = 0.5 * (moves - np.sqrt(moves**2 + spread * down))

    open_ = np.exp(log_open)
    open_[0] = start_price
    close = np.exp(log_close)
    high = np.maximum(np.exp(log_open + high_move), np.maximum(open_, close))
    low = np.minimum(np.exp(log_open + low_move), np.minimum(open_, close))

    activity = rng.lognormal(0.0, 0.4, bars) * (1.0 + np.abs(shocks)) * (1.0 + calm_or_wild)
    volume = hourly_volume * (timeframe.seconds / 3600.0) * activity / 2.0
    times = start_time + timeframe.seconds * np.arange(bars, dtype=np.int64)
    return CandleSeries(timeframe, times, open_, high, low, close, volume)


@dataclass(frozen=True, slots=True)
class RegimeState:
    """Where the two regime chains stand after a stretch of the walk.

    Each chain is in state `trend` / `volatility` (indices into the bull/bear/sideways and
    low/high tables) with `*_left` more steps to go in the current spell; 0 means the next step
    starts a new spell. Carrying this (with the RNG state) lets a walk be generated in pieces
    whose regimes run on across the joins, a spell in progress continuing for exactly its
    remaining steps: what the sim's live price process needs to grow its path lazily. (The pieces
    are not the same draws as one long call: the draws are batched per call.)
    """

    trend: int
    trend_left: int
    volatility: int
    volatility_left: int


@dataclass(frozen=True, slots=True)
class WalkSteps:
    """A stretch of the regime-switching walk: per step, the regimes, the step volatility
    (`sigma`, not annualised), the standardised fat-tailed shock, and the log-return `moves`."""

    trend: IntArray
    calm_or_wild: IntArray
    sigma: FloatArray
    shocks: FloatArray
    moves: FloatArray
    end: RegimeState


def regime_walk(
    rng: np.random.Generator,
    steps: int,
    step_seconds: float,
    *,
    volatility: float = 1.0,
    trend_days: float = 12.0,
    volatility_days: float = 4.0,
    state: RegimeState | None = None,
) -> WalkSteps:
    """`steps` log-returns of the walk, `step_seconds` apart, continuing from `state`.

    With `state=None` the chains start afresh (a random first state each); this is exactly what
    `synth_candles` draws for its bars, in the same order (trend, volatility, shocks). Given the
    `state` a previous stretch ended in (`WalkSteps.end`) and the same `rng`, the regimes carry on
    where that stretch left them.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    step_days = step_seconds / 86_400.0
    trend_start = None if state is None else (state.trend, state.trend_left)
    vol_start = None if state is None else (state.volatility, state.volatility_left)
    trend, trend_end = _regimes(rng, steps, trend_days / step_days, len(_TREND_SHARPE), trend_start)
    calm_or_wild, vol_end = _regimes(
        rng, steps, volatility_days / step_days, len(_VOLATILITY), vol_start
    )

    dt = step_seconds / _YEAR
    sigma = _VOLATILITY[calm_or_wild] * volatility
    sigma_bar = sigma * math.sqrt(dt)
    drift = (_TREND_SHARPE[trend] * sigma - 0.5 * sigma**2) * dt
    shocks = rng.standard_t(_TAIL_DF, steps) / math.sqrt(_TAIL_DF / (_TAIL_DF - 2.0))
    moves = drift + sigma_bar * shocks
    end = RegimeState(trend_end[0], trend_end[1], vol_end[0], vol_end[1])
    return WalkSteps(trend, calm_or_wild, sigma_bar, shocks, moves, end)


def _regimes(
    rng: np.random.Generator,
    bars: int,
    mean_bars: float,
    states: int,
    start: tuple[int, int] | None = None,
) -> tuple[IntArray, tuple[int, int]]:
    """A Markov chain's state per bar: geometric spells, each in a state unlike the last.

    `start` is (state, bars left in its spell) to continue a chain, None to begin one. Returns
    the states and the chain's end: (last state, bars left in that spell).
    """
    p = min(1.0, 1.0 / max(mean_bars, 1.0))
    if start is None:
        label, left = 0, 0
    else:
        label, left = start
        if left >= bars:
            return np.full(bars, label, dtype=np.int64), (label, left - bars)
    need = bars - left
    batch = int(need * p * 1.5) + 16
    lengths = rng.geometric(p, batch)
    while int(lengths.sum()) < need:
        lengths = np.concatenate((lengths, rng.geometric(p, batch)))
    spells = int(np.searchsorted(np.cumsum(lengths), need)) + 1
    lengths = lengths[:spells]
    if start is None:
        first = int(rng.integers(states))
        steps = rng.integers(1, states, spells - 1)  # never 0: a new spell changes state
        labels = (first + np.concatenate(([0], np.cumsum(steps)))) % states
    else:
        steps = rng.integers(1, states, spells)
        labels = (label + np.cumsum(steps)) % states
    out: IntArray = np.repeat(labels, lengths)[:need].astype(np.int64)
    if left:
        out = np.concatenate((np.full(left, label, dtype=np.int64), out))
    return out, (int(labels[-1]), int(lengths.sum()) - need)


def _check(
    timeframe: Timeframe,
    bars: int,
    seed: int,
    start_price: float,
    start_time: int,
    volatility: float,
    gap_probability: float,
) -> None:
    if bars < 0:
        raise ValueError(f"bars must not be negative, got {bars}")
    if seed < 0:
        raise ValueError(f"seed must not be negative, got {seed}")
    if not (math.isfinite(start_price) and start_price > 0):
        raise ValueError(f"start_price must be positive, got {start_price}")
    if start_time % timeframe.seconds:
        raise ValueError(f"start_time {start_time} is not the start of a {timeframe} candle")
    if not (math.isfinite(volatility) and volatility > 0):
        raise ValueError(f"volatility must be positive, got {volatility}")
    if not 0.0 <= gap_probability <= 1.0:
        raise ValueError(f"gap_probability must be in [0, 1], got {gap_probability}")
