"""Telegram: the risk disclosure, notification switches and the second factor on `users`, the
base of the 24-hour withdrawal limit on `withdrawals`, and the `equity` table (each user's
portfolio value, at most one row an hour).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
ATOMS = sa.Text().with_variant(sa.Numeric(20, 0), "postgresql")
PRICE = sa.Text().with_variant(sa.Numeric(38, 18), "postgresql")
TIME = sa.DateTime(timezone=True)
SWITCHES = ("notify_trade", "notify_exit", "notify_breaker", "notify_daily")


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("accepted_terms_at", TIME, nullable=True))
        for name in SWITCHES:
            batch.add_column(
                sa.Column(name, sa.Boolean(), server_default=sa.true(), nullable=False)
            )
        batch.add_column(sa.Column("totp_secret", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("totp_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("totp_locked_until", TIME, nullable=True))
    with op.batch_alter_table("withdrawals") as batch:
        batch.add_column(sa.Column("window_base", ATOMS, nullable=True))
    op.create_table(
        "equity",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("value", PRICE, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_equity_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "at", name=op.f("pk_equity")),
    )


def downgrade() -> None:
    op.drop_table("equity")
    with op.batch_alter_table("withdrawals") as batch:
        batch.drop_column("window_base")
    with op.batch_alter_table("users") as batch:
        for name in (
            "totp_locked_until",
            "totp_failures",
            "totp_last_step",
            "totp_secret",
            *reversed(SWITCHES),
            "accepted_terms_at",
        ):
            batch.drop_column(name)
