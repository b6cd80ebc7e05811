"""Fixtures: a migrated database per test, on SQLite and on PostgreSQL (see `databases`); the
store tests' template also holds the users their rows belong to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from databases import make_template
from solbot.clock import ManualClock

from .support import seed_users

START = 1_700_000_000.0


@pytest.fixture(scope="session")
def migrated_template(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from make_template(backend, tmp_path_factory, seed_users)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)
