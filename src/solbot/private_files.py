"""Files and folders only their owner can read: every file solbot writes goes through here.

What solbot keeps on disk is private to its operator: the database holds sealed keys and the
audit log, the sim state holds simulated wallets, the log names users and addresses, the
candles, reports and backups tell what the bot trades and holds, and an exported key file *is* a
wallet. A process's umask decides the mode of what `open` and `mkdir` create (0644 and 0755 under
the usual 0022, world-writable under 0000), and only the systemd unit sets a safe one. So the
mode is set here explicitly, whatever the umask:

- `private_dir`: a folder and every missing parent it creates, 0700 (existing folders, such as
  the operator's home, are left as they are).
- `write_private` (and `replacing`, to stream into it): a whole file written atomically (a
  temporary file in the same folder, 0600 from its creation, fsynced, renamed over the old
  one, the folder fsynced), so a crash or a full disk leaves the old file or the new one,
  never half of one.
- `create_private`: a new file, exclusively (never overwrites; an exported key must not replace
  anything), 0600.
- `private_file`: a file that something else writes into (SQLite's database, the log): created
  empty with 0600 if missing, set to 0600 if it exists with another mode. SQLite creates its
  `-wal` and `-shm` files with the database file's mode, so they follow.

Paths are any paths: the callers take them from `Settings` properties.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """`path` as a folder, created with its missing parents as 0700; the folder."""
    folder = Path(path).expanduser()
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made meanwhile by another process: not ours to change
            continue
        os.chmod(created, DIR_MODE)  # mkdir's mode is cut by the umask; set it exactly
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} exists and is not a folder")
    return folder


def write_private(path: str | Path, data: bytes | str, *, durable: bool = True) -> Path:
    """Replace `path` with `data` (text is written as UTF-8), atomically and 0600.

    `durable=False` skips the fsyncs (a report a crash may lose, not a state file)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with replacing(path, durable=durable) as handle:
        handle.write(payload)
    return Path(path).expanduser()


@contextlib.contextmanager
def replacing(path: str | Path, *, durable: bool = True) -> Iterator[BinaryIO]:
    """A handle to write the new content of `path` into (0600 from the start); it replaces the
    old file when the block ends normally, and is removed if the block raises."""
    target = Path(path).expanduser()
    folder = private_dir(target.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(folder)


def create_private(path: str | Path) -> BinaryIO:
    """A new file at `path`, open for writing, 0600; `FileExistsError` if anything is there.
    The folder must exist (a typo in a path should not make folders)."""
    target = Path(path).expanduser()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


def private_file(path: str | Path) -> Path:
    """`path` as an existing file with mode 0600 (created empty, with private folders, if it is
    not there), for a writer that opens it itself."""
    target = Path(path).expanduser()
    private_dir(target.parent)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return target


def fsync_dir(folder: str | Path) -> None:
    """Make a rename in `folder` durable (POSIX); harmless where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
