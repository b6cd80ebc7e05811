"""Trading rules written once in plain Python, compiled to machine code only for the backtest.

The exit rules, the breakers and the cost model must be one implementation for the backtester
and for live trading, or a backtest stops predicting what the bot does. The backtester calls
them on every bar of millions, where only numba's machine code is fast enough; live trading
calls them a few times per order, where the interpreter is fast enough (an interpreted call is
even cheaper than a numba dispatch from Python, which inspects the types of every argument).

So a rule is a plain function marked with `@rule(...)`, which only records its numba options;
the backtest kernel asks `compiled(f)` for the machine-code version of the very same source.
Live processes never import numba, whose import holds ~65 MB and takes ~0.5 s. The two
versions are checked against each other on random inputs (tests/test_rules.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = "__numba_options__"
_compiled: dict[Callable[..., Any], Any] = {}


def rule(**numba_options: Any) -> Callable[[F], F]:
    """Mark a function as a shared rule; `numba_options` are what `compiled` passes to
    `numba.njit` (e.g. `cache=True, nogil=True`). The function itself is returned unchanged."""

    def mark(func: F) -> F:
        setattr(func, _OPTIONS, dict(numba_options))
        return func

    return mark


def compiled(func: F) -> F:
    """The numba-compiled version of a shared rule (one dispatcher per rule per process)."""
    options = getattr(func, _OPTIONS, None)
    if options is None:
        raise TypeError(f"{func.__qualname__} is not marked with @rule")
    if func not in _compiled:
        from numba import njit  # the backtest's import: live processes never pay for numba

        _compiled[func] = njit(**options)(func)
    return _compiled[func]
