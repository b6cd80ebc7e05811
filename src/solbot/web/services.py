"""What the dashboard works with: the same services the CLI and the Telegram bot use, and the
running loop as its heartbeat in the database shows it (`loop_watch`), in whichever process
the loop runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from solbot.budget import PerMinute
from solbot.clock import Clock, WallClock
from solbot.config import Settings
from solbot.services.custody import CustodyService
from solbot.web.credentials import Credentials
from solbot.web.loop_watch import LoopWatch

FAILURES_PER_ADDRESS = 10
FAILURES_OVERALL = 300


@dataclass
class WebServices:
    settings: Settings
    custody: CustodyService
    # The trading clock (breakers and trades follow it): the running loop's, from its beat;
    # this one before any beat.
    clock: Clock
    # Security timers (links, sessions, request budgets) follow the wall clock.
    wall: Clock = field(default_factory=WallClock)
    loop: LoopWatch = field(init=False)
    credentials: Credentials = field(init=False)
    requests: PerMinute = field(init=False)  # per signed-in caller
    # Failed sign-ins (and requests with a credential that is not valid) per client address,
    # and all of them together: guessing a 256-bit secret is hopeless, flooding the database
    # with tries is not. Only failures count, so nobody is locked out by someone else's junk
    # unless they share an address (then the reverse proxy must say whose:
    # SOLBOT_WEB_TRUSTED_PROXY).
    failures: PerMinute = field(init=False)
    all_failures: PerMinute = field(init=False)
    streams: Counter[str] = field(default_factory=Counter)  # live-update streams per caller

    def __post_init__(self) -> None:
        self.loop = LoopWatch(self.custody.db, self.wall, self.settings.poll_seconds, self.clock)
        self.clock = self.loop.clock
        self.credentials = Credentials(self.custody, self.wall)
        self.requests = PerMinute(self.wall, self.settings.web_requests_per_minute)
        self.failures = PerMinute(self.wall, FAILURES_PER_ADDRESS)
        self.all_failures = PerMinute(self.wall, FAILURES_OVERALL)

    def refused_lately(self, address: str) -> float:
        """Seconds until `address` may try again after too many failures (0: it may now)."""
        return max(self.failures.retry_after(address), self.all_failures.retry_after("*"))

    def failed(self, address: str) -> None:
        self.failures.take(address)
        self.all_failures.take("*")

    @property
    def db(self):  # noqa: ANN201 - the custody service's database
        return self.custody.db
