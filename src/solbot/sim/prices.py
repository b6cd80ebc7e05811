"""The sim network's prices: a seeded random walk per token, or a replay of stored candles.

**Synthetic (`SimPrices`).** Each token's price follows the same regime-switching walk as the
synthetic candles (`solbot.market.synth.regime_walk`: bull/bear/sideways trends, calm/wild
volatility, fat tails), on a fixed grid of `step_seconds` (default 10 s) from `start_time`. The
price at time `t` is the price at the last grid point at or before `t`, so it changes every step
and is flat in between. Why a grid: the path must not depend on when, or how often, anyone asks.
The grid is generated lazily in chunks of `CHUNK_STEPS` steps with a per-token RNG
(`derive_seed(seed, symbol)`); before a chunk is generated, its starting point (RNG state, regime
state, log price) is kept as a checkpoint. Any chunk can therefore be regenerated exactly from its
checkpoint, so memory stays bounded (a small cache of chunk arrays) while every `t >= start_time`
stays answerable, forever, with the same value. `snapshot()` writes the checkpoints as JSON and
`restore()` continues the very same path. Stablecoins (`fixed`, USDC at 1.0 by default) do not
move.

**Replay (`ReplayPrices`).** Prices follow stored candles: within a bar `[open_time, open_time +
timeframe)` the price moves in a straight line from the bar's open (at `open_time`) toward its
close (reached at the bar's end): `open + (close - open) * (t - open_time) / timeframe`. Between
bars (a hole in the data) and after the last bar, the last close holds; before the first bar
there is no price (`ValueError`). High and low are not visited: nothing in a candle says when
they happened, and inventing an order would invent fills.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from solbot.clock import Clock
from solbot.domain import CandleSeries, FloatArray, TokenInfo
from solbot.market.synth import RegimeState, derive_seed, regime_walk, token_profile

__all__ = [
    "CHUNK_STEPS",
    "DEFAULT_STEP_SECONDS",
    "PriceSource",
    "ReplayPrices",
    "SimPrices",
]

DEFAULT_STEP_SECONDS = 10.0
CHUNK_STEPS = 4096  # ≈ 11.4 h of 10 s steps: one vectorised draw, regenerated in ~1 ms
_CACHED_CHUNKS = 32  # per token; older chunks are regenerated from their checkpoints
_SNAPSHOT_VERSION = 1
DEFAULT_FIXED: Mapping[str, float] = {"USDC": 1.0}


class PriceSource(Protocol):
    """USD prices by token symbol at a time (Unix seconds). Raises KeyError for an unknown
    symbol and ValueError for a time it has no price for."""

    def price(self, symbol: str, t: float) -> float: ...

    def symbols(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    """Where a chunk begins: the RNG state, the regimes, and the log price of its first step."""

    rng: dict[str, Any]
    regime: RegimeState | None  # None: the walk has not started yet (chunk 0)
    log_price: float

    def to_json(self) -> dict[str, Any]:
        regime = None
        if self.regime is not None:
            r = self.regime
            regime = [r.trend, r.trend_left, r.volatility, r.volatility_left]
        return {"rng": self.rng, "regime": regime, "log_price": self.log_price}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Checkpoint:
        regime = data["regime"]
        state = None if regime is None else RegimeState(*(int(x) for x in regime))
        return cls(dict(data["rng"]), state, float(data["log_price"]))


class _TokenPath:
    """One token's walk on the grid: checkpoints for every chunk begun, arrays for a few."""

    def __init__(
        self,
        symbol: str,
        seed: int,
        start_price: float,
        volatility: float,
        step_seconds: float,
        checkpoints: list[_Checkpoint] | None = None,
    ) -> None:
        self.symbol = symbol
        self.start_price = start_price
        self.volatility = volatility
        self.step_seconds = step_seconds
        if checkpoints is None:
            rng = np.random.default_rng(derive_seed(seed, symbol))
            checkpoints = [_Checkpoint(rng.bit_generator.state, None, math.log(start_price))]
        self.checkpoints = checkpoints
        self._cache: OrderedDict[int, FloatArray] = OrderedDict()

    def price_at_step(self, step: int) -> float:
        chunk, offset = divmod(step, CHUNK_STEPS)
        return float(self._chunk(chunk)[offset])

    def _chunk(self, index: int) -> FloatArray:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        # Chunks are generated in order, so the path never depends on the order of queries.
        while len(self.checkpoints) <= index:
            self._generate(len(self.checkpoints) - 1)
        prices = self._generate(index)
        return prices

    def _generate(self, index: int) -> FloatArray:
        """Generate chunk `index` from its checkpoint, cache it, and record the next checkpoint."""
        start = self.checkpoints[index]
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = start.rng
        walk = regime_walk(
            rng, CHUNK_STEPS, self.step_seconds, volatility=self.volatility, state=start.regime
        )
        level = np.cumsum(walk.moves)
        log_prices = start.log_price + np.concatenate(([0.0], level[:-1]))
        prices: FloatArray = np.exp(log_prices)
        if index == 0:
            prices[0] = self.start_price  # exactly, not exp(log(p))
        if len(self.checkpoints) == index + 1:
            end = _Checkpoint(rng.bit_generator.state, walk.end, float(start.log_price + level[-1]))
            self.checkpoints.append(end)
        self._cache[index] = prices
        while len(self._cache) > _CACHED_CHUNKS:
            self._cache.popitem(last=False)
        return prices


class _Prices(ABC):
    """What both price sources share: fixed prices (USDC at 1) and "now" from an optional clock."""

    clock: Clock | None
    _fixed: dict[str, float]

    def price(self, symbol: str, t: float | None = None) -> float:
        """USD price of `symbol` at `t` (default: the clock's now)."""
        key = symbol.upper()
        if t is None:
            if self.clock is None:
                raise ValueError("no time given and no clock to ask")
            t = self.clock.now()
        if key in self._fixed:
            return self._fixed[key]
        return self._moving(key, symbol, t)

    @abstractmethod
    def _moving(self, key: str, symbol: str, t: float) -> float:
        """The price of a token that moves (`key` is `symbol` upper-cased)."""


class SimPrices(_Prices):
    """Seeded synthetic USD prices for a set of tokens (see the module docstring).

    `start_prices` and `volatilities` override the built-in token profiles
    (`solbot.market.synth.token_profile`); `fixed` maps symbols to prices that never move.
    `clock` supplies the default time of `price(symbol)`.
    """

    def __init__(
        self,
        symbols: Iterable[str],
        seed: int,
        start_time: float,
        *,
        step_seconds: float = DEFAULT_STEP_SECONDS,
        start_prices: Mapping[str, float] | None = None,
        volatilities: Mapping[str, float] | None = None,
        fixed: Mapping[str, float] = DEFAULT_FIXED,
        clock: Clock | None = None,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must not be negative, got {seed}")
        if not (math.isfinite(step_seconds) and step_seconds > 0):
            raise ValueError(f"step_seconds must be positive, got {step_seconds}")
        self.seed = int(seed)
        self.start_time = float(start_time)
        self.step_seconds = float(step_seconds)
        self.clock = clock
        self._fixed = {s.upper(): float(p) for s, p in fixed.items()}
        starts = {s.upper(): float(p) for s, p in (start_prices or {}).items()}
        vols = {s.upper(): float(v) for s, v in (volatilities or {}).items()}
        self._paths: dict[str, _TokenPath] = {}
        for symbol in dict.fromkeys(s.upper() for s in symbols):
            if symbol in self._fixed:
                continue
            profile = token_profile(symbol)
            start = starts.get(symbol, profile.start_price)
            vol = vols.get(symbol, profile.volatility)
            if not (math.isfinite(start) and start > 0):
                raise ValueError(f"start price of {symbol} must be positive, got {start}")
            if not (math.isfinite(vol) and vol > 0):
                raise ValueError(f"volatility of {symbol} must be positive, got {vol}")
            self._paths[symbol] = _TokenPath(symbol, self.seed, start, vol, self.step_seconds)

    @classmethod
    def for_tokens(
        cls, tokens: Iterable[TokenInfo], seed: int, start_time: float, **kwargs: Any
    ) -> SimPrices:
        """Prices for the configured token list (`Settings.tokens` as `TokenInfo`)."""
        return cls((t.symbol for t in tokens), seed, start_time, **kwargs)

    def symbols(self) -> tuple[str, ...]:
        return (*self._fixed, *self._paths)

    def step_index(self, t: float) -> int:
        """The grid step whose price holds at time `t`."""
        if not math.isfinite(t) or t < self.start_time:
            raise ValueError(f"no sim price at {t}: the price process starts at {self.start_time}")
        return math.floor((t - self.start_time) / self.step_seconds)

    def _moving(self, key: str, symbol: str, t: float) -> float:
        path = self._paths.get(key)
        if path is None:
            raise KeyError(f"no sim price for {symbol!r}; known: {', '.join(self.symbols())}")
        return path.price_at_step(self.step_index(t))

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> dict[str, Any]:
        """The process as JSON-ready data: settings and each token's chunk checkpoints.

        The last checkpoint of a token is where its walk stands (RNG state, regimes, log price
        at grid step `generated_steps`); the earlier ones let past chunks be regenerated.
        """
        return {
            "version": _SNAPSHOT_VERSION,
            "kind": "synthetic",
            "seed": self.seed,
            "start_time": self.start_time,
            "step_seconds": self.step_seconds,
            "chunk_steps": CHUNK_STEPS,
            "fixed": dict(self._fixed),
            "tokens": {
                symbol: {
                    "start_price": path.start_price,
                    "volatility": path.volatility,
                    "generated_steps": (len(path.checkpoints) - 1) * CHUNK_STEPS,
                    "checkpoints": [c.to_json() for c in path.checkpoints],
                }
                for symbol, path in self._paths.items()
            },
        }

    @classmethod
    def restore(cls, snap: Mapping[str, Any], clock: Clock | None = None) -> SimPrices:
        """The process a snapshot describes, continuing exactly the same paths."""
        if snap.get("version") != _SNAPSHOT_VERSION or snap.get("kind") != "synthetic":
            raise ValueError(f"not a sim price snapshot (version {snap.get('version')!r})")
        if snap["chunk_steps"] != CHUNK_STEPS:
            raise ValueError(
                f"snapshot was made with {snap['chunk_steps']}-step chunks, this code uses "
                f"{CHUNK_STEPS}: the paths would differ"
            )
        prices = cls(
            (),
            int(snap["seed"]),
            float(snap["start_time"]),
            step_seconds=float(snap["step_seconds"]),
            fixed=snap["fixed"],
            clock=clock,
        )
        for symbol, data in snap["tokens"].items():
            checkpoints = [_Checkpoint.from_json(c) for c in data["checkpoints"]]
            prices._paths[symbol] = _TokenPath(
                symbol,
                prices.seed,
                float(data["start_price"]),
                float(data["volatility"]),
                prices.step_seconds,
                checkpoints,
            )
        return prices


class ReplayPrices(_Prices):
    """USD prices that follow stored candles (see the module docstring for the exact rule).

    Tokens not replayed follow `others` (the sim's seeded walk, for the maker's other books), or
    have no price. `step_seconds` is the tick the sim's history is built with (`SimNetwork.
    history`), as for the walk."""

    def __init__(
        self,
        series: Mapping[str, CandleSeries],
        *,
        fixed: Mapping[str, float] = DEFAULT_FIXED,
        clock: Clock | None = None,
        others: PriceSource | None = None,
        step_seconds: float = DEFAULT_STEP_SECONDS,
    ) -> None:
        self._series = {s.upper(): v for s, v in series.items()}
        for symbol, candles in self._series.items():
            if len(candles) == 0:
                raise ValueError(f"no candles to replay for {symbol}")
        self._fixed = {s.upper(): float(p) for s, p in fixed.items() if s.upper() not in series}
        self.clock = clock
        self.others = others
        self.step_seconds = float(step_seconds)
        self.start_time = float(min(int(v.open_time[0]) for v in self._series.values()))

    def symbols(self) -> tuple[str, ...]:
        others = () if self.others is None else self.others.symbols()
        return tuple(dict.fromkeys((*self._fixed, *self._series, *others)))

    def snapshot(self) -> dict[str, Any]:
        """What a sim state file records of a replay: enough to say what it was, not to go on
        (a replay is run again from its candles, not continued)."""
        return {
            "version": _SNAPSHOT_VERSION,
            "kind": "replay",
            "start_time": self.start_time,
            "step_seconds": self.step_seconds,
            "tokens": sorted(self._series),
        }

    def _moving(self, key: str, symbol: str, t: float) -> float:
        series = self._series.get(key)
        if series is None and self.others is not None:
            return self.others.price(symbol, t)
        if series is None:
            raise KeyError(f"no replayed price for {symbol!r}; known: {', '.join(self.symbols())}")
        i = int(np.searchsorted(series.open_time, t, side="right")) - 1
        if i < 0 or not math.isfinite(t):
            first = int(series.open_time[0])
            raise ValueError(f"no replayed price for {key} at {t}: its candles start at {first}")
        bar_seconds = series.timeframe.seconds
        elapsed = t - float(series.open_time[i])
        open_, close = float(series.open[i]), float(series.close[i])
        if elapsed >= bar_seconds:
            return close
        return open_ + (close - open_) * (elapsed / bar_seconds)
