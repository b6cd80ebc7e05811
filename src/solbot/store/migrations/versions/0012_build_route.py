"""The `build` route: orders whose transaction the bot assembled from Jupiter's `/build`
instructions and lands itself, with the compute budget it chose (the unit limit from a
simulation, the unit price from recent fees, capped), so a restart and the costs know them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("ck_orders_route"), type_="check")
        batch.create_check_constraint(
            op.f("ck_orders_route"), "route IN ('v2', 'build', 'v1', 'paper')"
        )
        batch.add_column(sa.Column("compute_unit_limit", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("compute_unit_price", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM orders WHERE route = 'build'")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("compute_unit_price")
        batch.drop_column("compute_unit_limit")
        batch.drop_constraint(op.f("ck_orders_route"), type_="check")
        batch.create_check_constraint(op.f("ck_orders_route"), "route IN ('v2', 'v1', 'paper')")
