"""Tokens added with `solbot tokens add`, kept in `<data dir>/tokens.json` (0600) and merged
into the configured token list when settings load, so adding one never rewrites the operator's
`solbot.toml` or `.env`. A symbol or mint the configured list already has is not added again:
the configured entry wins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from solbot.private_files import write_private

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


def save_added(data_dir: Path, entries: list[dict[str, Any]]) -> Path:
    path = added_path(data_dir)
    write_private(path, json.dumps(entries, indent=2) + "\n")
    return path
