"""A booked trade for tests that need PnL in the books (a confirmed exit order and its fill),
without running a loop."""

from __future__ import annotations

import uuid
from decimal import Decimal

from solbot.store.db import Database
from solbot.store.tables import OrderRow, TradeRow
from solbot.store.types import utc_from_timestamp


async def book_trade(db: Database, user_id: str, pnl: str, when: float, token: str = "JUP") -> None:
    """A sell of `token` at `when` (Unix seconds) that realised `pnl` in the quote asset."""
    async with db.session() as s:
        order = OrderRow(
            id=str(uuid.uuid4()),
            idempotency_key=str(uuid.uuid4()),
            user_id=user_id,
            token=token,
            input_mint="a",
            output_mint="b",
            side="sell",
            purpose="exit",
            state="confirmed",
            amount_in=1,
            route="v2",
            attempts=1,
            created_at=utc_from_timestamp(when),
            updated_at=utc_from_timestamp(when),
        )
        s.add(order)
        await s.flush()
        s.add(
            TradeRow(
                id=str(uuid.uuid4()),
                user_id=user_id,
                order_id=order.id,
                token=token,
                side="sell",
                price=Decimal("0.5"),
                quantity=10**6,
                quote_amount=10**6,
                fee_lamports=0,
                pnl=Decimal(pnl),
                timestamp=utc_from_timestamp(when),
            )
        )
