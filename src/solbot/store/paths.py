"""Where a world's database lives unless `DATABASE_URL` says otherwise. Apart from `db` so that
settings can name it without loading SQLAlchemy (`solbot --help` must stay light)."""

from __future__ import annotations

from pathlib import Path

DB_FILENAME = "solbot.db"


def default_url(folder: Path) -> str:
    """A SQLite file in `folder` (a world's folder of the data dir)."""
    return f"sqlite:///{folder / DB_FILENAME}"
