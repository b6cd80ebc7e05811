"""Performance fees: `users.fee_pct` (a user's own percentage; NULL follows the setting) and
`fee_accruals`, one row per user and day with the fee on realised profit above the user's
high-water mark.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
PRICE = sa.Text().with_variant(sa.Numeric(38, 18), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("fee_pct", PRICE, nullable=True))
    op.create_table(
        "fee_accruals",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("pct", PRICE, nullable=False),
        sa.Column("realised", PRICE, nullable=False),
        sa.Column("fee", PRICE, nullable=False),
        sa.Column("charged", PRICE, nullable=False),
        sa.Column("high_water", PRICE, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "day", name=op.f("pk_fee_accruals")),
    )


def downgrade() -> None:
    op.drop_table("fee_accruals")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("fee_pct")
