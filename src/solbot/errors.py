"""Errors that reach the operator as one line.

`UserError` is raised for anything the person at the keyboard can fix (bad input, a missing file,
an unknown token). The CLI prints its message on one line and exits with code 2; anything else is
a bug and keeps its traceback.

`EnvironmentFaultError` is the kind of `UserError` that lies around solbot rather than in what was
typed: a database that refuses connections or stays locked, a full disk, a directory solbot may
not write, a service that does not answer at start-up. It concerns every user alike, so a loop
that serves users one by one stops on it instead of skipping one user and going on.

`InterruptError` is a stop asked for by a signal before there was anything to summarise.
"""

from __future__ import annotations

import errno
import signal

# What an `OSError` on a path means for the operator, by errno: the fix is theirs, not ours.
_PATH_PROBLEMS = {
    errno.EACCES: "permission denied: let solbot's user write there, or choose another place",
    errno.EPERM: "operation not permitted: let solbot's user write there, or choose another place",
    errno.EROFS: "read-only file system: choose a writable place",
    errno.ENOSPC: "no space left on the device: free some space",
    errno.EDQUOT: "disk quota exceeded: free some space or raise the quota",
    errno.ENOTDIR: "a part of the path is a file, not a directory: choose another place",
    errno.EISDIR: "it is a directory, not a file: choose another path",
    errno.EEXIST: "something of that name is already there: move it or choose another path",
    errno.ENAMETOOLONG: "the path is too long: choose a shorter one",
}


class UserError(Exception):
    """A problem with the operator's input or environment, described in one line."""


class EnvironmentFaultError(UserError):
    """Something around solbot the operator must repair; it stops every user's work alike."""


class InterruptError(Exception):
    """SIGINT or SIGTERM ended a command before it could close normally (while it started up,
    or a second signal while it was stopping)."""

    def __init__(self, signum: int, *, started: bool = False) -> None:
        self.signum = signum
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name} a second time, without a summary; orders left open are "
            "finished at the next start"
            if started
            else f"stopped by {name} during start-up, before any trading"
        )

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a process a signal ended."""
        return 128 + self.signum


def path_problem(exc: OSError) -> EnvironmentFaultError | None:
    """The one-line form of an `OSError` about a file or folder that the operator can fix
    (permissions, a read-only or full disk, a file where a folder should be); None for any
    other error, which is a bug and keeps its traceback."""
    advice = _PATH_PROBLEMS.get(exc.errno or 0)
    if advice is None or exc.filename is None:
        return None
    return EnvironmentFaultError(f"cannot use {exc.filename}: {advice}")
