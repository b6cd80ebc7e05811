"""Account closes: `account_closes`, the journal of the transactions that close a wallet's empty
token accounts for their rent (after exits, and `solbot cleanup`), so the books know the SOL
they moved (the same states as withdrawals).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
TIME = sa.DateTime(timezone=True)
ATOMS = sa.Text().with_variant(sa.Numeric(20, 0), "postgresql")
STATES = "'created', 'signed', 'sent', 'confirmed', 'failed', 'expired'"


def upgrade() -> None:
    op.create_table(
        "account_closes",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("addresses", sa.Text(), nullable=False),
        sa.Column("rent_lamports", ATOMS, nullable=False),
        sa.Column("reclaimed_lamports", ATOMS, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("signed_tx", sa.LargeBinary(), nullable=True),
        sa.Column("signature", sa.String(88), nullable=True),
        sa.Column("last_valid_block_height", sa.BigInteger(), nullable=True),
        sa.Column("fee_lamports", ATOMS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f("ck_account_closes_state")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_closes_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_closes")),
        sa.UniqueConstraint("signature", name=op.f("uq_account_closes_signature")),
    )
    op.create_index("ix_account_closes_user_id_state", "account_closes", ["user_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_account_closes_user_id_state", table_name="account_closes")
    op.drop_table("account_closes")
