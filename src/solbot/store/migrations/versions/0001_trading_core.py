"""Trading core: the order journal, positions, trades, meta.

Column types are written out here rather than imported from `solbot.store.types`, so this
revision keeps creating exactly the same schema whatever later code does to those classes:
money is TEXT on SQLite and NUMERIC on PostgreSQL (see `store.types` for why).

Revision ID: 0001
Revises:
Create Date: 2026-05-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(36)
MINT = sa.String(44)
SIGNATURE = sa.String(88)
ATOMS = sa.Text().with_variant(sa.Numeric(20, 0), "postgresql")
PRICE = sa.Text().with_variant(sa.Numeric(38, 18), "postgresql")
TIME = sa.DateTime(timezone=True)
OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "positions",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("mint", MINT, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("quantity", ATOMS, nullable=False),
        sa.Column("cost", ATOMS, nullable=False),
        sa.Column("entry_price", PRICE, nullable=False),
        sa.Column("entry_time", TIME, nullable=False),
        sa.Column("stop_loss", PRICE, nullable=True),
        sa.Column("take_profit", PRICE, nullable=True),
        sa.Column("trailing_stop_pct", PRICE, nullable=True),
        sa.Column("highest_price", PRICE, nullable=False),
        sa.Column("exit_time", TIME, nullable=True),
        sa.Column("exit_price", PRICE, nullable=True),
        sa.Column("proceeds", ATOMS, nullable=True),
        sa.Column("pnl", PRICE, nullable=True),
        sa.Column("exit_reason", sa.String(32), nullable=True),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_positions_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_positions")),
    )
    op.create_index(
        op.f("uq_positions_open_user_token"),
        "positions",
        ["user_id", "token"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index(op.f("ix_positions_user_id_status"), "positions", ["user_id", "status"])

    op.create_table(
        "orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("input_mint", MINT, nullable=False),
        sa.Column("output_mint", MINT, nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("exit_reason", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("amount_in", ATOMS, nullable=False),
        sa.Column("quoted_out", ATOMS, nullable=True),
        sa.Column("min_out", ATOMS, nullable=True),
        sa.Column("route", sa.String(4), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("signed_tx", sa.LargeBinary(), nullable=True),
        sa.Column("signature", SIGNATURE, nullable=True),
        sa.Column("own_signature", SIGNATURE, nullable=True),
        sa.Column("balance_before", ATOMS, nullable=True),
        sa.Column("stop_frac", PRICE, nullable=True),
        sa.Column("target_frac", PRICE, nullable=True),
        sa.Column("fee_bps", sa.Integer(), nullable=True),
        sa.Column("last_valid_block_height", sa.BigInteger(), nullable=True),
        sa.Column("filled_in", ATOMS, nullable=True),
        sa.Column("filled_out", ATOMS, nullable=True),
        sa.Column("fee_lamports", ATOMS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("position_id", ID, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_orders_side")),
        sa.CheckConstraint("purpose IN ('entry', 'exit')", name=op.f("ck_orders_purpose")),
        sa.CheckConstraint(
            "state IN ('created', 'quoted', 'signed', 'sent', 'confirmed', 'failed', 'expired')",
            name=op.f("ck_orders_state"),
        ),
        sa.CheckConstraint("route IN ('v2', 'v1')", name=op.f("ck_orders_route")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_orders_attempts")),
        sa.ForeignKeyConstraint(
            ["position_id"], ["positions.id"], name=op.f("fk_orders_position_id_positions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_orders_idempotency_key")),
        sa.UniqueConstraint("signature", name=op.f("uq_orders_signature")),
    )
    op.create_index(op.f("ix_orders_position_id"), "orders", ["position_id"])
    op.create_index(op.f("ix_orders_state_created_at"), "orders", ["state", "created_at"])
    op.create_index(op.f("ix_orders_user_id_created_at"), "orders", ["user_id", "created_at"])

    op.create_table(
        "trades",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("position_id", ID, nullable=True),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("price", PRICE, nullable=False),
        sa.Column("quantity", ATOMS, nullable=False),
        sa.Column("quote_amount", ATOMS, nullable=False),
        sa.Column("fee_lamports", ATOMS, nullable=False),
        sa.Column("pnl", PRICE, nullable=True),
        sa.Column("signature", SIGNATURE, nullable=True),
        sa.Column("timestamp", TIME, nullable=False),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_trades_side")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_trades_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["position_id"], ["positions.id"], name=op.f("fk_trades_position_id_positions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trades")),
        sa.UniqueConstraint("order_id", name=op.f("uq_trades_order_id")),
    )
    op.create_index(op.f("ix_trades_position_id"), "trades", ["position_id"])
    op.create_index(op.f("ix_trades_user_id_timestamp"), "trades", ["user_id", "timestamp"])

    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("trades")
    op.drop_table("orders")
    op.drop_table("positions")
