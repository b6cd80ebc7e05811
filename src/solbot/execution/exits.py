"""Exit rules as pure functions: one source, compiled for the backtester, interpreted live.

Which rule fires first when one bar touches several (documented in docs/architecture.md):

1. **Gap at the open.** If the bar opens at or beyond a level, the exit fills at the open,
   because that is the first price anyone could trade at: the stop first (open <= stop), then the
   take-profit (open >= target).
2. **Stop before target inside the bar.** If the low reaches the stop and the high reaches the
   target in the same bar, we cannot know which came first, so we assume the worse: the stop, at
   its price. (Pessimistic on purpose: a backtest that assumes the lucky path lies.)
3. **Target** at its price when only the high reaches it.
4. **Signal exits and maximum holding time** are decided at the bar's close, after the price
   rules, and fill like any signal (at that close, or at the next open).

Live, a candle closes on the first tick after its end, at the next candle's open: an exit the
closed candle decided (signal, maximum holding time) comes before that tick's price exits, as
the backtest fills it at the next open before the next bar's price rules (`tick_exit`). Live
rules run on bar time, as the backtest's do (`solbot.engine`): holding time counts from the
open of the bar the entry filled in to the close being judged.

The trailing stop ratchets up from the highest high seen *before* the bar being checked: using
the current bar's high to set the level that the same bar's low is tested against would need the
intrabar order of high and low, which candles do not have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from solbot.domain import Candle, ExitReason
from solbot.rules import rule

# The exits a price decides at any tick (the others, signal and maximum holding time, a close),
# by the names orders and positions record.
PRICE_EXITS = frozenset(
    r.name.lower() for r in (ExitReason.STOP_LOSS, ExitReason.TAKE_PROFIT, ExitReason.TRAILING_STOP)
)

_NONE = int(ExitReason.NONE)
_STOP = int(ExitReason.STOP_LOSS)
_TARGET = int(ExitReason.TAKE_PROFIT)
_TRAIL = int(ExitReason.TRAILING_STOP)


@rule(cache=True, nogil=True)
def stop_level(stop: float, highest: float, trail_frac: float) -> tuple[float, int]:
    """The active stop and which rule owns it: the fixed stop or the trailing one (NaN = none)."""
    if trail_frac > 0.0 and highest > 0.0:
        trail = highest * (1.0 - trail_frac)
        if math.isnan(stop) or trail > stop:
            return trail, _TRAIL
    return stop, _STOP


@rule(cache=True, nogil=True)
def price_exit(
    open_: float, high: float, low: float, stop: float, stop_reason: int, target: float
) -> tuple[int, float]:
    """The exit a bar triggers against a stop and a target (NaN disables either).

    Returns (reason, fill price before costs); reason 0 means the position survives the bar.
    """
    has_stop = not math.isnan(stop)
    has_target = not math.isnan(target)
    if has_stop and open_ <= stop:
        return stop_reason, open_
    if has_target and open_ >= target:
        return _TARGET, open_
    if has_stop and low <= stop:
        return stop_reason, stop
    if has_target and high >= target:
        return _TARGET, target
    return _NONE, math.nan


@rule(cache=True, nogil=True)
def held_too_long(entry_time: float, now: float, max_hold_seconds: float) -> bool:
    """Whether a position has reached its maximum holding time (0 disables the rule)."""
    return max_hold_seconds > 0.0 and now - entry_time >= max_hold_seconds


@rule(cache=True, nogil=True)
def levels_from_fill(
    fill_price: float, stop_frac: float, target_frac: float
) -> tuple[float, float]:
    """Absolute stop and target prices from distances given as fractions of the fill price."""
    stop = fill_price * (1.0 - stop_frac) if stop_frac > 0.0 else math.nan
    target = fill_price * (1.0 + target_frac) if target_frac > 0.0 else math.nan
    return stop, target


@dataclass(frozen=True, slots=True)
class ExitDecision:
    """What the exit rules say about one bar for one position."""

    reason: ExitReason
    price: float | None

    @property
    def fired(self) -> bool:
        return self.reason is not ExitReason.NONE


@dataclass(frozen=True, slots=True)
class PositionLevels:
    """What the exit rules need to know about an open position (live side).

    `highest` is the highest price seen since entry, excluding the candle being checked;
    `entry_time` is the open of the bar the entry filled in.
    """

    entry_time: float
    stop: float | None
    target: float | None
    trail_frac: float
    highest: float
    max_hold_seconds: float


def check_bar(levels: PositionLevels, candle: Candle) -> ExitDecision:
    """Price exits of one closed candle, with the same rules the backtester compiles."""
    stop, owner = stop_level(_nan(levels.stop), levels.highest, levels.trail_frac)
    reason, price = price_exit(
        candle.open, candle.high, candle.low, stop, owner, _nan(levels.target)
    )
    if reason != _NONE:
        return ExitDecision(ExitReason(reason), float(price))
    if held_too_long(levels.entry_time, float(candle.close_time), levels.max_hold_seconds):
        return ExitDecision(ExitReason.MAX_HOLD, candle.close)
    return ExitDecision(ExitReason.NONE, None)


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def tick_exit(
    levels: PositionLevels,
    price: float,
    bar_time: float,
    *,
    closed_high: float | None,
    signal_exit: bool,
) -> tuple[ExitReason, float]:
    """The exit one live tick triggers for a position, in the backtest kernel's order, and the
    highest price its trailing stop counts from.

    When the position's candle just closed (`closed_high` is its high), its signal exit and the
    maximum holding time come first (the kernel fills them at the next open, which is this
    tick), judged at `bar_time`, the close; if neither fires, that high joins the highest. Then
    the price exits at `price`. The highest moves only at a close, never on a tick inside the
    bar: the kernel cannot know whether a bar's high came before its low."""
    highest = levels.highest
    if closed_high is not None:
        if signal_exit:
            return ExitReason.SIGNAL, highest
        if held_too_long(levels.entry_time, bar_time, levels.max_hold_seconds):
            return ExitReason.MAX_HOLD, highest
        highest = max(highest, closed_high)
    stop, owner = stop_level(_nan(levels.stop), highest, levels.trail_frac)
    reason, _fill = price_exit(price, price, price, stop, owner, _nan(levels.target))
    return ExitReason(reason), highest
