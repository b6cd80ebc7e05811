"""What the sim's RPC can be made to do wrong, or under load, for the bot's tests: injected
faults (dropped sends, 503s, latency) and congestion (busy spells when a transaction bidding
less than the going priority fee is dropped, as a busy leader drops it, and the recent fees
show the going rate)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Faults:
    """Misbehaviour to inject, for the bot's resilience tests (all off by default).

    - `drop_rate`: share of `sendTransaction` calls answered with the signature but never
      executed, as a congested leader drops packets.
    - `error_rate`: share of HTTP calls (any method) answered HTTP 503 with a -32005
      "Node is behind" JSON-RPC error, as a provider whose node fell behind.
    - `latency` + uniform `latency_jitter`: seconds (wall time) added before each HTTP answer.
    - `seed`: the random draws are seeded, so a run is repeatable.
    """

    drop_rate: float = 0.0
    error_rate: float = 0.0
    latency: float = 0.0
    latency_jitter: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("drop_rate", "error_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("latency", "latency_jitter"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")


@dataclass(frozen=True, slots=True)
class Congestion:
    """Busy spells of `spell_slots` slots, a `busy_share` of them (seeded, the same for every
    run): in a busy slot a transaction bidding less than `going_rate` micro-lamports per
    compute unit is dropped, not failed (its signature is answered, it never lands), and the
    slot's recent priority fee is at least the going rate. Off by default."""

    going_rate: int = 0
    busy_share: float = 0.0
    spell_slots: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.going_rate < 0:
            raise ValueError(f"going_rate must be >= 0, got {self.going_rate}")
        if not 0.0 <= self.busy_share <= 1.0:
            raise ValueError(f"busy_share must be between 0 and 1, got {self.busy_share}")
        if self.spell_slots < 1:
            raise ValueError(f"spell_slots must be at least 1, got {self.spell_slots}")

    def busy(self, slot: int) -> bool:
        if not self.going_rate or not self.busy_share:
            return False
        spell = f"{self.seed}:{slot // self.spell_slots}".encode()
        draw = int.from_bytes(hashlib.blake2b(spell, digest_size=8).digest(), "big") / 2**64
        return draw < self.busy_share

    def floor(self, slot: int) -> int:
        """The lowest priority fee a transaction lands with in `slot` (0 when calm)."""
        return self.going_rate if self.busy(slot) else 0

    def drops(self, slot: int, bid: int) -> bool:
        """Whether a transaction bidding `bid` in `slot` is dropped."""
        return bid < self.floor(slot)
