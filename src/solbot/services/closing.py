"""A user asks to sell one open position now (Telegram's `/close`, the dashboard's button):
the one rule both follow. The sale itself is the running loop's (`Engine.request_exit`), so a
position never gets two exits; without a loop in this process there is nobody to sell it."""

from __future__ import annotations

from collections.abc import Callable

from solbot.clock import Clock
from solbot.errors import UserError
from solbot.store.db import Database
from solbot.store.positions import Positions


class NoOpenPositionError(UserError):
    """The user holds no open position of that token."""


CloseRequest = Callable[[str, str], None]  # (user id, token): sell at the next tick


async def request_close(
    db: Database, clock: Clock, loop: CloseRequest | None, user_id: str, token: str
) -> str:
    """Hand the user's open `token` position to the loop to sell at its next tick; the token's
    symbol. `UserError` when there is no such position or no loop to sell it."""
    symbol = token.upper()
    async with db.session() as s:
        position = await Positions(s, clock).open_for(user_id, symbol)
    if position is None:
        raise NoOpenPositionError(f"You hold no open {symbol} position.")
    if loop is None:
        raise UserError("Closing needs the trading loop running (solbot run); try later.")
    loop(user_id, symbol)
    return symbol
