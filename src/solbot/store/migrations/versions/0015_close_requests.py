"""`close_requests`: a user's request to sell a position now, read by the loop at each tick
whichever process wrote it (the dashboard, the Telegram bot, beside or inside `solbot run`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "close_requests",
        sa.Column("position_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("asked_by", sa.String(64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["position_id"], ["positions.id"], name=op.f("fk_close_requests_position_id_positions")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_close_requests_user_id_users")
        ),
        sa.PrimaryKeyConstraint("position_id", name=op.f("pk_close_requests")),
    )


def downgrade() -> None:
    op.drop_table("close_requests")
