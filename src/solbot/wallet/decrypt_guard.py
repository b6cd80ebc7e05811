"""How often users' keys are decrypted, limited across every process on the database.

Many wallets decrypted at once is what an attacker draining a custodial bot looks like, and so
is one wallet decrypted again and again (a script calling `solbot export-key` in a loop). So
decryptions are limited per user and over all users within a sliding window; a burst beyond
either limit pauses that user's signing, or everyone's, for a while and alerts the operator.
Each CLI command is a process of its own, and several bot workers may share a PostgreSQL
database, so the counts and the pauses live in the database (`decrypt_counts`,
`decrypt_pauses`), not in a process. The window follows the wall clock: it is a security timer,
and the sim's accelerated clock must not make it pass faster.

**Reserve first, then decrypt.** A decryption must be granted by the database before it
happens, and the grant must be atomic with the count, or two processes could both take the
last slot. But the trading loop decrypts once per signature, for thousands of users per
candle (~70 µs each): a database round trip per signature would cost more than the signature.
So decryptions are reserved *per operation*, in a transaction the operation already has:

- the loop's group of orders reserves one decryption per order in the transaction that
  journals the group's intents (`GroupExecutor`), the single-order path in a small transaction
  before it signs; an export in the transaction that audits it; a withdrawal before it signs;
- `reserve` takes the lock (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write
  lock `BEGIN IMMEDIATE` already holds), reads the pauses and the window's counts of every user
  in the group with two statements, grants what fits, counts it (one upsert per wall-clock
  second and user, plus the overall row) and records a pause for a burst. Whatever two
  processes do at once, they take turns here, so the last slot goes to one of them;
- the reservation is then made current (`with reservation:`, a context variable, so it
  covers the tasks the group starts and nothing outside them), and each decryption
  (`DecryptGuard.admit`, inside `VaultSigner.sign_message`) takes one of its grants in
  memory: no database work per signature. A decryption without a grant is refused.

What an operation reserved and did not use (a quote that failed before signing) stays
counted: the counts err on the safe side. Counts are kept per wall-clock second; a second that
overlaps the window counts whole, so the window is never shorter than configured.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from solbot.clock import Clock, WallClock
from solbot.execution.signing import SigningError
from solbot.store.decrypt_counts import ALL, DecryptCounts
from solbot.store.types import utc_from_timestamp

log = logging.getLogger(__name__)


class SigningPausedError(SigningError):
    """Signing is paused after a burst of decryptions (one user's, or everyone's)."""


class UnreservedDecryptionError(SigningError):
    """A decryption was attempted without a reservation (a caller that forgot to reserve)."""


@dataclass(frozen=True, slots=True)
class DecryptLimits:
    """At most `per_user` decryptions of one user's key and `overall` of all keys within any
    `window_seconds`; beyond, signing pauses for `pause_seconds`."""

    per_user: int = 30
    overall: int = 50_000
    window_seconds: float = 60.0
    pause_seconds: float = 900.0


@dataclass(frozen=True, slots=True)
class DecryptAlert:
    """A limit was exceeded: `user_id` None means the overall limit (every wallet paused)."""

    user_id: str | None
    count: int
    window_seconds: float
    paused_until: float


@dataclass(frozen=True, slots=True)
class GuardRecords:
    """What a guard saw since its records were last taken, for the audit log."""

    counts: dict[str, int]
    alerts: list[DecryptAlert]
    failures: list[tuple[str, str]]


_CURRENT: ContextVar[tuple[Reservation, ...]] = ContextVar("decrypt_reservations", default=())


class Reservation:
    """The decryptions one operation was granted (`left`, per user) and why others were refused
    (`refused`). `with reservation:` makes it current for the code (and tasks) inside; unused
    grants lapse when the block ends."""

    __slots__ = ("_token", "guard", "left", "refused")

    def __init__(self, guard: DecryptGuard, left: dict[str, int], refused: dict[str, str]):
        self.guard = guard
        self.left = left
        self.refused = refused
        self._token: Token[tuple[Reservation, ...]] | None = None

    def __enter__(self) -> Reservation:
        self._token = _CURRENT.set((*_CURRENT.get(), self))
        return self

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None
        self.left.clear()


class DecryptGuard:
    """Reservations of decryptions against the shared counts; see the module docstring."""

    def __init__(self, limits: DecryptLimits | None = None, *, clock: Clock | None = None):
        self.limits = limits or DecryptLimits()
        self.clock = clock or WallClock()  # a security timer: never the sim's clock
        # What happened since the owner last wrote it to the audit log (`take_records`):
        self.counts: Counter[str] = Counter()  # decryptions per user
        self.alerts: list[DecryptAlert] = []  # limits this process found exceeded
        self.failures: list[tuple[str, str]] = []  # (user id, why) of keys that did not open
        self._pruned_at = -math.inf

    # ------------------------------------------------------------------ reserving
    async def reserve(self, session: Any, user_ids: Iterable[str]) -> Reservation:
        """Grant one decryption per listed user id (a user listed twice gets two), in the
        caller's transaction; what was refused and why is in the reservation."""
        demand = Counter(user_ids)
        if not demand:
            return Reservation(self, {}, {})
        now = self.clock.now()
        table = DecryptCounts(session, self.clock)
        await table.lock()
        paused = await table.paused(now)
        counts = await table.since([ALL, *demand], self._first_second(now))
        limits = self.limits
        left: dict[str, int] = {}
        refused: dict[str, str] = {}
        total = counts.get(ALL, 0)
        for user, wanted in demand.items():
            mine = counts.get(user, 0) + wanted
            if ALL in paused or user in paused:
                scope = ALL if ALL in paused else user
                refused[user] = _paused_text(scope, paused[scope])
            elif mine > limits.per_user:
                refused[user] = await self._trip(table, user, mine, now)
                paused[user] = now + limits.pause_seconds
            elif total + wanted > limits.overall:
                refused[user] = await self._trip(table, ALL, total + wanted, now)
                paused[ALL] = now + limits.pause_seconds
            else:
                left[user] = wanted
                total += wanted
        if left:
            await table.add(math.floor(now), {**left, ALL: sum(left.values())})
        if now - self._pruned_at >= limits.window_seconds:
            self._pruned_at = now
            await table.prune(self._first_second(now), now)
        return Reservation(self, left, refused)

    async def lift(self, session: Any, user_id: str | None = None) -> bool:
        """Lift a pause (the operator's decision after looking into the alert); False when
        there was none."""
        table = DecryptCounts(session, self.clock)
        await table.lock()
        return await table.lift(ALL if user_id is None else user_id)

    # ------------------------------------------------------------------ decrypting
    def admit(self, user_id: str) -> None:
        """Take one decryption of `user_id`'s key from the current reservation, or raise
        (`SigningPausedError` for a refused one, `UnreservedDecryptionError` for none)."""
        for reservation in reversed(_CURRENT.get()):
            if reservation.guard is not self:
                continue
            left = reservation.left.get(user_id, 0)
            if left > 0:
                reservation.left[user_id] = left - 1
                self.counts[user_id] += 1
                return
            reason = reservation.refused.get(user_id)
            if reason is not None:
                raise SigningPausedError(reason)
        raise UnreservedDecryptionError(
            f"no key decryption was reserved for user {user_id}: refusing to decrypt"
        )

    def failed(self, user_id: str, reason: str) -> None:
        """Note a key that did not open (for the audit log: a failed open is never silent)."""
        self.failures.append((user_id, reason))

    def take_records(self, *, counts: bool = True) -> GuardRecords:
        """What to audit since the last call (the decryption counts only with `counts`), and
        reset it."""
        taken = GuardRecords(dict(self.counts) if counts else {}, self.alerts, self.failures)
        if counts:
            self.counts.clear()
        self.alerts, self.failures = [], []
        return taken

    # ------------------------------------------------------------------ helpers
    def _first_second(self, now: float) -> int:
        """The earliest wall-clock second that overlaps the window ending `now`: a second
        counts whole, so the window is never shorter than configured."""
        return math.floor(now - self.limits.window_seconds)

    async def _trip(self, table: DecryptCounts, scope: str, count: int, now: float) -> str:
        until = now + self.limits.pause_seconds
        await table.pause(scope, until, count)
        user = None if scope == ALL else scope
        alert = DecryptAlert(user, count, self.limits.window_seconds, until)
        log.warning("decryption burst: %s", alert)
        self.alerts.append(alert)
        who = "all wallets" if user is None else f"user {user}"
        return (
            f"{count} key decryptions for {who} within {self.limits.window_seconds:g} s: "
            "signing paused and the operator alerted"
        )


def _paused_text(scope: str, until: float) -> str:
    who = "every wallet" if scope == ALL else f"user {scope}"
    stamp = utc_from_timestamp(until).isoformat(timespec="seconds")
    return (
        f"signing is paused for {who} until {stamp} after a burst of key decryptions; the "
        "operator was alerted"
    )
