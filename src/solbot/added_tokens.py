"""Tokens added with `solbot tokens add`, kept in `<data dir>/tokens.json` (0600) and merged
into the configured token list when settings load, so adding one never rewrites the operator's
`solbot.toml` or `.env`. A symbol or mint the configured list already has is not added again:
the configured entry wins.

Adding reads the file, appends and writes it back; two `tokens add` at once would each write
the list they read, losing the other's token. So the whole read-modify-write holds an
exclusive `flock` on `tokens.json.lock` (held for milliseconds: a second add waits for it)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from solbot.private_files import private_dir, write_private

FILE_NAME = "tokens.json"


def added_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def load_added(data_dir: Path) -> list[dict[str, Any]]:
    """The added tokens as `TokenConfig` fields; `ValueError` names the file to fix."""
    path = added_path(data_dir)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} cannot be read ({exc}); fix it or delete it") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{path} is not a list of tokens; fix it or delete it")
    return entries


def add_token(data_dir: Path, entry: dict[str, Any]) -> Path:
    """Append one token (`TokenConfig` fields) under the lock; `ValueError` if its symbol or
    mint was added meanwhile. Returns the file's path."""
    with _locked(data_dir):
        entries = load_added(data_dir)
        symbol = str(entry["symbol"]).upper()
        for known in entries:
            if str(known.get("symbol", "")).upper() == symbol:
                raise ValueError(f"{symbol} is already added (mint {known.get('mint')})")
            if known.get("mint") == entry["mint"]:
                raise ValueError(f"{entry['mint']} is already added as {known.get('symbol')}")
        path = added_path(data_dir)
        write_private(path, json.dumps([*entries, entry], indent=2) + "\n")
        return path


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    private_dir(data_dir)
    fd = os.open(data_dir / (FILE_NAME + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
