"""`users.cash_atoms` and `users.marked_at`: the quote asset the wallet held when the loop last
marked it, and when (the trading clock's), for the dashboard's balances (another process: it
cannot ask the loop's chain, the embedded sim's least of all).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ATOMS = sa.Text().with_variant(sa.Numeric(20, 0), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("cash_atoms", ATOMS, nullable=True))
        batch.add_column(sa.Column("marked_at", TIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("marked_at")
        batch.drop_column("cash_atoms")
