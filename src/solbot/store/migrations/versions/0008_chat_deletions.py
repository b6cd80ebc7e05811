"""Telegram deletions: `chat_deletions`, the durable queue of messages that must disappear (key
exports, 2FA secrets, messages carrying codes), so that a kill or an outage delays a deletion
but never forgets it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chat_deletions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.String(36), nullable=True),
        sa.Column("what", sa.String(16), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("next_try_at", TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_deletions")),
    )
    op.create_index(
        "ix_chat_deletions_state_next_try_at", "chat_deletions", ["state", "next_try_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_chat_deletions_state_next_try_at", table_name="chat_deletions")
    op.drop_table("chat_deletions")
