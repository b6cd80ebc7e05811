"""The execution tests' rig: by default on the test's database, on both backends (modules whose
scenarios are SQLite-only define their own `rig`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .sim_rig import Rig, make_rig


@pytest.fixture
async def rig(tmp_path: Path, db_url: str) -> AsyncIterator[Rig]:
    async with make_rig(tmp_path, db_url) as r:
        yield r
