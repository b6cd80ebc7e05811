"""Quarantine: `order_holds`, the back-off and quarantine state of orders that keep failing
(per user, token and side; `*` for a user's whole trading), so that a restart neither resets
a back-off nor forgets a quarantine.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "order_holds",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("first_failed_at", TIME, nullable=False),
        sa.Column("last_failed_at", TIME, nullable=False),
        sa.Column("retry_at", TIME, nullable=False),
        sa.Column("quarantined_at", TIME, nullable=True),
        sa.Column("position_id", ID, nullable=True),
        sa.CheckConstraint("side IN ('buy', 'sell', '*')", name=op.f("ck_order_holds_side")),
        sa.CheckConstraint("failures >= 1", name=op.f("ck_order_holds_failures")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_order_holds_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["position_id"], ["positions.id"], name=op.f("fk_order_holds_position_id_positions")
        ),
        sa.PrimaryKeyConstraint("user_id", "token", "side", name=op.f("pk_order_holds")),
    )


def downgrade() -> None:
    op.drop_table("order_holds")
