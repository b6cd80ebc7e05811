"""Paper trading: a `paper` route for orders filled at the quote, and the paper balances.

`orders.route` grows from 4 to 8 characters to hold "paper", and its CHECK constraint names the
new route. SQLite cannot alter a column or a constraint, so batch mode rebuilds the table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MINT = sa.String(44)
ATOMS = sa.Text().with_variant(sa.Numeric(20, 0), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("ck_orders_route"), type_="check")
        batch.alter_column(
            "route", existing_type=sa.String(4), type_=sa.String(8), existing_nullable=False
        )
        batch.create_check_constraint(op.f("ck_orders_route"), "route IN ('v2', 'v1', 'paper')")
    op.create_table(
        "paper_balances",
        sa.Column("owner", MINT, nullable=False),
        sa.Column("mint", MINT, nullable=False),
        sa.Column("atoms", ATOMS, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("owner", "mint", name=op.f("pk_paper_balances")),
    )


def downgrade() -> None:
    op.drop_table("paper_balances")
    op.execute("DELETE FROM orders WHERE route = 'paper'")
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("ck_orders_route"), type_="check")
        batch.alter_column(
            "route", existing_type=sa.String(8), type_=sa.String(4), existing_nullable=False
        )
        batch.create_check_constraint(op.f("ck_orders_route"), "route IN ('v2', 'v1')")
