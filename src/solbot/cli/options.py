"""Parsing of the values operators type, shared by every command: one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from solbot.config import Settings
from solbot.domain import Timeframe
from solbot.errors import UserError
from solbot.worlds import World


def parse_timeframe(text: str) -> Timeframe:
    try:
        return Timeframe.parse(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def parse_date(text: str, option: str) -> int:
    """Unix seconds of a date or date-time (ISO 8601); naive means UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"{option}: {text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


# Options several commands share, declared once so they read the same everywhere.
TimeframeOption = Annotated[
    str | None,
    typer.Option(
        "--timeframe",
        metavar="TF",
        help="Candle width: 1m, 5m, 15m, 1h, 4h or 1d. Default: the configured timeframe.",
        show_default=False,
    ),
]


WorldCandlesOption = Annotated[
    str | None,
    typer.Option(
        "--world",
        metavar="WORLD",
        help=(
            "Read the candles a run built in this world (e.g. sim: the simulated network's "
            "made-up prices) instead of market history (what `data synth/import/download` "
            "store)."
        ),
        show_default=False,
    ),
]


def candles_dir(cfg: Settings, world: str | None) -> Path:
    """Market history, or with `--world` the candles a run built in that world."""
    if world is None:
        return cfg.candles_dir
    try:
        return cfg.built_candles_dir(World.parse(world))
    except ValueError as exc:
        raise UserError(f"--world: {exc}") from None


def tokens_option(what: str) -> typer.models.OptionInfo:
    """`--token/-t SYMBOL`, repeatable; `what` says what the tokens are for."""
    return typer.Option(
        "--token",
        "-t",
        metavar="SYMBOL",
        help=f"Token to {what}; repeat for several.",
        show_default=False,
    )


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, option: str) -> float:
    """Seconds in '90s', '30m', '6h', '1d', '1h30m' (units s m h d w; a bare number is seconds)."""
    cleaned = text.strip().lower()
    try:
        return _duration(cleaned)
    except ValueError:
        raise UserError(
            f"{option}: {text!r} is not a duration; use e.g. 90s, 30m, 6h, 1d or 1h30m"
        ) from None


def _duration(text: str) -> float:
    if not text:
        raise ValueError(text)
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if value <= 0 or value != value or value == float("inf"):
            raise ValueError(text)
        return value
    total, number = 0.0, ""
    for char in text:
        if char.isdigit() or char == ".":
            number += char
        elif char in _UNITS and number:
            total += float(number) * _UNITS[char]
            number = ""
        else:
            raise ValueError(text)
    if number or total <= 0:
        raise ValueError(text)
    return total
