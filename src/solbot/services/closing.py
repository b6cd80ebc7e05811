"""A user asks to sell one open position now (Telegram's `/close`, the dashboard's button):
the one rule both follow. The sale itself is the running loop's (`Engine.request_exit`), so a
position never gets two exits; without a loop in this process there is nobody to sell it. The
request is audited under whoever asked (logged when the key cannot audit), like a pause."""

from __future__ import annotations

from collections.abc import Callable

from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.store.positions import Positions
from solbot.store.tables import UserRow
from solbot.wallet.audit import Action


class NoOpenPositionError(UserError):
    """The user holds no open position of that token."""


CloseRequest = Callable[[str, str], None]  # (user id, token): sell at the next tick


async def request_close(
    custody: CustodyService, loop: CloseRequest | None, user: UserRow, token: str, *, actor: str
) -> str:
    """Hand the user's open `token` position to the loop to sell at its next tick; the token's
    symbol. `UserError` when there is no such position or no loop to sell it."""
    symbol = token.upper()
    async with custody.db.session() as s:
        position = await Positions(s, custody.clock).open_for(user.id, symbol)
        if position is None:
            raise NoOpenPositionError(f"You hold no open {symbol} position.")
        if loop is None:
            raise UserError("Closing needs the trading loop running (solbot run); try later.")
        details = {"username": user.username, "token": symbol}
        await custody.audit_or_log(s, actor, Action.CLOSE_REQUEST, user.id, **details)
    loop(user.id, symbol)  # after the audit row is written: asked, then recorded, then done
    return symbol
