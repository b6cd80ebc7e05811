"""`<data dir>/tokens.json` under concurrent `solbot tokens add`: every add lands, and a symbol
or mint another add just took is refused rather than listed twice."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from solbot import added_tokens
from solbot.added_tokens import add_token, added_path, load_added


def entry(symbol: str, mint: str) -> dict[str, Any]:
    return {"symbol": symbol, "mint": mint, "decimals": 6}


def test_adds_at_once_all_land(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each add reads the file, appends, writes it back; slowed down here so that, unlocked,
    every add would read the same old list and all but one would be lost."""
    write = added_tokens.write_private

    def slow_write(path: Path, data: str) -> Path:
        time.sleep(0.05)
        return write(path, data)

    monkeypatch.setattr(added_tokens, "write_private", slow_write)
    symbols = [f"T{i}" for i in range(8)]
    threads = [
        threading.Thread(target=add_token, args=(tmp_path, entry(s, f"mint{s}"))) for s in symbols
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(e["symbol"] for e in load_added(tmp_path)) == symbols
    assert stat.S_IMODE(added_path(tmp_path).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("second", "says"),
    [(entry("popcat", "other"), "POPCAT is already added"), (entry("CAT", "m1"), "m1 is already")],
)
def test_a_symbol_or_mint_added_meanwhile_is_refused(
    tmp_path: Path, second: dict[str, Any], says: str
) -> None:
    add_token(tmp_path, entry("POPCAT", "m1"))
    with pytest.raises(ValueError, match=says):
        add_token(tmp_path, second)
    assert len(load_added(tmp_path)) == 1
