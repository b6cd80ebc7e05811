"""The daily summary's rule, one place for its readers (Telegram's summary with its chart, the
webhooks' summary event): when it is due (`SOLBOT_DAILY_SUMMARY_UTC` on the trading clock)
and what a user's day was (PnL realised in the last 24 hours, trades, value)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.store.tables import TradeRow
from solbot.store.types import utc_from_timestamp

DAY_SECONDS = 86_400


def next_due(now: float, hhmm: str) -> float:
    """The next moment after `now` at `hhmm` UTC ("20:00")."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    moment = datetime.fromtimestamp(now, UTC)
    at = moment.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if at <= moment:
        at += timedelta(days=1)
    return at.timestamp()


@dataclass(frozen=True)
class Day:
    realised: Decimal  # PnL of the positions closed in the last 24 hours
    trades: int

    def text(self, value: Decimal, quote: str) -> str:
        return (
            f"value {value:,.2f} {quote}, realised PnL {self.realised:+,.2f} {quote}, "
            f"{self.trades} trade(s)"
        )


async def day_of(s: AsyncSession, user_id: str, now: float) -> Day:
    since = utc_from_timestamp(now - DAY_SECONDS)
    pnls = list(
        await s.scalars(
            select(TradeRow.pnl).where(TradeRow.user_id == user_id, TradeRow.timestamp >= since)
        )
    )
    return Day(sum((pnl or Decimal(0) for pnl in pnls), Decimal(0)), len(pnls))
