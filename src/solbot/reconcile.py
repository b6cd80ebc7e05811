"""The books against the chain, for every user and every asset, at the end of a run.

What each line compares:
- a traded token: the wallet holds exactly the user's open positions of it (to the atom). A
  fill the chain lost, a sale the chain still shows unsold, tokens moved in or out by hand: each
  is a difference.
- every other asset (the quote, SOL, a token of the list the bot does not trade): the wallet
  holds what it held when the run started serving the user, plus every flow the books recorded
  since (fills of orders made in this run, withdrawals, fee sweeps, the rent closed token
  accounts gave back, and the network fee of any transfer that reached the chain). On
  the sim nothing else can move money, so a difference means the books are wrong. On a real
  network a friend's deposit also shows as a difference, which is not the books' fault: those
  lines are informative (`strict` False). The network fees and rent the wallet pays itself for
  its swaps (the `/build` and v1 routes, and `/order`'s aggregator routes, where the taker is
  the fee payer) are booked with each order (`orders.fee_lamports`, read from the transaction's
  metadata); SOL is informative where an order's could not be read.

`consistent` is every strict line equal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from solders.pubkey import Pubkey
from sqlalchemy import func, select

from solbot.chain.port import NATIVE_MINT, Chain, holdings
from solbot.domain import TokenInfo
from solbot.store.db import Database
from solbot.store.states import OrderState, PositionStatus, Route, Side, WithdrawalState
from solbot.store.tables import (
    AccountCloseRow,
    FeeSweepRow,
    OrderRow,
    PositionRow,
    TradeRow,
    WithdrawalRow,
)
from solbot.store.types import utc_from_timestamp

SOL_DECIMALS = 9


@dataclass(frozen=True)
class Opening:
    """What a wallet held of each asset when the run started serving it (atoms by mint), at
    `at` on the trading clock (orders are stamped with it) and `wall_at` on the wall clock
    (transfers out are: `solbot.transfers`)."""

    at: float
    held: dict[str, int]
    wall_at: float


@dataclass(frozen=True)
class Line:
    """One user's one asset: what the books say the wallet holds, and what it holds."""

    user: str
    asset: str
    decimals: int
    books: int
    chain: int
    strict: bool  # a difference means the books are wrong (not a deposit, not an unbooked fee)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.books == self.chain

    @property
    def difference(self) -> int:
        return self.chain - self.books


@dataclass(frozen=True)
class Wallet:
    """An account as the reconciliation sees it."""

    user_id: str
    name: str
    owner: Pubkey


@dataclass(frozen=True)
class Assets:
    """What is reconciled and how strictly."""

    traded: Sequence[TokenInfo]  # held = open positions
    other: Sequence[TokenInfo]  # held = opening + booked flows (the quote, SOL, ...)
    strict_cash: bool  # those can only move by what the books record (no outside deposits)


async def opening(
    chain: Chain, wallet: Wallet, assets: Assets, now: float, wall_now: float
) -> Opening:
    held = {
        t.mint: await holdings(chain, wallet.owner, Pubkey.from_string(t.mint))
        for t in assets.other
    }
    return Opening(now, held, wall_now)


async def reconcile(
    db: Database,
    chain: Chain,
    wallets: Sequence[Wallet],
    assets: Assets,
    openings: dict[str, Opening],
) -> list[Line]:
    """Every wallet's every asset against the books."""
    lines: list[Line] = []
    for wallet in wallets:
        async with db.session() as s:
            positions = list(
                await s.scalars(
                    select(PositionRow).where(
                        PositionRow.user_id == wallet.user_id,
                        PositionRow.status == PositionStatus.OPEN.value,
                    )
                )
            )
            start = openings.get(wallet.user_id)
            booked = await booked_cash(s, wallet.user_id, assets.other, start) if start else None
            unknown = await unknown_costs(s, wallet.user_id, start) if start else 0
        open_qty: dict[str, int] = defaultdict(int)
        for p in positions:
            open_qty[p.mint] += p.quantity
        for token in assets.traded:
            held = await holdings(chain, wallet.owner, Pubkey.from_string(token.mint))
            lines.append(
                Line(wallet.name, token.symbol, token.decimals, open_qty[token.mint], held, True)
            )
        if booked is None:
            continue  # joined after the summary's start: nothing to measure its flows from
        for asset in assets.other:
            held = await holdings(chain, wallet.owner, Pubkey.from_string(asset.mint))
            expected = booked[asset.mint]
            is_sol = asset.mint == NATIVE_MINT_TEXT
            strict = assets.strict_cash and not (is_sol and unknown)
            note = "" if strict else _why_not_strict(assets, is_sol, unknown)
            lines.append(
                Line(wallet.name, asset.symbol, asset.decimals, expected, held, strict, note)
            )
    return lines


NATIVE_MINT_TEXT = str(NATIVE_MINT)


def _why_not_strict(assets: Assets, is_sol: bool, unknown: int) -> str:
    if not assets.strict_cash:
        return "deposits are not in the books"
    return f"the chain no longer shows what {unknown} order(s) paid in fees" if is_sol else ""


async def unknown_costs(session: object, user_id: str, start: Opening) -> int:
    """Orders of this run whose transaction reached the chain but whose costs the books could
    not learn (`orders.fee_lamports` null): the SOL line cannot be exact then."""
    since: datetime = utc_from_timestamp(start.at)
    count = await session.scalar(  # type: ignore[attr-defined]
        select(func.count())
        .select_from(OrderRow)
        .where(
            OrderRow.user_id == user_id,
            OrderRow.created_at >= since,
            OrderRow.route.in_([Route.BUILD.value, Route.V1.value, Route.V2.value]),
            OrderRow.state.in_([OrderState.CONFIRMED.value, OrderState.FAILED.value]),
            OrderRow.signature.is_not(None),
            OrderRow.fee_lamports.is_(None),
        )
    )
    return int(count or 0)


async def booked_cash(
    session: object, user_id: str, assets: Sequence[TokenInfo], start: Opening
) -> dict[str, int]:
    """What the books say the wallet holds of each cash asset now (atoms by mint): what it held
    at `start` plus every flow booked since."""
    flows = await _flows(session, user_id, start)
    return {asset.mint: start.held[asset.mint] + flows[asset.mint] for asset in assets}


async def _flows(session: object, user_id: str, start: Opening) -> dict[str, int]:
    """Atoms of each cash asset the books moved since `start`: fills of orders made in this run
    (a buy spends the quote, a sale brings it back; a SOL position moves lamports), confirmed
    withdrawals and fee sweeps, and the network fee of every transfer that reached the chain
    (one that failed there paid it too)."""
    since: datetime = utc_from_timestamp(start.at)
    moved: dict[str, int] = defaultdict(int)
    fills = await session.execute(  # type: ignore[attr-defined]
        select(TradeRow.side, TradeRow.quantity, TradeRow.quote_amount, OrderRow.output_mint,
               OrderRow.input_mint)
        .join(OrderRow, OrderRow.id == TradeRow.order_id)
        .where(TradeRow.user_id == user_id, OrderRow.created_at >= since)
    )  # fmt: skip
    for side, quantity, quote_amount, output_mint, input_mint in fills:
        if side == Side.BUY.value:
            moved[input_mint] -= quote_amount
            moved[output_mint] += quantity
        else:
            moved[input_mint] -= quantity
            moved[output_mint] += quote_amount
    costs = await session.scalar(  # type: ignore[attr-defined]
        select(func.coalesce(func.sum(OrderRow.fee_lamports), 0)).where(
            OrderRow.user_id == user_id, OrderRow.created_at >= since
        )
    )
    moved[NATIVE_MINT_TEXT] -= int(costs or 0)  # what the wallet paid for its own swaps
    sent_since = utc_from_timestamp(start.wall_at)
    confirmed = WithdrawalState.CONFIRMED.value
    withdrawals = await session.execute(  # type: ignore[attr-defined]
        select(WithdrawalRow.state, WithdrawalRow.lamports, WithdrawalRow.fee_lamports).where(
            WithdrawalRow.user_id == user_id, WithdrawalRow.created_at >= sent_since
        )
    )
    for state, lamports, fee in withdrawals:
        moved[NATIVE_MINT_TEXT] -= (lamports if state == confirmed else 0) + (fee or 0)
    sweeps = await session.execute(  # type: ignore[attr-defined]
        select(FeeSweepRow.state, FeeSweepRow.mint, FeeSweepRow.atoms, FeeSweepRow.fee_lamports)
        .where(FeeSweepRow.user_id == user_id, FeeSweepRow.created_at >= sent_since)
    )  # fmt: skip
    for state, mint, atoms, fee in sweeps:
        moved[mint] -= atoms if state == confirmed else 0
        moved[NATIVE_MINT_TEXT] -= fee or 0
    closes = await session.execute(  # type: ignore[attr-defined]
        select(AccountCloseRow.reclaimed_lamports, AccountCloseRow.fee_lamports).where(
            AccountCloseRow.user_id == user_id, AccountCloseRow.created_at >= sent_since
        )
    )
    for back, fee in closes:  # rent given back by closing emptied token accounts
        moved[NATIVE_MINT_TEXT] += (back or 0) - (fee or 0)
    return moved
