"""Small pieces of the bot's interface shared by its command modules."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """Inline buttons: rows of (label, callback data)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )
