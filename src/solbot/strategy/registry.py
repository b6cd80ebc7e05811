"""Find a strategy by name: a built-in, or a user's class by dotted path.

User strategies are ordinary importable classes, so they live in the operator's own package and
are versioned with it; nothing is copied into solbot.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import PydanticUndefined

from solbot.errors import UserError
from solbot.strategy.base import Strategy
from solbot.strategy.donchian_breakout import DonchianBreakout
from solbot.strategy.ema_trend import EmaTrend

DEFAULT_STRATEGY = EmaTrend.name

BUILTINS: Mapping[str, type[Strategy]] = {
    cls.name: cls for cls in sorted((DonchianBreakout, EmaTrend), key=lambda c: c.name)
}


@dataclass(frozen=True, slots=True)
class ParamInfo:
    name: str
    type: str
    default: Any
    description: str


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    name: str
    summary: str
    params: tuple[ParamInfo, ...]


def load_strategy(name_or_path: str, params: Mapping[str, Any] | None = None) -> Strategy:
    """Instantiate a built-in by name or a user class by `pkg.module:Class` / `pkg.module.Class`.

    Every failure the operator can fix (unknown name, import error, wrong class, bad parameter)
    is a one-line `UserError`.
    """
    cls = strategy_class(name_or_path)
    try:
        return cls(params)
    except TypeError as exc:
        raise UserError(f"cannot create strategy {name_or_path!r}: {exc}") from None


def strategy_class(name_or_path: str) -> type[Strategy]:
    name = name_or_path.strip()
    if name in BUILTINS:
        return BUILTINS[name]
    if ":" in name:
        module_name, _, attr = name.partition(":")
    elif "." in name:
        module_name, _, attr = name.rpartition(".")
    else:
        raise UserError(_unknown(name))
    if not module_name or not attr:
        raise UserError(_unknown(name))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"cannot import strategy {name!r}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(
                f"cannot import strategy {name!r}: module {module_name!r} has no {attr!r}"
            ) from None
    if not (inspect.isclass(obj) and issubclass(obj, Strategy)):
        raise UserError(f"{name!r} is not a Strategy subclass (solbot.strategy.base.Strategy)")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise UserError(f"strategy {name!r} is abstract: it does not implement {missing}")
    return obj


def list_strategies() -> list[StrategyInfo]:
    """The built-ins with their parameters and defaults, for `--help` and `solbot strategies`."""
    return [describe(cls) for cls in BUILTINS.values()]


def describe(cls: type[Strategy]) -> StrategyInfo:
    params = tuple(
        ParamInfo(
            name=field_name,
            type=_type_name(field.annotation),
            default=None if field.default is PydanticUndefined else field.default,
            description=field.description or "",
        )
        for field_name, field in cls.Params.model_fields.items()
    )
    return StrategyInfo(cls.name, cls.summary, params)


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def _unknown(name: str) -> str:
    builtins = ", ".join(BUILTINS)
    return (
        f"unknown strategy {name!r}; built-ins: {builtins}; "
        "or give a dotted path like mypkg.mystrat:MyStrategy"
    )


__all__ = [
    "BUILTINS",
    "DEFAULT_STRATEGY",
    "ParamInfo",
    "StrategyInfo",
    "describe",
    "list_strategies",
    "load_strategy",
    "strategy_class",
]
