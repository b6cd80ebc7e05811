"""Webhooks (`solbot.webhooks`): where the loop's events go besides Telegram (Discord, Slack, a
JSON endpoint), per user and for the operator, and the deliveries owed to them.

A webhook's address is a secret (Discord's and Slack's carry their token), so it is stored
sealed under the master key (`url_sealed`), with a hint for listings. Deliveries are a
durable queue with back-off; those that gave up stay as the dead-letter log until replayed
or forgotten."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from solbot.store.tables import ID, USER_FK, Base
from solbot.store.types import UtcDateTime


class WebhookRow(Base):
    """One endpoint: the operator's (`user_id` null: every user's events and the alerts) or a
    user's (that user's events)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[str | None] = mapped_column(ID, ForeignKey(USER_FK))
    kind: Mapped[str] = mapped_column(String(8))  # discord, slack, json
    url_sealed: Mapped[bytes] = mapped_column(LargeBinary())
    url_hint: Mapped[str] = mapped_column(String(80))  # scheme, host, the address's last 4
    events: Mapped[str] = mapped_column(String(64))  # comma-separated groups
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class WebhookDeliveryRow(Base):
    """One event owed to one webhook: pending (with its next try), or dead (gave up: the
    dead-letter log)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ID, ForeignKey("webhooks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # the event's kind
    body: Mapped[str] = mapped_column(Text())  # the JSON to post (no secret in it)
    state: Mapped[str] = mapped_column(String(8))  # pending, dead
    attempts: Mapped[int] = mapped_column(Integer())
    next_try_at: Mapped[datetime] = mapped_column(UtcDateTime())  # the wall clock's
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_try_at"),)
