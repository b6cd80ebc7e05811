"""Worlds: which network and which mode a piece of state belongs to.

Each network (sim, devnet, mainnet) in each mode (live: the wallets trade; paper: fills booked at
the quote, nothing signed) is a world of its own, with its own database, sim state, paper books,
built candles and log, under `<data dir>/<world name>/`. A database records its world in `meta`
when it is created, and every command checks it before reading or writing anything, so sim money
never shows on mainnet, paper books never mix with real ones, and a wallet the sim created is
never silently used on a real network.

Plain data: imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Network = Literal["sim", "devnet", "mainnet"]
NETWORKS: tuple[Network, ...] = ("sim", "devnet", "mainnet")
_PAPER = "-paper"


@dataclass(frozen=True, slots=True)
class World:
    """A network and a mode. Its name (`sim`, `mainnet-paper`, ...) is its folder and its mark
    in a database's `meta`."""

    network: Network
    paper: bool = False

    @property
    def name(self) -> str:
        return f"{self.network}{_PAPER if self.paper else ''}"

    @property
    def real_network(self) -> bool:
        """A network outside this machine (devnet, mainnet), where wallets are real keys."""
        return self.network != "sim"

    @classmethod
    def parse(cls, text: str) -> World:
        """A world from its name; `ValueError` names the valid ones."""
        name = text.strip().lower()
        network, paper = (name[: -len(_PAPER)], True) if name.endswith(_PAPER) else (name, False)
        for known in NETWORKS:
            if network == known:
                return cls(known, paper)
        raise ValueError(f"unknown world {text!r}: use one of {', '.join(all_names())}")

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Hints:
    """What is known about a database from outside it, for adopting one from before worlds
    (`store.world_mark`)."""

    shown: str  # the database as the operator may see it (no password)
    sim_state_beside: bool = False  # a SQLite file next to an embedded sim's state file
    sim_wallet: str | None = None  # the address the configured sim seed funds


def all_names() -> list[str]:
    return [World(n, p).name for n in NETWORKS for p in (False, True)]


SIM = World("sim")
