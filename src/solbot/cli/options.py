"""Parsing of the values operators type, shared by every command: one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime

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
