"""Constants and helpers shared by the CLI tests and their fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from solbot.store.db import Database
from solbot.store.tables import Base, UserRow
from solbot.wallet.master import MasterKey

H = 3600
NOW = (
    1_735_689_600 + 1_234
)  # 2025-01-01 00:20:34 UTC: the last closed hour opens at 2024-12-31 23:00
BARS = 1500
SEED = 7
MARKET = ("JUP", "BONK", "SOL")
OLD, NEW = MasterKey.generate(), MasterKey.generate()  # the custody tests' master keys


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


# ------------------------------------------------------------------ custody commands
def add_wallet(cli: Run, name: str) -> str:
    """`add-user NAME`; the private key it printed."""
    done = cli("add-user", "--username", name)
    assert done.code == 0, done.err
    return next(line for line in done.out.splitlines() if len(line) > 80 and " " not in line)


def export(cli: Run, name: str) -> str:
    done = cli("export-key", "--username", name)
    assert done.code == 0, done.err
    return done.out.strip()


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""

    async def read() -> dict[str, list[tuple[Any, ...]]]:
        db = Database(url)
        try:
            async with db.engine.connect() as conn:
                out = {}
                for table in Base.metadata.sorted_tables:
                    result = await conn.execute(select(table).order_by(*table.primary_key))
                    out[table.name] = [tuple(row) for row in result]
                return out
        finally:
            await db.dispose()

    return asyncio.run(read())


def run_sql(url: str, *statements: Any) -> None:
    """Statements in one transaction, as someone with write access to the database would."""

    async def go() -> None:
        db = Database(url)
        try:
            async with db.session() as s:
                for statement in statements:
                    await s.execute(statement)
        finally:
            await db.dispose()

    asyncio.run(go())


def rows_of(url: str, model: type[Any], *order: Any) -> list[Any]:
    """Every row of `model`'s table, in `order` (the primary key's by default)."""

    async def read() -> list[Any]:
        db = Database(url)
        try:
            async with db.session() as s:
                by = order or tuple(model.__table__.primary_key.columns)
                return list(await s.scalars(select(model).order_by(*by)))
        finally:
            await db.dispose()

    return asyncio.run(read())


def users_of(url: str) -> list[UserRow]:
    return rows_of(url, UserRow, UserRow.username)


def refused_rotation(cli: Run, url: str, monkeypatch: Any) -> str:
    """`rotate-master-key` from `OLD` to `NEW`, which must fail changing nothing: its line."""
    before = snapshot(url)
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY", NEW.hex())
    monkeypatch.setenv("MASTER_ENCRYPTION_KEY_OLD", OLD.hex())
    line = cli("rotate-master-key").error_line()
    assert "nothing was changed" in line
    assert snapshot(url) == before
    return line
