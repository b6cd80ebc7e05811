"""Telegram access: `telegram_access`, the friends who asked to join from Telegram and the
operator's answer (approved ids are allowed like `TELEGRAM_ALLOWED_IDS`); and the global
switch for new entries lives in `meta` (no schema change).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "telegram_access",
        sa.Column("telegram_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(96), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("asked_at", TIME, nullable=False),
        sa.Column("decided_at", TIME, nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("telegram_id", name=op.f("pk_telegram_access")),
    )


def downgrade() -> None:
    op.drop_table("telegram_access")
