"""Everything solbot creates is private (files 0600, folders 0700), whatever the umask.

Real commands, each a process of its own started under the umask (0022, the usual one, and
0000), on a fresh data dir: a user and their exported key file, synthetic candles, a backtest
with its reports, a short `solbot run` on the embedded sim (the database and its -wal/-shm
files, the sim state and its lock, the log, the sim's candles), and a backup into a folder that
does not exist yet. Then every file and folder below what the commands made is checked.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from integration.support import SOLBOT, clean_env
from solbot.wallet.master import MasterKey


def solbot(folder: Path, umask: int, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*SOLBOT, "--data-dir", str(folder / "data"), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(umask),
        check=False,
    )
    assert done.returncode == 0, f"solbot {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def modes(*roots: Path) -> dict[str, str]:
    """Every path below (and including) `roots` whose mode is not private, with its mode."""
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            wanted = 0o700 if path.is_dir() else 0o600
            if mode != wanted:
                found[str(path)] = oct(mode)
    return found


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_every_file_and_folder_the_commands_create_is_private(
    tmp_path: Path, empty_url: str, umask: int
) -> None:
    env = clean_env(
        DATABASE_URL=empty_url,
        MASTER_ENCRYPTION_KEY=MasterKey.generate().hex(),
        SOLBOT_TIMEFRAME="1h",
    )
    solbot(tmp_path, umask, env, "add-user", "--username", "alice", "--no-show-key")
    key_file = tmp_path / "alice.json"
    out = solbot(tmp_path, umask, env, "export-key", "-u", "alice", "--out", str(key_file))
    assert "key written to" in out
    solbot(tmp_path, umask, env, "data", "synth", "--token", "JUP", "--bars", "400")
    solbot(tmp_path, umask, env, "backtest", "--token", "JUP")
    solbot(tmp_path, umask, env, "run", "--stop-after", "2h", "--speed", "7200")
    backup = tmp_path / "backups" / "nightly" / "solbot.backup"
    solbot(tmp_path, umask, env, "backup", "create", str(backup))

    data = tmp_path / "data"
    made = {p.relative_to(tmp_path).as_posix() for p in data.rglob("*")}
    expected = {"data/candles", "data/reports", "data/sim/sim-state.json", "data/sim/solbot.log"}
    if empty_url.startswith("sqlite"):
        expected.add("data/solbot.db")
    assert expected <= made, sorted(made)
    assert any(p.endswith(".parquet") for p in made)
    assert any(p.startswith("data/reports/") and p.endswith(".png") for p in made)
    assert modes(data, tmp_path / "backups", key_file) == {}
