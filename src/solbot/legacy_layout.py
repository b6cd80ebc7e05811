"""A data dir from before worlds, moved into world folders without losing anything.

Before worlds, every mode shared the data dir's top level: `solbot.db` (the trading state of
whatever network ran last), `sim-state.json` (the embedded sim), `solbot.log`, `paper/solbot.db`
(paper books of any network) and `candles/` (market history and the sim's candles, mixed).

What is evident is moved at the first command of this version (`migrate`), once:
- with a `sim-state.json` beside it, the top-level database traded on the embedded sim: the
  database, the sim state and the log move to `sim/`, and so do the candle files whose time
  overlaps the sim's price path (the sim wrote into them; a downloaded year that ends before the
  sim began stays market history);
What is not evident is refused when a command would open that world's database (`unsorted`),
with one line saying where to move it: a database without the sim's marks may have traded on
mainnet, and paper books do not say which network's prices they followed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from solbot.errors import UserError
from solbot.private_files import private_dir
from solbot.store.paths import DB_FILENAME
from solbot.worlds import SIM, World

STATE_FILE = "sim-state.json"
LOG_FILE = "solbot.log"
_SQLITE_FILES = ("", "-wal", "-shm", "-journal")  # a SQLite database and its companions
_LEGACY_PAPER = "paper"


def migrate(data_dir: Path) -> list[str]:
    """Move an embedded sim's world from the data dir's top level into `sim/`; what moved, for
    the operator (nothing when there is no old layout)."""
    state = data_dir / STATE_FILE
    if not state.exists():
        return []
    from solbot.sim.lock import SimLock

    target = data_dir / SIM.name
    if (target / STATE_FILE).exists():
        raise UserError(
            f"{state} is from before worlds but {target / STATE_FILE} exists too: keep the one "
            "you want in "
            f"{target} and move the other away"
        )
    lock = SimLock.acquire(state)  # an older solbot still running on it says so, in one line
    try:
        private_dir(target)
        moved = _move_candles(data_dir, target, state)
        database = data_dir / DB_FILENAME
        if database.exists() and not (target / DB_FILENAME).exists():
            for suffix in _SQLITE_FILES:
                _move(data_dir / f"{DB_FILENAME}{suffix}", target / f"{DB_FILENAME}{suffix}")
            moved.insert(0, "the database")
        if _move(data_dir / LOG_FILE, target / LOG_FILE):
            moved.append("the log")
        _move(state, target / STATE_FILE)
        moved.insert(0, "the sim state")
    finally:
        lock.release()
        with contextlib.suppress(FileNotFoundError):
            lock.path.unlink()
    return [f"moved the embedded sim's world into {target}: {', '.join(moved)}"]


def unsorted(data_dir: Path, world: World) -> str | None:
    """Why `world`'s default database cannot be opened while an old one waits to be sorted:
    one line, or None."""
    old = data_dir / DB_FILENAME
    if not world.paper and old.exists():
        return (
            f"{old} is from before worlds and its network is unknown: move it to "
            f"{data_dir / world.name / DB_FILENAME} if it is {world}'s (then run `solbot db "
            "adopt`), or into the folder of the world it traded on (sim, devnet, mainnet)"
        )
    paper = data_dir / _LEGACY_PAPER / DB_FILENAME
    if world.paper and paper.exists():
        return (
            f"{paper} holds paper books from before worlds: move it to "
            f"{data_dir / world.name / DB_FILENAME} if they followed {world.network}'s prices, "
            "or into the folder of the paper world it belongs to (sim-paper, devnet-paper, "
            "mainnet-paper)"
        )
    return None


def _move_candles(data_dir: Path, target: Path, state: Path) -> list[str]:
    """Move the candle files the sim wrote into (their time overlaps its price path)."""
    from solbot.market.store import CandleStore
    from solbot.sim.network import SimNetwork

    market = CandleStore(data_dir / "candles")
    built = CandleStore(target / "candles")
    start, end = SimNetwork.saved_span(state)
    count = 0
    for series in market.list():
        if series.last < start or series.first > end:
            continue
        if _move(
            market.path(series.symbol, series.timeframe),
            built.path(series.symbol, series.timeframe),
        ):
            count += 1
    return [f"{count} candle file(s) the sim built"] if count else []


def _move(source: Path, destination: Path) -> bool:
    """Rename `source` to `destination` (same file system); False when there is no source."""
    if not source.exists():
        return False
    if destination.exists():
        raise UserError(f"cannot move {source} to {destination}: it exists; move one away")
    private_dir(destination.parent)
    os.replace(source, destination)
    return True
