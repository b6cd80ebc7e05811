"""Builders shared by the store tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from solbot.store.orders import Orders
from solbot.store.positions import Positions
from solbot.store.tables import OrderRow, PositionRow

USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
JUP = "JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"


async def new_order(orders: Orders, key: str = "u1:sig1:buy", **overrides: Any) -> OrderRow:
    values: dict[str, Any] = {
        "idempotency_key": key,
        "user_id": "u1",
        "token": "JUP",
        "input_mint": USDC,
        "output_mint": JUP,
        "side": "buy",
        "purpose": "entry",
        "amount_in": 25_000_000,
    }
    values.update(overrides)
    return await orders.create(**values)


async def new_position(positions: Positions, **overrides: Any) -> PositionRow:
    values: dict[str, Any] = {
        "user_id": "u1",
        "token": "JUP",
        "mint": JUP,
        "quantity": 31_250_000,
        "cost": 25_062_500,
        "entry_price": Decimal("0.8"),
        "stop_loss": Decimal("0.76"),
    }
    values.update(overrides)
    return await positions.open(**values)


def signed_fields(n: int = 1) -> dict[str, Any]:
    return {
        "signature": f"{n}" * 87 + "A",
        "own_signature": f"{n}" * 87 + "B",
        "balance_before": 2**63 + n,
        "signed_tx": bytes(range(n, n + 200)),
        "last_valid_block_height": 2**40 + n,
    }


TEST_USERS = ("u1", "u2", "u3")


async def seed_users(url: str) -> None:
    """The users the store tests trade for (the trading tables reference users)."""
    from solbot.clock import ManualClock
    from solbot.store.db import Database
    from solbot.store.users import Users

    db = Database(url)
    try:
        async with db.session() as s:
            users = Users(s, ManualClock(0.0))
            for n, user_id in enumerate(TEST_USERS, start=1):
                await users.create(
                    username=f"user_{user_id}",
                    wallet_pubkey=f"{n}" * 32,
                    custody="external",
                    user_id=user_id,
                )
    finally:
        await db.dispose()
