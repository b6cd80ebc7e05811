"""Fee sweeps: `fee_sweeps`, the journal of the transfers that pay the operator's accrued
performance fees from users' wallets to the fee wallet (the same states as withdrawals).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
MINT = sa.String(44)
TIME = sa.DateTime(timezone=True)
ATOMS = sa.Text().with_variant(sa.Numeric(20, 0), "postgresql")
STATES = "'created', 'signed', 'sent', 'confirmed', 'failed', 'expired'"


def upgrade() -> None:
    op.create_table(
        "fee_sweeps",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("destination", MINT, nullable=False),
        sa.Column("mint", MINT, nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("atoms", ATOMS, nullable=False),
        sa.Column("through_day", sa.String(10), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("signed_tx", sa.LargeBinary(), nullable=True),
        sa.Column("signature", sa.String(88), nullable=True),
        sa.Column("last_valid_block_height", sa.BigInteger(), nullable=True),
        sa.Column("fee_lamports", ATOMS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f("ck_fee_sweeps_state")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_fee_sweeps_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fee_sweeps")),
        sa.UniqueConstraint("signature", name=op.f("uq_fee_sweeps_signature")),
    )
    op.create_index("ix_fee_sweeps_user_id_through_day", "fee_sweeps", ["user_id", "through_day"])


def downgrade() -> None:
    op.drop_index("ix_fee_sweeps_user_id_through_day", table_name="fee_sweeps")
    op.drop_table("fee_sweeps")
