"""A user asks to sell one open position now (Telegram's `/close`, the dashboard's button):
the one rule both follow. The sale itself is the running loop's, so a position never gets two
exits: the request is a row (`store.close_requests`) the loop reads at its next tick, from
whichever process it was written. It is taken only while a loop runs (its heartbeat,
`store.loop_beat`): without one there is nobody to sell, and a sale hours later at an unknown
price is not what the user asked for. The request is audited under whoever asked (logged
when the key cannot audit), like a pause, in the same transaction."""

from __future__ import annotations

import contextlib

from sqlalchemy.exc import IntegrityError

from solbot.clock import Clock, WallClock
from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.store import close_requests, loop_beat
from solbot.store.positions import Positions
from solbot.store.tables import UserRow
from solbot.wallet.audit import Action

NO_LOOP = "Closing needs the trading loop running (solbot run); try later."


class NoOpenPositionError(UserError):
    """The user holds no open position of that token."""


async def request_close(
    custody: CustodyService,
    user: UserRow,
    token: str,
    *,
    actor: str,
    poll_seconds: float,
    wall: Clock | None = None,
) -> str:
    """Ask the loop to sell the user's open `token` position at its next tick; the token's
    symbol. `UserError` when there is no such position or no loop running to sell it
    (`poll_seconds`: the loop's, which says how old its heartbeat may be)."""
    symbol = token.upper()
    # Asked at the same moment elsewhere (a double click, Telegram and a page): one request.
    with contextlib.suppress(IntegrityError):
        await _ask(custody, user, symbol, actor, poll_seconds, (wall or WallClock()).now())
    return symbol


async def _ask(
    custody: CustodyService,
    user: UserRow,
    symbol: str,
    actor: str,
    poll_seconds: float,
    wall_now: float,
) -> None:
    async with custody.db.session() as s:
        position = await Positions(s, custody.clock).open_for(user.id, symbol)
        if position is None:
            raise NoOpenPositionError(f"You hold no open {symbol} position.")
        beat = await loop_beat.last(s)
        if beat is None or not beat.alive(wall_now, poll_seconds):
            raise UserError(NO_LOOP)
        if await close_requests.ask(s, position, actor, wall_now):
            await s.flush()  # a request written at the same moment fails here, not later
            details = {"username": user.username, "token": symbol}
            await custody.audit_or_log(s, actor, Action.CLOSE_REQUEST, user.id, **details)
