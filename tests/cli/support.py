"""Constants and helpers shared by the CLI tests and their fixtures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

H = 3600
NOW = (
    1_735_689_600 + 1_234
)  # 2025-01-01 00:20:34 UTC: the last closed hour opens at 2024-12-31 23:00
BARS = 1500
SEED = 7
MARKET = ("JUP", "BONK", "SOL")


@dataclass(frozen=True)
class Outcome:
    """What one `solbot` invocation did: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The single `error: ...` line on stderr, failing the test if there is anything else."""
        assert "Traceback" not in self.err, self.err
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("error: "), self.err
        return lines[0]


Run = Callable[..., Outcome]


def files_under(folder: Path) -> dict[str, int]:
    """Every file below `folder` with its size: equal before and after means nothing written."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
