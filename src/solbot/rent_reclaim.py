"""After exits: the token accounts they emptied, closed for their rent (about 0.002 SOL each).

The trading loop notes each confirmed exit (`note`); once the tick's orders are done, `close`
closes those users' emptied accounts through the journal (`solbot.execution.cleanup`), so the
books count the rent that came back. At most once an hour of trading per user (the accounts of
several exits in one transaction): a close is a signature, and a vault wallet's signatures are
metered (`SOLBOT_DECRYPT_PER_USER_PER_MINUTE`); the rent can wait.

Never an account that holds tokens (only empty ones are candidates, and the token program
refuses to close one with a balance), and never while an order of that user is in flight (its
transaction may have been built when the account existed: `AccountCloses.close_empty`'s rule,
which `solbot cleanup` beside a running bot follows too): those wait, noted, for the next
time. The rent comes back; the next entry into the token pays it again.

It never stops trading: a close that fails is logged and, if it may be in flight (the chain
stopped answering), settled from the journal before the next closes.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field

from solbot.clock import Clock
from solbot.domain import TokenInfo
from solbot.execution.cleanup import AccountCloses
from solbot.execution.signing import Signer

log = logging.getLogger(__name__)

ACTOR = "engine"
RECLAIM_EVERY_SECONDS = 3600.0  # per user, on the trading clock
CONCURRENT_USERS = 16  # closes in flight at once (each waits for its transaction to land)


@dataclass
class _Emptied:
    signer: Signer
    tokens: dict[str, TokenInfo] = field(default_factory=dict)  # by mint


class RentReclaim:
    """Closes what this tick's exits emptied (see the module docstring)."""

    def __init__(
        self,
        closes: AccountCloses,
        clock: Clock,
        *,
        every_seconds: float = RECLAIM_EVERY_SECONDS,
    ) -> None:
        self.closes = closes
        self.clock = clock  # the trading clock
        self.every_seconds = every_seconds
        self._emptied: dict[str, _Emptied] = {}
        self._last: dict[str, float] = {}  # each user's last close, on the trading clock
        self._unsettled = False  # a close may be in flight: recover before the next

    def note(self, user_id: str, signer: Signer, token: TokenInfo) -> None:
        """`user_id` sold its whole `token` position (a confirmed exit)."""
        self._emptied.setdefault(user_id, _Emptied(signer)).tokens[token.mint] = token

    async def close(self) -> int:
        """Close what was noted for the users whose last close is an interval ago, a few users
        at a time: the lamports that came back, less the fees (never raises). A user with an
        order in flight waits (`close_empty`); what was not closed stays noted for the next
        time."""
        if self._unsettled:
            try:
                await self.closes.recover()
                self._unsettled = False
            except Exception as exc:
                log.warning("token account closes not settled this tick: %s", exc)
                return 0
        now = self.clock.now()
        due = [
            user_id
            for user_id in self._emptied
            if now - self._last.get(user_id, -math.inf) >= self.every_seconds
        ]
        gate = asyncio.Semaphore(CONCURRENT_USERS)

        async def one(user_id: str) -> int:
            async with gate:
                return await self._close_for(user_id, self._emptied[user_id], now)

        return sum(await asyncio.gather(*(one(u) for u in due)))

    async def _close_for(self, user_id: str, what: _Emptied, now: float) -> int:
        try:
            done = await self.closes.close_empty(
                user_id, what.signer, list(what.tokens.values()), requested_by=ACTOR
            )
        except Exception as exc:  # the chain or the database: trading goes on
            self._unsettled = True
            log.warning("%s's token accounts not closed this tick: %s", user_id, exc)
            return 0
        if done.waiting:  # an order of theirs in flight (`close_empty`): noted, for later
            return 0
        self._last[user_id] = now
        # Done with: closed, or found not empty (tokens came back: not ours to close).
        del self._emptied[user_id]
        for account, why in done.failed:
            log.warning("%s's %s account not closed: %s", user_id, account.token.symbol, why)
        return done.reclaimed
