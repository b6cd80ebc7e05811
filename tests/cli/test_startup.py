"""Starting `solbot` (its help, a typo) must not wait for the database stack or numba: each
command imports what it works with when it runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlalchemy", "alembic", "numba", "solbot.services.custody", "solbot.store.db", "solana")


def test_building_the_cli_leaves_the_heavy_modules_unloaded():
    code = f"import sys, solbot.cli.app; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_every_command_group():
    out = subprocess.run(
        [sys.executable, "-m", "solbot.cli.app", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    for command in ("run", "backtest", "add-user", "withdraw", "backup", "audit", "db"):
        assert command in out.stdout
