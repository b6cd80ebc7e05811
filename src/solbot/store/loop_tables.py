"""What other processes ask of the trading loop through the database: `close_requests` (a user
asked to sell a position now: Telegram's `/close`, the dashboard's button). The loop alone
sells, so a request is a row it reads at each tick, whichever process wrote it (`solbot web`,
the Telegram bot, the dashboard beside `solbot run --web`) and whatever crashed in between."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from solbot.store.tables import ID, USER_FK, Base
from solbot.store.types import UtcDateTime


class CloseRequestRow(Base):
    """A user asked to sell this position at the loop's next tick. Keyed by the position, not
    the token: asking twice is one request, and a request never outlives its position (a
    later position of the same token is not sold by it)."""

    __tablename__ = "close_requests"

    position_id: Mapped[str] = mapped_column(ID, ForeignKey("positions.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK))
    token: Mapped[str] = mapped_column(String(32))
    asked_by: Mapped[str] = mapped_column(String(64))
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime())  # the wall clock's


class WorkerRow(Base):
    """A `solbot run --worker` process, alive while `beat_at` (the database's clock) is
    recent; how many are alive decides each one's share of the users."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))  # "pid 1234 on host": for people
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    beat_at: Mapped[datetime] = mapped_column(UtcDateTime())


class UserLeaseRow(Base):
    """Which worker acts for a user, until when (the database's clock), and the epoch: raised
    at every change of hands, and checked by every journal write of the holder (the fence)."""

    __tablename__ = "user_leases"

    user_id: Mapped[str] = mapped_column(
        ID, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True
    )
    worker_id: Mapped[str | None] = mapped_column(ID, index=True)  # None: nobody's
    epoch: Mapped[int] = mapped_column(BigInteger())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
