"""The tables: users and their encrypted wallets, the order journal, positions, trades, the
hash-chained audit log, withdrawals and their whitelist, the operator's fees (accrued and
swept), paper balances, the holds on orders
that keep failing, and a key/value `meta`.

Money columns use the exact types of `store.types`. Every constraint and index has a name (the
naming convention below), because SQLite migrations rebuild tables and can only recreate or drop
what they can name, and so that both databases carry identical names.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from solbot.store.states import (
    Custody,
    OrderState,
    PositionStatus,
    Purpose,
    RiskTier,
    Route,
    Side,
    WithdrawalState,
    sql_in,
)
from solbot.store.types import Atoms, Price, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(36)  # a UUID in its 36-character text form, the same on both databases
MINT = String(44)  # base58 of a 32-byte public key
SIGNATURE = String(88)  # base58 of a 64-byte signature

OPEN_POSITION = "status = 'open'"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


USER_FK = "users.id"


class UserRow(Base):
    """A person the bot trades for, with their dedicated wallet and their own risk limits.

    `custody` says where the wallet's key is: `vault` (generated or imported by the bot, the
    32-byte seed sealed with AES-256-GCM under the master key `master_key_id`, see
    `solbot.wallet.envelope`) or `external` (the operator's own key from the environment, or the
    sim's funded wallet: never stored). `portfolio_value` is the value last marked by the loop,
    in the quote asset (for listings; the loop itself values from the chain).
    """

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    wallet_pubkey: Mapped[str] = mapped_column(MINT, unique=True)
    custody: Mapped[str] = mapped_column(String(8))
    encrypted_private_key: Mapped[bytes | None] = mapped_column(LargeBinary())
    master_key_id: Mapped[str | None] = mapped_column(String(16))
    risk_tier: Mapped[str] = mapped_column(String(16))
    max_position_size_pct: Mapped[Decimal | None] = mapped_column(Price())
    max_daily_loss_pct: Mapped[Decimal | None] = mapped_column(Price())
    portfolio_value: Mapped[Decimal] = mapped_column(Price())
    is_active: Mapped[bool] = mapped_column(Boolean())
    paused_reason: Mapped[str | None] = mapped_column(Text())
    telegram_id: Mapped[int | None] = mapped_column(BigInteger(), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # Telegram: the risk disclosure, notification switches (the seed's NotificationSettings),
    # and the second factor: a TOTP secret sealed like a wallet key, the last time step
    # accepted (a code is good once), and the lock-out after repeated wrong codes.
    accepted_terms_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    notify_trade: Mapped[bool] = mapped_column(Boolean(), default=True, server_default=true())
    notify_exit: Mapped[bool] = mapped_column(Boolean(), default=True, server_default=true())
    notify_breaker: Mapped[bool] = mapped_column(Boolean(), default=True, server_default=true())
    notify_daily: Mapped[bool] = mapped_column(Boolean(), default=True, server_default=true())
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary())
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger())
    totp_failures: Mapped[int] = mapped_column(Integer(), default=0, server_default="0")
    totp_locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # HMAC of the user's identity (id, username, Telegram id, wallet) under the master key's
    # identity subkey (`solbot.wallet.identity`): a vault row swapped or edited in the database
    # no longer matches it, and every key operation checks it first.
    identity_mac: Mapped[str | None] = mapped_column(String(64))
    # The performance fee for this user, in percent (NULL: SOLBOT_PERFORMANCE_FEE_PCT).
    fee_pct: Mapped[Decimal | None] = mapped_column(Price())
    # The quote asset the wallet held at the loop's last mark, and when (the trading clock's):
    # the dashboard's balances, read in another process that cannot ask the loop's chain.
    cash_atoms: Mapped[int | None] = mapped_column(Atoms())
    marked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint(f"custody IN ({sql_in(Custody)})", name="custody"),
        CheckConstraint(f"risk_tier IN ({sql_in(RiskTier)})", name="risk_tier"),
        # A vault wallet carries its sealed key and the id of the key that sealed it.
        CheckConstraint(
            "custody <> 'vault' OR "
            "(encrypted_private_key IS NOT NULL AND master_key_id IS NOT NULL)",
            name="vault_key",
        ),
        Index("ix_users_master_key_id", "master_key_id"),
    )


class PositionRow(Base):
    """A holding of one token by one user, from the entry fill to the exit fill.

    `quantity` is what the chain says arrived (atoms of the token), `cost` what left the wallet
    (atoms of the quote asset, fees included); prices are quote per whole token.
    """

    __tablename__ = "positions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK))
    token: Mapped[str] = mapped_column(String(32))
    mint: Mapped[str] = mapped_column(MINT)
    status: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int] = mapped_column(Atoms())
    cost: Mapped[int] = mapped_column(Atoms())
    entry_price: Mapped[Decimal] = mapped_column(Price())
    entry_time: Mapped[datetime] = mapped_column(UtcDateTime())
    stop_loss: Mapped[Decimal | None] = mapped_column(Price())
    take_profit: Mapped[Decimal | None] = mapped_column(Price())
    trailing_stop_pct: Mapped[Decimal | None] = mapped_column(Price())
    highest_price: Mapped[Decimal] = mapped_column(Price())
    exit_time: Mapped[datetime | None] = mapped_column(UtcDateTime())
    exit_price: Mapped[Decimal | None] = mapped_column(Price())
    proceeds: Mapped[int | None] = mapped_column(Atoms())
    pnl: Mapped[Decimal | None] = mapped_column(Price())
    exit_reason: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        CheckConstraint(f"status IN ({sql_in(PositionStatus)})", name="status"),
        # At most one open position per user and token. Partial, so closed ones never collide;
        # both SQLite (3.8+) and PostgreSQL support the WHERE clause on a unique index.
        Index(
            "uq_positions_open_user_token",
            "user_id",
            "token",
            unique=True,
            sqlite_where=text(OPEN_POSITION),
            postgresql_where=text(OPEN_POSITION),
        ),
        Index("ix_positions_user_id_status", "user_id", "status"),
    )


class OrderRow(Base):
    """One intent to swap, journalled before anything leaves the process.

    After a crash, the state, the signature and `signed_tx` say what to ask the chain and what
    to re-send, so an order is never executed twice and a fill is never lost.
    """

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK))
    token: Mapped[str] = mapped_column(String(32))
    input_mint: Mapped[str] = mapped_column(MINT)
    output_mint: Mapped[str] = mapped_column(MINT)
    side: Mapped[str] = mapped_column(String(4))
    purpose: Mapped[str] = mapped_column(String(8))
    exit_reason: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    amount_in: Mapped[int] = mapped_column(Atoms())
    quoted_out: Mapped[int | None] = mapped_column(Atoms())
    min_out: Mapped[int | None] = mapped_column(Atoms())
    route: Mapped[str] = mapped_column(String(8))
    request_id: Mapped[str | None] = mapped_column(String(128))
    signed_tx: Mapped[bytes | None] = mapped_column(LargeBinary())
    signature: Mapped[str | None] = mapped_column(SIGNATURE, unique=True)
    # Our own signature in the transaction. On a Jupiter v2 market-maker route the maker pays
    # the fee, so the transaction id (slot 0) is the maker's signature, unknown until /execute
    # answers; `own_signature` and `balance_before` (output-token atoms before the swap) let a
    # restart settle such an order from balances.
    own_signature: Mapped[str | None] = mapped_column(SIGNATURE)
    balance_before: Mapped[int | None] = mapped_column(Atoms())
    # An entry carries its exit levels (fractions of the fill price) so that the position opens
    # in the same transaction that confirms the order, even when that happens after a restart.
    stop_frac: Mapped[Decimal | None] = mapped_column(Price())
    target_frac: Mapped[Decimal | None] = mapped_column(Price())
    # The venue's fee on this swap, when it says (Swap v2 does): exit levels are measured from
    # the price before fees, as the backtester measures them.
    fee_bps: Mapped[int | None] = mapped_column(Integer())
    last_valid_block_height: Mapped[int | None] = mapped_column(BigInteger())
    filled_in: Mapped[int | None] = mapped_column(Atoms())
    filled_out: Mapped[int | None] = mapped_column(Atoms())
    fee_lamports: Mapped[int | None] = mapped_column(Atoms())
    error: Mapped[str | None] = mapped_column(Text())
    attempts: Mapped[int] = mapped_column(default=0)
    position_id: Mapped[str | None] = mapped_column(ID, ForeignKey("positions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The compute budget of a transaction we land ourselves (`build`): the unit limit from a
    # simulation, the unit price (micro-lamports) from recent fees, capped per order.
    compute_unit_limit: Mapped[int | None] = mapped_column(Integer())
    compute_unit_price: Mapped[int | None] = mapped_column(BigInteger())

    __table_args__ = (
        CheckConstraint(f"side IN ({sql_in(Side)})", name="side"),
        CheckConstraint(f"purpose IN ({sql_in(Purpose)})", name="purpose"),
        CheckConstraint(f"state IN ({sql_in(OrderState)})", name="state"),
        CheckConstraint(f"route IN ({sql_in(Route)})", name="route"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_orders_state_created_at", "state", "created_at"),
        Index("ix_orders_user_id_created_at", "user_id", "created_at"),
    )


class TradeRow(Base):
    """A fill, as the chain reported it: one per confirmed order (`order_id` is unique)."""

    __tablename__ = "trades"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK))
    position_id: Mapped[str | None] = mapped_column(ID, ForeignKey("positions.id"), index=True)
    order_id: Mapped[str] = mapped_column(ID, ForeignKey("orders.id"), unique=True)
    token: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal] = mapped_column(Price())
    quantity: Mapped[int] = mapped_column(Atoms())
    quote_amount: Mapped[int] = mapped_column(Atoms())
    fee_lamports: Mapped[int] = mapped_column(Atoms())
    pnl: Mapped[Decimal | None] = mapped_column(Price())
    signature: Mapped[str | None] = mapped_column(SIGNATURE)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint(f"side IN ({sql_in(Side)})", name="side"),
        Index("ix_trades_user_id_timestamp", "user_id", "timestamp"),
    )


class PaperBalanceRow(Base):
    """What a paper-trading account holds of one mint, in atoms: the wallet it would have.

    Keyed by the account's address, as a chain keys balances, so the paper chain answers the
    same questions (`balance`, `token_balance`) that the real one does; lamports under SOL's
    mint."""

    __tablename__ = "paper_balances"

    owner: Mapped[str] = mapped_column(MINT, primary_key=True)
    mint: Mapped[str] = mapped_column(MINT, primary_key=True)
    atoms: Mapped[int] = mapped_column(Atoms())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditRow(Base):
    """One wallet operation, append-only: who did what to whose wallet, never a secret.

    `seq` is assigned by the writer (the head's + 1, under a lock), not by the database, so a
    deleted row leaves a gap; `mac` is HMAC-SHA256 over the row and the previous row's `mac`
    (`solbot.wallet.audit`), so an edited, deleted or reordered row breaks the chain.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(ID)
    details: Mapped[str] = mapped_column(Text())
    key_id: Mapped[str] = mapped_column(String(16))
    mac: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_log_user_id_seq", "user_id", "seq"),)


class WithdrawalRow(Base):
    """A transfer of SOL out of a user's wallet, journaled like an order: the signed bytes and
    the signature are stored before sending, so a crash can never send it twice or lose it."""

    __tablename__ = "withdrawals"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK))
    destination: Mapped[str] = mapped_column(MINT)
    lamports: Mapped[int] = mapped_column(Atoms())
    state: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    signed_tx: Mapped[bytes | None] = mapped_column(LargeBinary())
    signature: Mapped[str | None] = mapped_column(SIGNATURE, unique=True)
    last_valid_block_height: Mapped[int | None] = mapped_column(BigInteger())
    fee_lamports: Mapped[int | None] = mapped_column(Atoms())
    error: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # The wallet's value (lamports) that the 24-hour limit of this withdrawal's window is a
    # share of, fixed by the window's first withdrawal (see `withdrawal_policy`).
    window_base: Mapped[int | None] = mapped_column(Atoms())

    __table_args__ = (
        CheckConstraint(f"state IN ({sql_in(WithdrawalState)})", name="state"),
        Index("ix_withdrawals_user_id_created_at", "user_id", "created_at"),
    )

    def outcome_details(self) -> dict[str, object]:
        """What the audit records of how it ended (`solbot.transfers`)."""
        return {"withdrawal": self.id, "lamports": self.lamports}


class WithdrawalAddressRow(Base):
    """An address a user may withdraw to, usable from `usable_from` (a time-lock against a
    thief who adds their own address), until removed."""

    __tablename__ = "withdrawal_addresses"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK))
    address: Mapped[str] = mapped_column(MINT)
    label: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
    usable_from: Mapped[datetime] = mapped_column(UtcDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("uq_withdrawal_addresses_user_id_address", "user_id", "address", unique=True),
    )


class OrderHoldRow(Base):
    """Orders of one user, token and side that keep failing: how often in a row, the last
    error, when the next attempt may be made, and whether they are quarantined (no more
    orders until the operator re-arms them). `token` and `side` are `*` for a hold on the
    user's whole trading (a key that cannot sign). The rule is `solbot.quarantine`'s; the
    row is what a restart must not forget. A success or a re-arm deletes it."""

    __tablename__ = "order_holds"

    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK), primary_key=True)
    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    side: Mapped[str] = mapped_column(String(4), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer())
    last_error: Mapped[str] = mapped_column(Text())
    first_failed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_failed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    retry_at: Mapped[datetime] = mapped_column(UtcDateTime())
    quarantined_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    position_id: Mapped[str | None] = mapped_column(ID, ForeignKey("positions.id"))

    __table_args__ = (
        CheckConstraint(f"side IN ({sql_in(Side)}, '*')", name="side"),
        CheckConstraint("failures >= 1", name="failures"),
    )


class EquityRow(Base):
    """A user's portfolio value at a moment (at most one an hour): the equity curve of `/pnl`
    and the daily summary."""

    __tablename__ = "equity"

    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)
    value: Mapped[Decimal] = mapped_column(Price())


class DecryptCountRow(Base):
    """Key decryptions granted in one wall-clock second, per user (`scope` = user id) and over
    all users (`scope` = "*"): the shared window of `wallet.decrypt_guard`, which every process
    on the database counts in and checks against."""

    __tablename__ = "decrypt_counts"

    scope: Mapped[str] = mapped_column(ID, primary_key=True)
    second: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer())

    __table_args__ = (Index("ix_decrypt_counts_second", "second"),)


class DecryptPauseRow(Base):
    """Signing paused for a user (or for all, `scope` = "*") until `until`, after a burst of
    `count` decryptions within the window."""

    __tablename__ = "decrypt_pauses"

    scope: Mapped[str] = mapped_column(ID, primary_key=True)
    until: Mapped[datetime] = mapped_column(UtcDateTime())
    count: Mapped[int] = mapped_column(Integer())


class ChatDeletionRow(Base):
    """A Telegram message that must disappear: a key export, a 2FA secret, a user's message
    carrying a code. Kept here, not in a timer, so that a kill or a Bot API outage delays the
    deletion but never forgets it (`telegram.deletions`).

    `message_id` is NULL while the message is being sent: a row still NULL after a restart is
    a message that may have reached the chat unseen, and its user is told to delete it by hand.
    `state`: `pending` (to delete when `next_try_at` comes), `tell` (Telegram will not delete
    it: the user and the operator are to be told), `by_hand` (they were told). A deleted
    message's row is removed."""

    __tablename__ = "chat_deletions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)  # a UUID, as every table's
    chat_id: Mapped[int] = mapped_column(BigInteger())
    message_id: Mapped[int | None] = mapped_column(BigInteger())
    user_id: Mapped[str | None] = mapped_column(ID)
    what: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_try_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer(), default=0)
    error: Mapped[str | None] = mapped_column(Text())

    __table_args__ = (Index("ix_chat_deletions_state_next_try_at", "state", "next_try_at"),)


class TelegramAccessRow(Base):
    """A Telegram account that asked to use the bot (`/start` from an id not in
    `TELEGRAM_ALLOWED_IDS`) and the operator's answer: `pending`, `approved` or `refused`.
    Approved ids are allowed like the configured ones; every decision is audited."""

    __tablename__ = "telegram_access"

    telegram_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(96))
    state: Mapped[str] = mapped_column(String(8))
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64))


class FeeAccrualRow(Base):
    """One user's performance fee for one day (UTC, the trading clock's): the realised PnL up
    to the day's end, the fee on the part above the high-water mark, and the mark after it
    (`solbot.fees`). One row per user and day, so a day is accrued once whatever crashes."""

    __tablename__ = "fee_accruals"

    user_id: Mapped[str] = mapped_column(ID, primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    pct: Mapped[Decimal] = mapped_column(Price())
    realised: Mapped[Decimal] = mapped_column(Price())
    fee: Mapped[Decimal] = mapped_column(Price())
    charged: Mapped[Decimal] = mapped_column(Price())  # every fee up to this day, this one's too
    high_water: Mapped[Decimal] = mapped_column(Price())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class MetaEntry(Base):
    """Small facts about the database itself (e.g. the master-key check value)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text())


class FeeSweepRow(Base):
    """A transfer of the operator's performance fee from a user's wallet to the fee wallet, in
    the quote asset (`mint`; the native mint for SOL), journaled like a withdrawal
    (`solbot.transfers`). `through_day` is the last accrued day it settles: one sweep per user
    and day that is not failed or expired, so a sweep asked for twice is not paid twice."""

    __tablename__ = "fee_sweeps"

    # The journal's columns are those of `withdrawals` (`solbot.transfers` reads both), spelled
    # out in each table: a mixin would reorder the existing table's columns.
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK))
    destination: Mapped[str] = mapped_column(MINT)  # the fee wallet (its owner address)
    mint: Mapped[str] = mapped_column(MINT)
    symbol: Mapped[str] = mapped_column(String(16))  # the quote's, for people
    decimals: Mapped[int] = mapped_column(Integer())
    atoms: Mapped[int] = mapped_column(Atoms())
    through_day: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    signed_tx: Mapped[bytes | None] = mapped_column(LargeBinary())
    signature: Mapped[str | None] = mapped_column(SIGNATURE, unique=True)
    last_valid_block_height: Mapped[int | None] = mapped_column(BigInteger())
    fee_lamports: Mapped[int | None] = mapped_column(Atoms())
    error: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint(f"state IN ({sql_in(WithdrawalState)})", name="state"),
        Index("ix_fee_sweeps_user_id_through_day", "user_id", "through_day"),
    )

    def outcome_details(self) -> dict[str, object]:
        """What the audit records of how it ended (`solbot.transfers`)."""
        return {"fee_sweep": self.id, "atoms": self.atoms, "mint": self.mint}


class AccountCloseRow(Base):
    """Closing a wallet's empty token accounts (`addresses`, comma-separated) for their rent,
    journaled like a withdrawal (`solbot.transfers`), so the books know the SOL it moved:
    `rent_lamports` is what the accounts held when looked at, `reclaimed_lamports` what came
    back per the landed transaction, `fee_lamports` its network fee (`solbot.reconcile`)."""

    __tablename__ = "account_closes"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK))
    addresses: Mapped[str] = mapped_column(Text())
    rent_lamports: Mapped[int] = mapped_column(Atoms())
    reclaimed_lamports: Mapped[int | None] = mapped_column(Atoms())
    state: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    signed_tx: Mapped[bytes | None] = mapped_column(LargeBinary())
    signature: Mapped[str | None] = mapped_column(SIGNATURE, unique=True)
    last_valid_block_height: Mapped[int | None] = mapped_column(BigInteger())
    fee_lamports: Mapped[int | None] = mapped_column(Atoms())
    error: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        CheckConstraint(f"state IN ({sql_in(WithdrawalState)})", name="state"),
        Index("ix_account_closes_user_id_state", "user_id", "state"),
    )

    def outcome_details(self) -> dict[str, object]:
        """What the audit records of how it ended (`solbot.transfers`)."""
        return {"account_close": self.id, "accounts": self.addresses.count(",") + 1}


# The dashboard's sign-in tables and what other processes ask of the loop live beside these,
# in their own modules; importing them here puts them in `Base.metadata` wherever the tables
# are loaded (migrations, backups, tests).
from solbot.store import loop_tables, web_tables, webhook_tables  # noqa: E402, F401
