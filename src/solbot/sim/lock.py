"""One process owns a sim world at a time.

The embedded sim of `solbot run`, `solbot sim serve`, and the operator commands that move sim
money (`solbot withdraw`) each load the world from its state file, change it, and save it back;
two of them at once would each save over the other's changes. Whoever opens the world for
writing holds an exclusive lock on `<state file>.lock` (`flock`, released when the process
exits, even by SIGKILL) and a second opener is told who to stop.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from solbot.errors import UserError
from solbot.private_files import private_dir


class SimLock:
    """An exclusive, non-blocking lock on a sim world; `release()` (or process exit) frees it."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, state_path: Path) -> SimLock:
        path = state_path.with_name(state_path.name + ".lock")
        private_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(
                f"the sim world in {state_path.parent} is in use by another solbot process "
                "(`solbot run` on the embedded sim, or `solbot sim serve`): stop it first, or "
                "point this command at the served sim with SOLBOT_RPC_URL"
            ) from None
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
