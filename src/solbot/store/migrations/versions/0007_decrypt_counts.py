"""Key decryptions counted in the database, so that the limits hold across processes:
`decrypt_counts` (per user, or "*" for all users, and wall-clock second) and `decrypt_pauses`
(signing paused after a burst, per user or for all).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "decrypt_counts",
        sa.Column("scope", ID, nullable=False),
        sa.Column("second", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "second", name=op.f("pk_decrypt_counts")),
    )
    op.create_index("ix_decrypt_counts_second", "decrypt_counts", ["second"])
    op.create_table(
        "decrypt_pauses",
        sa.Column("scope", ID, nullable=False),
        sa.Column("until", TIME, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_decrypt_pauses")),
    )


def downgrade() -> None:
    op.drop_table("decrypt_pauses")
    op.drop_index("ix_decrypt_counts_second", table_name="decrypt_counts")
    op.drop_table("decrypt_counts")
