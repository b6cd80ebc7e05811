"""Find a strategy by name: a built-in, a user's class by dotted path, or a file.

User strategies are ordinary classes, so they live in the operator's own files and are versioned
with them; nothing is copied into solbot. `pkg.module:Class` imports an installed module;
`path/to/file.py:Class` loads a file where it lies, without PYTHONPATH (docs/strategies.md).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
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
    file_text, colon, file_attr = name.rpartition(":")
    if colon and file_text.lower().endswith(".py"):
        module, module_name, attr = _load_file(file_text, name), file_text, file_attr
        if not attr:
            raise UserError(f"strategy {name!r}: name the class after the file, FILE.py:Class")
    else:
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
    if obj.name == f"{module.__name__}:{obj.__qualname__}":
        obj.name = name  # a file's class goes by what the user typed, not our module's name
    return obj


def _load_file(text: str, name: str) -> ModuleType:
    """A strategy file as a module of its own (once per file and process), found without
    PYTHONPATH; its folder is importable while it loads, for helpers beside it."""
    path = Path(text).expanduser()
    if not path.is_file():
        raise UserError(f"strategy {name!r}: there is no file {path}")
    resolved = path.resolve()
    module_name = f"solbot_strategy_{hashlib.sha256(str(resolved).encode()).hexdigest()[:16]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise UserError(f"strategy {name!r}: {path} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, str(resolved.parent))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        del sys.modules[module_name]
        raise UserError(f"{path}:{exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # the user's code: whatever it raises is theirs to fix
        del sys.modules[module_name]
        raise UserError(f"{path}: loading it raised {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(resolved.parent))
    return module


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
        "or your own class as mypkg.mystrat:MyStrategy or path/to/file.py:MyStrategy"
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
