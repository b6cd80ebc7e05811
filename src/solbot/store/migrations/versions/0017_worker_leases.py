"""`workers` and `user_leases`: several `solbot run --worker` processes on one PostgreSQL
database, each user leased to one worker with an epoch that fences its journal writes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "user_leases",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("worker_id", ID, nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_leases_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_leases")),
    )
    op.create_index("ix_user_leases_worker_id", "user_leases", ["worker_id"])


def downgrade() -> None:
    op.drop_index("ix_user_leases_worker_id", table_name="user_leases")
    op.drop_table("user_leases")
    op.drop_table("workers")
