"""Integrity: `users.identity_mac`, the MAC that binds a user's id, username, Telegram id and
wallet together under the master key. A migration has no master key, so existing rows start
without one; the first command that holds the key adopts each of them, but only when the row
is what the (verified) audit log recorded when the user was created (`solbot.wallet.identity`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("identity_mac", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("identity_mac")
