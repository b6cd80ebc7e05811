"""The sim ledger's write-ahead journal: every change to the world is on disk before anyone is
told it happened.

Why: the bot's database commits a fill as soon as the chain reports it, while the sim's state
file is written only every few simulated minutes. Without a journal a kill in between rolled the
chain back under fills the books had committed (positions the wallet no longer held, sales of
tokens the wallet still had). With it, the ledger appends what each executed batch and each
faucet deposit changed (the accounts' new contents, the transactions' statuses, the clock) and
syncs the file before the results go back to the senders, so the chain is always at least as
durable as any commit that depends on it. A save of the whole world (`SimNetwork.save`) replaces
the state file atomically and then empties the journal.

Records are absolute (an account's whole new content, not a difference), so replaying them onto
a state file that already contains them changes nothing: a crash between writing the state file
and emptying the journal is harmless. A record is framed by its length and a CRC-32; a torn
last record (a power cut in the middle of a write) is ignored, since nobody was told of it.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from solbot.private_files import private_dir

_FRAME = struct.Struct("<II")  # payload length, CRC-32 of the payload


def journal_path(state_path: Path) -> Path:
    """Where the journal of the world saved in `state_path` lives (beside it)."""
    return state_path.with_name(f"{state_path.stem}.journal")


class LedgerJournal:
    """An append-only file of records, each synced to disk before `append` returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_dir(path.parent)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.records = 0  # appended since the last reset (for tests and logs)

    def append(self, record: dict[str, Any]) -> None:
        payload = json.dumps(record, separators=(",", ":")).encode()
        frame = _FRAME.pack(len(payload), zlib.crc32(payload)) + payload
        fd = self._require()
        os.write(fd, frame)
        os.fdatasync(fd)
        self.records += 1

    def reset(self) -> None:
        """Empty the journal: everything in it is in the state file now."""
        fd = self._require()
        os.ftruncate(fd, 0)
        os.fsync(fd)
        self.records = 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _require(self) -> int:
        if self._fd is None:
            raise RuntimeError(f"the sim journal {self.path} is closed")
        return self._fd


def read_journal(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a journal in order, up to the first torn or corrupt one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    offset = 0
    while offset + _FRAME.size <= len(data):
        length, crc = _FRAME.unpack_from(data, offset)
        start = offset + _FRAME.size
        payload = data[start : start + length]
        if len(payload) < length or zlib.crc32(payload) != crc:
            return
        yield json.loads(payload)
        offset = start + length
