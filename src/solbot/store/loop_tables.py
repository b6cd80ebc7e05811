"""What other processes ask of the trading loop through the database: `close_requests` (a user
asked to sell a position now: Telegram's `/close`, the dashboard's button). The loop alone
sells, so a request is a row it reads at each tick, whichever process wrote it (`solbot web`,
the Telegram bot, the dashboard beside `solbot run --web`) and whatever crashed in between."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
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
