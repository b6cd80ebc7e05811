"""Technical indicators over float64 columns: the only module that touches TA-Lib.

Keeping TA-Lib behind this wall gives strategies one set of conventions:

- every function takes float64 arrays and returns float64 arrays of the same length;
- the first `*_warmup(...)` values are NaN and every later value is defined (for NaN-free input);
- input shorter than the warm-up yields all NaN, never an exception;
- a NaN inside the input (after any leading NaNs, which just delay the start) makes that bar and
  every later value NaN, for every indicator. TA-Lib does this by itself for its running sums and
  recursions (SMA, EMA, ATR, Bollinger, MACD), but its RSI and MAX/MIN read straight through a
  gap and report numbers computed across missing data; one rule for all means a gap is always
  visible to code that tests for NaN. Candle builders should not emit NaN in the first place.

Warm-ups come from TA-Lib's own lookback (`talib.abstract`), so they follow TA-Lib if its global
unstable-period setting is ever changed, and strategies can declare their warm-up exactly.

All TA-Lib functions used here compute bar i from bars 0..i only, with the same floating-point
operations whatever comes after: a prefix of a series gives bit-identical values. The look-ahead
check relies on that.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import talib
from talib import abstract

from solbot.domain import BoolArray, FloatArray

# Weight left on a recursive indicator's seed (its first, simple-average value) after which we
# call the indicator converged. A rolling window that starts later seeds differently; after this
# many extra bars the two agree to about this fraction of the seed's error.
SEED_TOLERANCE = 1e-6

_MIN_PERIOD = {"SMA": 2, "EMA": 2, "RSI": 2, "ATR": 1, "BBANDS": 2, "MAX": 2, "MIN": 2, "MACD": 2}


def as_float_array(x: npt.ArrayLike) -> FloatArray:
    """Return `x` as a contiguous 1-d float64 array (TA-Lib rejects anything else)."""
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"indicators take 1-d arrays, got shape {arr.shape}")
    return arr


def _check_period(function: str, name: str, value: int) -> None:
    minimum = _MIN_PERIOD[function]
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{function} {name} must be an integer >= {minimum}, got {value!r}")


def _all_nan(n: int) -> FloatArray:
    return np.full(n, np.nan, dtype=np.float64)


def _first_gap(*arrays: FloatArray) -> int:
    """Index of the first NaN that follows a number, in any of the arrays (len if none)."""
    first = len(arrays[0])
    for a in arrays:
        valid = ~np.isnan(a)
        if not valid.any():
            continue
        start = int(np.argmax(valid))
        gaps = np.flatnonzero(~valid[start:])
        if len(gaps):
            first = min(first, start + int(gaps[0]))
    return first


def _gapped(inputs: tuple[FloatArray, ...], *outputs: FloatArray) -> None:
    """Blank every output from the first interior gap of the inputs on (see module docstring)."""
    gap = _first_gap(*inputs)
    for out in outputs:
        out[gap:] = np.nan


def _usable(*arrays: FloatArray) -> bool:
    """Empty or all-NaN input has an obvious answer, all NaN; answering it ourselves keeps that
    independent of the TA-Lib wrapper's version (older ones raised "inputs are all NaN")."""
    return len(arrays[0]) > 0 and not any(bool(np.isnan(a).all()) for a in arrays)


@lru_cache(maxsize=256)
def _lookback(function: str, **params: float) -> int:
    f = abstract.Function(function)
    f.set_parameters(**params)
    return int(f.lookback)


# --- warm-ups: the number of leading NaNs of each indicator ------------------------------------


def sma_warmup(period: int) -> int:
    _check_period("SMA", "period", period)
    return _lookback("SMA", timeperiod=int(period))


def ema_warmup(period: int) -> int:
    _check_period("EMA", "period", period)
    return _lookback("EMA", timeperiod=int(period))


def rsi_warmup(period: int) -> int:
    _check_period("RSI", "period", period)
    return _lookback("RSI", timeperiod=int(period))


def atr_warmup(period: int) -> int:
    _check_period("ATR", "period", period)
    return _lookback("ATR", timeperiod=int(period))


def bollinger_warmup(period: int) -> int:
    _check_period("BBANDS", "period", period)
    return _lookback("BBANDS", timeperiod=int(period))


def macd_warmup(fast: int, slow: int, signal: int) -> int:
    """All three MACD outputs share one warm-up: TA-Lib starts them together."""
    _check_macd(fast, slow, signal)
    return _lookback("MACD", fastperiod=int(fast), slowperiod=int(slow), signalperiod=int(signal))


def donchian_warmup(period: int) -> int:
    _check_period("MAX", "period", period)
    return max(_lookback("MAX", timeperiod=int(period)), _lookback("MIN", timeperiod=int(period)))


# --- convergence: extra bars until a recursive indicator forgets its seed ----------------------


def _decay_bars(alpha: float, tol: float) -> int:
    return math.ceil(math.log(tol) / math.log1p(-alpha))


def ema_convergence(period: int, tol: float = SEED_TOLERANCE) -> int:
    """Bars after the warm-up until the seed's weight in an EMA (alpha = 2/(period+1)) < `tol`."""
    _check_period("EMA", "period", period)
    return _decay_bars(2.0 / (period + 1), tol)


def wilder_convergence(period: int, tol: float = SEED_TOLERANCE) -> int:
    """Same for Wilder's smoothing (alpha = 1/period), which RSI and ATR use."""
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}")
    if period == 1:
        return 0
    return _decay_bars(1.0 / period, tol)


# --- indicators --------------------------------------------------------------------------------


def sma(x: npt.ArrayLike, period: int) -> FloatArray:
    _check_period("SMA", "period", period)
    a = as_float_array(x)
    if not _usable(a):
        return _all_nan(len(a))
    out = talib.SMA(a, timeperiod=int(period))
    _gapped((a,), out)
    return out


def ema(x: npt.ArrayLike, period: int) -> FloatArray:
    """EMA seeded with the simple average of the first `period` values (TA-Lib's classic seed)."""
    _check_period("EMA", "period", period)
    a = as_float_array(x)
    if not _usable(a):
        return _all_nan(len(a))
    out = talib.EMA(a, timeperiod=int(period))
    _gapped((a,), out)
    return out


def rsi(x: npt.ArrayLike, period: int = 14) -> FloatArray:
    """Wilder's RSI, except that a window without any movement reads 50, not TA-Lib's 0.

    TA-Lib returns 0 when average gain and average loss are both zero, i.e. a flat market (or a
    stalled feed repeating the last price) would look maximally oversold and trigger any
    buy-the-dip rule. We detect that case exactly: TA-Lib's RSI of the negated series is
    100 * loss / (gain + loss), so both are 0 only when gain and loss are both 0. A flat stretch
    after some movement keeps its last reading: both averages decay at the same rate.
    """
    _check_period("RSI", "period", period)
    a = as_float_array(x)
    if not _usable(a):
        return _all_nan(len(a))
    up = talib.RSI(a, timeperiod=int(period))
    down = talib.RSI(-a, timeperiod=int(period))
    flat = (up == 0.0) & (down == 0.0)
    up[flat] = 50.0
    _gapped((a,), up)
    return up


def atr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int = 14
) -> FloatArray:
    """Wilder's average true range; the true range includes gaps from the previous close."""
    _check_period("ATR", "period", period)
    h, lo, c = as_float_array(high), as_float_array(low), as_float_array(close)
    _same_length(h, lo, c)
    if not _usable(h, lo, c):
        return _all_nan(len(c))
    out = talib.ATR(h, lo, c, timeperiod=int(period))
    _gapped((h, lo, c), out)
    return out


def bollinger(
    close: npt.ArrayLike, period: int = 20, nbdev: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower): SMA ± nbdev population standard deviations (TA-Lib's, not
    pandas-ta's sample deviation)."""
    _check_period("BBANDS", "period", period)
    if not nbdev >= 0:
        raise ValueError(f"Bollinger nbdev must be >= 0, got {nbdev!r}")
    a = as_float_array(close)
    if not _usable(a):
        return _all_nan(len(a)), _all_nan(len(a)), _all_nan(len(a))
    upper, middle, lower = talib.BBANDS(
        a, timeperiod=int(period), nbdevup=float(nbdev), nbdevdn=float(nbdev), matype=0
    )
    _gapped((a,), upper, middle, lower)
    return upper, middle, lower


def _check_macd(fast: int, slow: int, signal: int) -> None:
    _check_period("MACD", "fast", fast)
    _check_period("MACD", "slow", slow)
    _check_period("MACD", "signal", signal)
    if fast >= slow:
        # TA-Lib silently swaps them; a swapped MACD has the opposite sign, so refuse instead.
        raise ValueError(f"MACD fast ({fast}) must be less than slow ({slow})")


def macd(
    close: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(macd, signal, hist). All three start at `macd_warmup` (TA-Lib's convention, later than
    a naive pandas MACD whose line starts at slow-1)."""
    _check_macd(fast, slow, signal)
    a = as_float_array(close)
    if not _usable(a):
        return _all_nan(len(a)), _all_nan(len(a)), _all_nan(len(a))
    line, sig, hist = talib.MACD(
        a, fastperiod=int(fast), slowperiod=int(slow), signalperiod=int(signal)
    )
    _gapped((a,), line, sig, hist)
    return line, sig, hist


def donchian(
    high: npt.ArrayLike, low: npt.ArrayLike, period: int = 20
) -> tuple[FloatArray, FloatArray]:
    """(upper, lower): highest high and lowest low of the last `period` bars INCLUDING bar i.

    A breakout rule must compare the close with the channel of the previous bars, i.e.
    `shift(upper, 1)`: the current bar's own high always contains its close.
    """
    _check_period("MAX", "period", period)
    h, lo = as_float_array(high), as_float_array(low)
    _same_length(h, lo)
    if not _usable(h, lo):
        return _all_nan(len(h)), _all_nan(len(lo))
    upper = talib.MAX(h, timeperiod=int(period))
    lower = talib.MIN(lo, timeperiod=int(period))
    _gapped((h, lo), upper, lower)
    return upper, lower


# --- helpers -----------------------------------------------------------------------------------


def shift(x: npt.ArrayLike, n: int) -> FloatArray:
    """Value of `n` bars earlier at each bar (n > 0), NaN where there is none.

    A negative `n` reads the future: fine for labelling research data, look-ahead in a strategy.
    Never use `np.roll`, which wraps the end of the series around to its start.
    """
    a = as_float_array(x)
    out = _all_nan(len(a))
    if n == 0:
        out[:] = a
    elif 0 < n < len(a):
        out[n:] = a[:-n]
    elif 0 < -n < len(a):
        out[:n] = a[-n:]
    return out


def crossed_above(a: npt.ArrayLike, b: npt.ArrayLike | float) -> BoolArray:
    """True at bar i when a[i] > b[i] after a[i-1] <= b[i-1]; False wherever a value is NaN.

    `b` may be a scalar level (e.g. an RSI threshold).
    """
    x, y = _pair(a, b)
    return _cross(x, y)


def crossed_below(a: npt.ArrayLike, b: npt.ArrayLike | float) -> BoolArray:
    """True at bar i when a[i] < b[i] after a[i-1] >= b[i-1]; False wherever a value is NaN."""
    x, y = _pair(a, b)
    return _cross(-x, -y)


def atr_fraction(multiple: float, atr: FloatArray | None, close: npt.ArrayLike) -> FloatArray:
    """`multiple * atr / close`: an ATR-based stop or target distance as a fraction of price.

    A zero multiple (or no ATR) means "no suggestion" and gives all NaN, which `Signals` reads
    as "use the configured default".
    """
    c = as_float_array(close)
    if multiple <= 0 or atr is None:
        return _all_nan(len(c))
    with np.errstate(divide="ignore", invalid="ignore"):
        return multiple * as_float_array(atr) / c


def _pair(a: npt.ArrayLike, b: npt.ArrayLike | float) -> tuple[FloatArray, FloatArray]:
    x = as_float_array(a)
    y = np.broadcast_to(np.asarray(b, dtype=np.float64), x.shape)
    return x, y


def _cross(x: FloatArray, y: FloatArray) -> BoolArray:
    out = np.zeros(len(x), dtype=np.bool_)
    if len(x) < 2:
        return out
    # Comparisons with NaN are False, and `prev <= ` would be False too, so NaN never crosses.
    out[1:] = (x[1:] > y[1:]) & (x[:-1] <= y[:-1])
    return out


def _same_length(*arrays: FloatArray) -> None:
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"input columns differ in length: {sorted(lengths)}")


__all__ = [
    "SEED_TOLERANCE",
    "as_float_array",
    "atr",
    "atr_fraction",
    "atr_warmup",
    "bollinger",
    "bollinger_warmup",
    "crossed_above",
    "crossed_below",
    "donchian",
    "donchian_warmup",
    "ema",
    "ema_convergence",
    "ema_warmup",
    "macd",
    "macd_warmup",
    "rsi",
    "rsi_warmup",
    "shift",
    "sma",
    "sma_warmup",
    "wilder_convergence",
]
