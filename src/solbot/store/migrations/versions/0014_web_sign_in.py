"""The dashboard's sign-in: `web_tokens` (the operator's API tokens), `web_links` (one-time
links sent on Telegram's `/web`), `web_sessions` (browser sessions); secrets stored as
SHA-256 digests only.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
TIME = sa.DateTime(timezone=True)
DIGEST = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "web_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_web_tokens_name")),
        sa.UniqueConstraint("digest", name=op.f("uq_web_tokens_digest")),
    )
    op.create_table(
        "web_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("used_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_web_links_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_links")),
        sa.UniqueConstraint("digest", name=op.f("uq_web_links_digest")),
    )
    op.create_index("ix_web_links_user_id", "web_links", ["user_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("csrf_digest", DIGEST, nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("token_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("ended_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["token_id"], ["web_tokens.id"], name=op.f("fk_web_sessions_token_id_web_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("digest", name=op.f("uq_web_sessions_digest")),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_token_id", "web_sessions", ["token_id"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_token_id", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_web_links_user_id", table_name="web_links")
    op.drop_table("web_links")
    op.drop_table("web_tokens")
