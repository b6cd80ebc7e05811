"""The settings of the running command, loaded once by the root callback."""

from __future__ import annotations

from solbot.config import Settings
from solbot.config_loading import load_settings

_settings: Settings | None = None


def set_settings(settings: Settings) -> None:
    global _settings
    _settings = settings


def settings() -> Settings:
    """The current settings; loads defaults if the root callback did not run (direct calls)."""
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings
