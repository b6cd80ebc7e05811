"""The dashboard's sign-in tables (`solbot.web`): the operator's API tokens, the one-time links
the Telegram bot sends friends, and the browser sessions either opens.

Only SHA-256 digests of the secrets are stored (tokens, links and session cookies are 256-bit
random values, so a plain digest is enough: nothing to guess, nothing to brute-force), so a
copy of the database, a backup or a log of its queries signs nobody in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from solbot.store.tables import ID, USER_FK, Base
from solbot.store.types import UtcDateTime

DIGEST = String(64)  # hex SHA-256 of a secret
ACTOR = String(64)


class WebTokenRow(Base):
    """An operator's API token (`solbot web token create NAME`): used as a bearer token, or
    exchanged once for a browser session. Revoked tokens stay listed, with when."""

    __tablename__ = "web_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    digest: Mapped[str] = mapped_column(DIGEST, unique=True)
    created_by: Mapped[str] = mapped_column(ACTOR)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class WebLinkRow(Base):
    """A one-time sign-in link the Telegram bot sent a friend on `/web`: good once, for ten
    minutes (the wall clock's)."""

    __tablename__ = "web_links"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, ForeignKey(USER_FK))
    digest: Mapped[str] = mapped_column(DIGEST, unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_web_links_user_id", "user_id"),)


class WebSessionRow(Base):
    """A browser session: a friend's (`user_id`) or the operator's (`token_id`, the token it
    was opened with: revoking the token ends it). `csrf_digest` is the digest of the value
    every action must carry in its `X-CSRF-Token` header."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    digest: Mapped[str] = mapped_column(DIGEST, unique=True)
    csrf_digest: Mapped[str] = mapped_column(DIGEST)
    user_id: Mapped[str | None] = mapped_column(ID, ForeignKey(USER_FK))
    token_id: Mapped[str | None] = mapped_column(ID, ForeignKey("web_tokens.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_web_sessions_user_id", "user_id"),
        Index("ix_web_sessions_token_id", "token_id"),
    )
