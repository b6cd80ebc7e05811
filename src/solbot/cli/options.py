"""Parsing of the values operators type, shared by every command: one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from solbot.domain import Timeframe
from solbot.errors import UserError


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


def tokens_option(what: str) -> typer.models.OptionInfo:
    """`--token/-t SYMBOL`, repeatable; `what` says what the tokens are for."""
    return typer.Option(
        "--token",
        "-t",
        metavar="SYMBOL",
        help=f"Token to {what}; repeat for several.",
        show_default=False,
    )
