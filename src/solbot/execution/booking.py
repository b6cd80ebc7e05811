"""Booking a fill: the position it opens or closes and the trade it records, in the caller's
database transaction, from the amounts the chain says moved. Shared by the single-order path
(`Executor`) and the group path (`GroupExecutor`)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from solbot.chain.port import NATIVE_MINT
from solbot.clock import Clock
from solbot.store.positions import Positions, Trades
from solbot.store.states import Purpose, Side
from solbot.store.tables import OrderRow


class Booking:
    """Positions and trades from fills, in units of each mint's `decimals`."""

    def __init__(
        self, clock: Clock, decimals: Mapping[str, int], trailing_stop_pct: Decimal | None
    ) -> None:
        self.clock = clock
        self.decimals = decimals
        self.trailing_stop_pct = trailing_stop_pct

    async def apply_fill(
        self, s: AsyncSession, order: OrderRow, filled_in: int, filled_out: int
    ) -> str:
        """Open or close the order's position and record the trade (caller's transaction)."""
        position_id, trade = await self.position(s, order, filled_in, filled_out)
        await Trades(s, self.clock).record(**trade)
        return position_id

    async def position(
        self,
        s: AsyncSession,
        order: OrderRow,
        filled_in: int,
        filled_out: int,
        *,
        new_positions: list[dict[str, Any]] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Open or close the order's position; the id and the trade to record for it. A group
        passes `new_positions`: a new position's row is appended there (the group inserts them
        together) rather than inserted in a savepoint of its own."""
        positions = Positions(s, self.clock)
        if Purpose(order.purpose) is Purpose.ENTRY:
            price = self._price(order.input_mint, filled_in, order.output_mint, filled_out)
            # Exit levels from the price before the venue's fee, as the backtester sets them.
            base = price / (1 + Decimal(order.fee_bps or 0) / 10_000)
            stop = base * (1 - order.stop_frac) if order.stop_frac else None
            target = base * (1 + order.target_frac) if order.target_frac else None
            values = positions.new_values(
                user_id=order.user_id,
                token=order.token,
                mint=order.output_mint,
                quantity=filled_out,
                cost=filled_in,
                entry_price=price,
                stop_loss=stop,
                take_profit=target,
                trailing_stop_pct=self.trailing_stop_pct,
            )
            if new_positions is None:
                await positions.insert(values)
            else:
                new_positions.append(values)
            position_id = str(values["id"])
            side, quantity, quote_amount, pnl = Side.BUY, filled_out, filled_in, None
        else:
            if order.position_id is None:
                raise RuntimeError(f"exit order {order.id} names no position")
            position = await positions.get(order.position_id)
            if position is None:
                raise RuntimeError(f"exit order {order.id} names a missing position")
            price = self._price(order.output_mint, filled_out, order.input_mint, filled_in)
            pnl = self._units(order.output_mint, filled_out - position.cost)
            await positions.close(
                position.id,
                exit_price=price,
                proceeds=filled_out,
                pnl=pnl,
                exit_reason=order.exit_reason or "signal",
            )
            position_id = position.id
            side, quantity, quote_amount = Side.SELL, filled_in, filled_out
        trade = {
            "user_id": order.user_id,
            "order_id": order.id,
            "position_id": position_id,
            "token": order.token,
            "side": side,
            "price": price,
            "quantity": quantity,
            "quote_amount": quote_amount,
            "fee_lamports": order.fee_lamports or 0,
            "pnl": pnl,
            "signature": order.signature,
        }
        return position_id, trade

    def _units(self, mint: str, atoms: int) -> Decimal:
        return Decimal(atoms).scaleb(-self.decimals[mint])

    def _price(
        self, quote_mint: str, quote_atoms: int, token_mint: str, token_atoms: int
    ) -> Decimal:
        """Quote units per whole token."""
        return self._units(quote_mint, quote_atoms) / self._units(token_mint, token_atoms)


def swap_output(order: OrderRow, measured: int, paid: int | None) -> int:
    """What the swap itself paid out, from the change of the wallet's output balance: for a SOL
    output on a route where the wallet pays its own costs, that change lost them too (the fee
    comes out of the same lamports), so they are added back; they are booked apart."""
    if order.output_mint == str(NATIVE_MINT) and paid:
        return measured + paid
    return measured
