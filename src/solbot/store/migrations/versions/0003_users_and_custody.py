"""Users and custody: `users` (dedicated wallets, sealed keys, risk limits), the hash-chained
`audit_log`, `withdrawals` and `withdrawal_addresses`; positions, orders and trades now
reference their user.

A database from before this revision traded for user ids that have no row yet (the phase-0
operator). Each such id gets an `external` user row, so the new foreign keys hold and no
history is lost; its wallet address is unknown here and is filled in by the first `solbot run`
that trades it (a unique placeholder until then).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
MINT = sa.String(44)
SIGNATURE = sa.String(88)
ATOMS = sa.Text().with_variant(sa.Numeric(20, 0), "postgresql")
PRICE = sa.Text().with_variant(sa.Numeric(38, 18), "postgresql")
TIME = sa.DateTime(timezone=True)
TRADING_TABLES = ("positions", "orders", "trades")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("username", sa.String(32), nullable=False),
        sa.Column("wallet_pubkey", MINT, nullable=False),
        sa.Column("custody", sa.String(8), nullable=False),
        sa.Column("encrypted_private_key", sa.LargeBinary(), nullable=True),
        sa.Column("master_key_id", sa.String(16), nullable=True),
        sa.Column("risk_tier", sa.String(16), nullable=False),
        sa.Column("max_position_size_pct", PRICE, nullable=True),
        sa.Column("max_daily_loss_pct", PRICE, nullable=True),
        sa.Column("portfolio_value", PRICE, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint("custody IN ('vault', 'external')", name=op.f("ck_users_custody")),
        sa.CheckConstraint(
            "risk_tier IN ('conservative', 'moderate', 'aggressive')",
            name=op.f("ck_users_risk_tier"),
        ),
        sa.CheckConstraint(
            "custody <> 'vault' OR "
            "(encrypted_private_key IS NOT NULL AND master_key_id IS NOT NULL)",
            name=op.f("ck_users_vault_key"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        sa.UniqueConstraint("wallet_pubkey", name=op.f("uq_users_wallet_pubkey")),
        sa.UniqueConstraint("telegram_id", name=op.f("uq_users_telegram_id")),
    )
    op.create_index(op.f("ix_users_master_key_id"), "users", ["master_key_id"])

    _adopt_existing_user_ids()
    for table in TRADING_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                op.f(f"fk_{table}_user_id_users"), "users", ["user_id"], ["id"]
            )

    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_user_id_seq"), "audit_log", ["user_id", "seq"])

    op.create_table(
        "withdrawals",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("destination", MINT, nullable=False),
        sa.Column("lamports", ATOMS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("signed_tx", sa.LargeBinary(), nullable=True),
        sa.Column("signature", SIGNATURE, nullable=True),
        sa.Column("last_valid_block_height", sa.BigInteger(), nullable=True),
        sa.Column("fee_lamports", ATOMS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint(
            "state IN ('created', 'signed', 'sent', 'confirmed', 'failed', 'expired')",
            name=op.f("ck_withdrawals_state"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_withdrawals_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawals")),
        sa.UniqueConstraint("signature", name=op.f("uq_withdrawals_signature")),
    )
    op.create_index(
        op.f("ix_withdrawals_user_id_created_at"), "withdrawals", ["user_id", "created_at"]
    )

    op.create_table(
        "withdrawal_addresses",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("address", MINT, nullable=False),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("added_at", TIME, nullable=False),
        sa.Column("usable_from", TIME, nullable=False),
        sa.Column("removed_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_withdrawal_addresses_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_withdrawal_addresses")),
    )
    op.create_index(
        op.f("uq_withdrawal_addresses_user_id_address"),
        "withdrawal_addresses",
        ["user_id", "address"],
        unique=True,
    )


def _adopt_existing_user_ids() -> None:
    """An `external` user row for every user id the trading tables already name."""
    conn = op.get_bind()
    ids: set[str] = set()
    for table in TRADING_TABLES:
        ids.update(row[0] for row in conn.execute(sa.text(f"SELECT DISTINCT user_id FROM {table}")))
    if not ids:
        return
    users = sa.table(
        "users",
        sa.column("id", ID),
        sa.column("username", sa.String(32)),
        sa.column("wallet_pubkey", MINT),
        sa.column("custody", sa.String(8)),
        sa.column("risk_tier", sa.String(16)),
        sa.column("portfolio_value", PRICE),
        sa.column("is_active", sa.Boolean()),
        sa.column("created_at", TIME),
        sa.column("updated_at", TIME),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        users,
        [
            {
                "id": user_id,
                "username": user_id[:32],
                "wallet_pubkey": f"unknown:{index}",
                "custody": "external",
                "risk_tier": "moderate",
                "portfolio_value": "0",
                "is_active": True,
                "created_at": now,
                "updated_at": now,
            }
            for index, user_id in enumerate(sorted(ids))
        ],
    )


def downgrade() -> None:
    op.drop_table("withdrawal_addresses")
    op.drop_table("withdrawals")
    op.drop_table("audit_log")
    for table in TRADING_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"fk_{table}_user_id_users"), type_="foreignkey")
    op.drop_table("users")
