"""The Strategy interface: parameters, warm-up, and vectorised signals without look-ahead.

A strategy is a pure function of (parameters, candles): no state between calls, no clock, no I/O.
That is what lets the engine compute a token's signal once per closed candle and fan it out to
every user, and what makes a backtest over stored candles reproduce live trading.

To write one, subclass `Strategy`, give it a `Params` model (a `StrategyParams` subclass) and
implement `warmup` and `compute`; `signals` wraps `compute` and enforces the invariants every
consumer relies on, so a user strategy cannot break them by accident.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from solbot.domain import BoolArray, CandleSeries, FloatArray, Signal, Signals
from solbot.errors import UserError


class StrategyParams(BaseModel):
    """Base of every strategy's `Params`: unknown names are errors (a typo must not silently
    fall back to a default), NaN/inf are refused (every comparison with them is False, so a NaN
    threshold would silently disable a rule) and a parsed set of parameters never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Strategy(ABC):
    """Base class of all strategies.

    Subclasses set `name` (built-ins: the registry name; otherwise it defaults to the
    `module:Class` path that `load_strategy` accepts), `summary` (one line for listings),
    `Params`, and implement `warmup` and `compute`.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = f"{cls.__module__}:{cls.__qualname__}"
        if not (isinstance(cls.Params, type) and issubclass(cls.Params, StrategyParams)):
            raise TypeError(f"{cls.__qualname__}.Params must subclass StrategyParams")

    def __init__(self, params: Mapping[str, Any] | StrategyParams | None = None) -> None:
        self.params = self.parse_params(params)

    @classmethod
    def parse_params(cls, params: Mapping[str, Any] | StrategyParams | None) -> Any:
        """Validate user-supplied parameters; errors become one `UserError` line naming the
        parameter, because they come from a config file or the command line."""
        if isinstance(params, cls.Params):
            return params
        if isinstance(params, StrategyParams):
            params = params.model_dump()
        try:
            return cls.Params.model_validate(dict(params or {}))
        except ValidationError as exc:
            raise UserError(_describe(cls, exc)) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"

    @property
    @abstractmethod
    def warmup(self) -> int:
        """Leading bars that cannot carry a signal: bar `warmup` is the first that can.

        Declare it exactly from the indicator warm-ups (see `indicators.*_warmup`), counting one
        extra bar for rules that look at the previous bar (crossovers, shifted channels).
        """

    @property
    def convergence(self) -> int:
        """Extra bars recursive indicators (EMA, Wilder's RSI/ATR) need to forget their seed.

        Zero for strategies built only from finite windows. See `samples_needed`.
        """
        return 0

    @property
    def samples_needed(self) -> int:
        """Bars the live engine should keep for this strategy: `warmup + 1 + convergence`.

        `warmup + 1` bars give one valid signal. A recursive indicator seeded at the start of a
        rolling window differs from the one seeded at the start of full history; after
        `convergence` more bars the seed's weight is below `indicators.SEED_TOLERANCE` (1e-6),
        so live signals match a backtest over full history except at knife-edge ties.
        """
        return self.warmup + 1 + self.convergence

    @abstractmethod
    def compute(self, series: CandleSeries) -> Signals:
        """Signals for every bar of `series`, bar i computed from bars 0..i only.

        Called through `signals`, which masks the warm-up and NaN bars and checks the shape.
        """

    def signals(self, series: CandleSeries) -> Signals:
        """Entry/exit flags and stop/target fractions for every bar, safe to consume as is.

        Entries and exits are False during the warm-up and on bars whose OHLC has a NaN.
        Stop/target are NaN during the warm-up, and a non-positive or non-finite distance is
        turned into NaN ("no suggestion"): a zero ATR on flat prices would otherwise place a
        stop at the entry price and close the position on the next tick.
        """
        raw = self.compute(series)
        n = len(series)
        for field in ("entry", "exit", "stop_loss", "take_profit"):
            column = getattr(raw, field)
            if np.shape(column) != (n,):
                raise ValueError(
                    f"strategy {self.name}: {field} has shape {np.shape(column)}, expected ({n},)"
                )
        valid = np.ones(n, dtype=np.bool_)
        valid[: min(self.warmup, n)] = False
        bars_ok = valid & ~(
            np.isnan(series.open)
            | np.isnan(series.high)
            | np.isnan(series.low)
            | np.isnan(series.close)
        )
        entry = np.asarray(raw.entry, dtype=np.bool_) & bars_ok
        exit_ = np.asarray(raw.exit, dtype=np.bool_) & bars_ok
        stop = _distance(raw.stop_loss, valid)
        target = _distance(raw.take_profit, valid)
        return Signals(entry, exit_, stop, target)

    def signal_at_last(self, series: CandleSeries) -> Signal:
        """The signal of the last bar, for live trading on a rolling window.

        The vectorised path is reused so live and backtest cannot diverge; on a window of
        `samples_needed` bars it takes about 0.15 ms. An empty window gives no signal.
        """
        if len(series) == 0:
            return Signal(False, False, None, None)
        return self.signals(series).at(len(series) - 1)


def _distance(values: Any, valid: BoolArray) -> FloatArray:
    out = np.array(values, dtype=np.float64, copy=True)
    with np.errstate(invalid="ignore"):
        out[~(valid & np.isfinite(out) & (out > 0))] = np.nan
    return out


def _describe(cls: type[Strategy], exc: ValidationError) -> str:
    """One line for the first problem: which parameter and why."""
    errors = exc.errors()
    error = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    loc = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        known = ", ".join(cls.Params.model_fields) or "none"
        return f"strategy {cls.name}: unknown parameter {loc!r}; parameters: {known}{more}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if loc:
        return f"strategy {cls.name}: parameter {loc!r}: {message}{more}"
    return f"strategy {cls.name}: {message}{more}"


__all__ = ["Strategy", "StrategyParams"]
