"""When may the loop conclude that a position's tokens left the wallet? (Booking it is
`store.position_moves`; asking the chain is the engine's.)

The wallet holding less than the books' quantity is the evidence, but not proof on its own:
- between a swap landing and its settlement the chain and the books disagree for a moment, so
  nothing is concluded while the journal has an order of that user and token in flight;
- a node that is a little behind can answer a stale balance once, so a shortfall must be seen
  on two checks at different times (two ticks) with no order in flight at either.
Then the position is booked as moved out, and no order is ever sent for tokens that are not
there: before that, an exit of a position that is short simply waits.
"""

from __future__ import annotations

import math

from solbot.clock import Clock
from solbot.store.db import Database
from solbot.store.position_moves import MovedOut, PositionMoves
from solbot.store.tables import PositionRow


class MovedOutWatch:
    """Remembers which positions were seen short, and books them once the shortfall is proven.

    Without an exit to make, a position is held against the chain on closed candles, but at
    most once every `every` seconds of bot time: a balance request per position is nothing in
    the embedded sim and one RPC call on a real network, and a fast timeframe must not turn it
    into a stream of them."""

    def __init__(self, db: Database, clock: Clock, *, every: float = 300.0) -> None:
        self.db = db
        self.clock = clock
        self.every = every
        self._short_since: dict[str, float] = {}  # position id -> when first seen short
        # (user id, token) -> when last held against the chain: bounded by users × tokens
        self._looked: dict[tuple[str, str], float] = {}

    def due(self, position: PositionRow) -> bool:
        """Whether to look at a position that has no exit to make (on a closed candle)."""
        last = self._looked.get((position.user_id, position.token), -math.inf)
        return self.clock.now() - last >= self.every

    async def judge(self, position: PositionRow, held: int) -> MovedOut | None:
        """`held` is what the wallet holds of the position's token. None: nothing booked (the
        wallet holds it all, or a shortfall is not proven yet: send nothing for it now). A
        `MovedOut`: booked, and `position` updated to match (its quantity and cost)."""
        now = self.clock.now()
        self._looked[(position.user_id, position.token)] = now
        if held >= position.quantity:
            self._short_since.pop(position.id, None)
            return None
        async with self.db.session() as s:
            moves = PositionMoves(s, self.clock)
            if await moves.in_flight(position.user_id, position.token):
                self._short_since.pop(position.id, None)  # proves nothing: look again later
                return None
            first = self._short_since.setdefault(position.id, now)
            if now <= first:
                return None  # seen once: wait for a second look
            moved = await moves.move_out(position.id, held)
        self._short_since.pop(position.id, None)
        if moved is not None:
            position.quantity, position.cost = moved.kept, moved.kept_cost
        return moved
