"""Orders that keep failing: exponential, capped back-off on the bot's clock, then quarantine.
The one place this rule lives; the live loop asks it before every order and tells it every
outcome (`engine.Engine`).

Without it a failing exit was sent again on every tick (every 10 s of bot time): hundreds of
failed orders an hour for a user whose key does not open. Now:

- After the n-th failure in a row, the next attempt waits `first_delay · 2^(n-1)` seconds,
  capped at `max_delay`, on the bot's clock (trading follows the simulated clock).
- After `max_attempts` failures in a row the orders are quarantined: none are made until the
  operator re-arms them (`solbot rearm`); the user and the operator are told once, when it
  happens (the engine's `quarantined` event).
- A success clears it; so does a re-arm, which counts from the start again.

Keyed by user, token and side. At most one position per user and token is open, so the sell
key of a token *is* its open position's exits, and a user's failing BONK exits never hold up
their JUP exits or their BONK entries; an entry has no position yet, and keying both sides the
same way keeps one rule for both. A failure of the user's key itself (it does not open, or it is
another wallet's: `UnusableKeyError`) is no single order's fault: it holds the user's whole
trading (token and side `*`), and every order of that user in one tick counts as one attempt.

The state is in the database (`order_holds`): a restart resets no back-off and forgets no
quarantine, and a re-arm from another process reaches the running loop at its next tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from solbot.backoff import doubling
from solbot.clock import Clock
from solbot.execution.executor import Outcome, SwapIntent
from solbot.store.db import Database
from solbot.store.holds import Key, OrderHolds
from solbot.store.states import OrderState, Side
from solbot.store.tables import OrderHoldRow
from solbot.store.types import utc_from_timestamp

ANY = "*"  # the token and side of a hold on a user's whole trading


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How long to wait after each failure, and how many failures in a row to allow. The
    defaults try for about an hour (30 s, 1 min, 2, 4, 8, 16, 30 min) before giving up."""

    first_delay: float = 30.0
    max_delay: float = 1800.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if not self.first_delay > 0 or not self.max_delay >= self.first_delay:
            raise ValueError("the back-off needs 0 < first_delay <= max_delay")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row."""
        return doubling(self.first_delay, self.max_delay, failures)


@dataclass(frozen=True, slots=True)
class Hold:
    """Where the failing orders of one user, token and side stand (plain data: what
    `solbot positions`, the run summary and the alert show, and what `--json` would print)."""

    user_id: str
    token: str  # ANY: the user's whole trading
    side: str  # "buy", "sell" or ANY
    failures: int
    last_error: str
    first_failed_at: float
    retry_at: float
    quarantined_at: float | None = None
    position_id: str | None = None

    @property
    def quarantined(self) -> bool:
        return self.quarantined_at is not None

    @property
    def whole_user(self) -> bool:
        return self.token == ANY

    @property
    def what(self) -> str:
        """'all trading', 'JUP exits', 'BONK entries'."""
        if self.whole_user:
            return "all trading"
        return f"{self.token} {'exits' if self.side == Side.SELL.value else 'entries'}"

    def describe(self, name: str) -> str:
        """One line for the user, the operator and the console."""
        if self.quarantined:
            fix = f"`solbot rearm -u {name}" + ("`" if self.whole_user else f" -t {self.token}`")
            return (
                f"{name}: {self.what} quarantined after {self.failures} failed attempts "
                f"(last: {self.last_error}); no more orders until the operator re-arms: {fix}"
            )
        return (
            f"{name}: {self.what} backing off after {self.failures} failed attempt(s) "
            f"(last: {self.last_error})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "quarantined": self.quarantined, "what": self.what}

    @classmethod
    def of(cls, row: OrderHoldRow) -> Hold:
        return cls(
            row.user_id,
            row.token,
            row.side,
            row.failures,
            row.last_error,
            row.first_failed_at.timestamp(),
            row.retry_at.timestamp(),
            None if row.quarantined_at is None else row.quarantined_at.timestamp(),
            row.position_id,
        )


class OrderGuard:
    """The loop's memory of failing orders: asked before each order (`allows`), told after each
    batch (`record`). Reads the table at start (`load`) and, while anything is held, once a
    tick (`refresh`: a re-arm from another process takes effect at the next tick); when nothing
    is held it costs the loop nothing but a dictionary lookup per order."""

    def __init__(self, db: Database, clock: Clock, policy: BackoffPolicy | None = None) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or BackoffPolicy()
        self._holds: dict[Key, Hold] = {}

    async def load(self) -> None:
        async with self.db.session() as s:
            rows = await OrderHolds(s, self.clock).all()
        self._holds = {(r.user_id, r.token, r.side): Hold.of(r) for r in rows}

    async def refresh(self) -> None:
        """Re-read the holds if there are any (a re-arm may have lifted one)."""
        if self._holds:
            await self.load()

    # ------------------------------------------------------------------ asking
    def hold(self, user_id: str, token: str, side: Side | str) -> Hold | None:
        """The hold on exactly this user, token and side (`ANY`, `ANY` for the whole user)."""
        return self._holds.get((user_id, token, str(side)))

    def blocking(self, user_id: str, token: str, side: Side | str) -> Hold | None:
        """The hold that stops an order of this user, token and side now, if any: the user's
        whole trading first, then the token's side; quarantined, or still backing off."""
        if not self._holds:
            return None
        now = self.clock.now()
        for key in ((user_id, ANY, ANY), (user_id, token, str(side))):
            held = self._holds.get(key)
            if held is not None and (held.quarantined or now < held.retry_at):
                return held
        return None

    def allows(self, user_id: str, token: str, side: Side | str) -> bool:
        return self.blocking(user_id, token, side) is None

    @property
    def quarantined(self) -> list[Hold]:
        return sorted(
            (h for h in self._holds.values() if h.quarantined),
            key=lambda h: (h.user_id, h.token, h.side),
        )

    @property
    def holds(self) -> list[Hold]:
        return sorted(self._holds.values(), key=lambda h: (h.user_id, h.token, h.side))

    # ------------------------------------------------------------------ telling
    async def record(self, results: Sequence[tuple[SwapIntent, Outcome]]) -> list[Hold]:
        """Count each failure (once per key per batch) and clear each success; the holds that
        were quarantined by this batch, to tell (each exactly once, ever)."""
        failed: dict[Key, tuple[str, str | None]] = {}
        succeeded: set[Key] = set()
        for intent, outcome in results:
            if outcome.confirmed:
                succeeded.update(
                    k for k in ((intent.user_id, ANY, ANY), _key(intent)) if k in self._holds
                )
            elif OrderState(outcome.state).terminal:
                key = (intent.user_id, ANY, ANY) if outcome.key_unusable else _key(intent)
                failed[key] = (outcome.error or str(outcome.state), intent.position_id)
        succeeded -= set(failed)
        if not failed and not succeeded:
            return []
        told: list[Hold] = []
        now = self.clock.now()
        async with self.db.session() as s:
            holds = OrderHolds(s, self.clock)
            await holds.delete(succeeded)
            earlier = await holds.locked(list(failed))
            for key, (error, position_id) in failed.items():
                before = earlier.get(key)
                failures = 1 if before is None else before.failures + 1
                first = now if before is None else before.first_failed_at.timestamp()
                newly = False
                quarantined_at: float | None = None
                if before is not None and before.quarantined_at is not None:
                    quarantined_at = before.quarantined_at.timestamp()  # told already
                elif failures >= self.policy.max_attempts:
                    quarantined_at, newly = now, True
                retry_at = now + self.policy.delay(failures)
                await holds.put(
                    key,
                    failures=failures,
                    last_error=error,
                    first_failed_at=utc_from_timestamp(first),
                    retry_at=utc_from_timestamp(retry_at),
                    quarantined_at=(
                        None if quarantined_at is None else utc_from_timestamp(quarantined_at)
                    ),
                    position_id=position_id,
                )
                hold = Hold(*key, failures, error, first, retry_at, quarantined_at, position_id)
                self._holds[key] = hold
                if newly:
                    told.append(hold)
        for key in succeeded:
            self._holds.pop(key, None)
        return told

    async def forget(self, user_id: str, token: str) -> None:
        """Drop the hold on the exits of a user's token whose position is gone (moved out of
        the wallet): there is nothing left to sell. A hold on its entries stays."""
        key = (user_id, token, Side.SELL.value)
        if key in self._holds:
            async with self.db.session() as s:
                await OrderHolds(s, self.clock).delete([key])
            del self._holds[key]


def _key(intent: SwapIntent) -> Key:
    return (intent.user_id, intent.token, intent.side.value)
