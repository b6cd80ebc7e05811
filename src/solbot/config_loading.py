"""Loading the settings: every source read, and what is wrong with them said in one line that
names the setting and where the operator set it (an option, the environment, `.env`,
`solbot.toml`), never a traceback."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, ValidationError
from pydantic_settings import SettingsError

from solbot.config import ENV_FILE, TOML_FILE, Settings
from solbot.errors import UserError, path_problem

__all__ = ["load_settings"]

_UNDECODABLE = re.compile(r'field "(?P<field>\w+)" from source "(?P<source>\w+)"')


def load_settings(**overrides: Any) -> Settings:
    """The settings from every source, or a `UserError` of one line that names the setting to
    fix and where it came from (the environment, `.env`, `solbot.toml`, an option)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        where = f"{_where(str(loc[0]), loc[1:], overrides)}: " if loc else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UserError(f"bad configuration: {where}{message}{more}") from None
    except SettingsError as exc:  # a value its source could not decode
        found = _UNDECODABLE.search(str(exc))
        where = _where(found["field"], (), overrides) if found else "settings"
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        raise UserError(f"bad configuration: {where}: cannot read the value{cause}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"bad configuration: {TOML_FILE} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        broken = [str(p) for p in (ENV_FILE, TOML_FILE) if not _is_utf8(p)] or ["a settings file"]
        raise UserError(f"bad configuration: {broken[0]} is not UTF-8 text") from None
    except OSError as exc:
        problem = path_problem(exc)
        if problem is None:
            raise
        raise problem from None


def _where(name: str, rest: tuple[Any, ...], overrides: dict[str, Any]) -> str:
    """Where the operator set the setting `name` (a field or one of its aliases)."""
    field = _field_of(name)
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in rest)
    if field in overrides:
        return f"--{field.replace('_', '-')}{path}"
    names = _env_names(field)
    environment = {key.upper() for key in os.environ}
    for env in names:
        if env in environment:
            return f"{env}{path}"
    for env in names:
        if env in _dotenv_keys():
            return f"{env}{path} in {ENV_FILE}"
    if field in _toml_keys():
        return f"{field}{path} in {TOML_FILE}"
    return f"{names[0]}{path}"


def _field_of(name: str) -> str:
    for field, info in Settings.model_fields.items():
        if name == field or name in _aliases(info.validation_alias):
            return field
    return name


def _env_names(field: str) -> list[str]:
    info = Settings.model_fields.get(field)
    aliases = _aliases(info.validation_alias) if info is not None else []
    return [a.upper() for a in aliases] or [f"SOLBOT_{field.upper()}"]


def _aliases(alias: Any) -> list[str]:
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [alias] if isinstance(alias, str) else []


def _dotenv_keys() -> set[str]:
    try:
        text = ENV_FILE.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    return {
        line.split("=", 1)[0].removeprefix("export ").strip().upper()
        for line in text.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }


def _toml_keys() -> set[str]:
    try:
        return set(tomllib.loads(TOML_FILE.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return set()


def _is_utf8(path: Path) -> bool:
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    except OSError:
        return True  # absent or unreadable: not the file that failed to decode
    return True
