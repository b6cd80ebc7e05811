"""Deposits: telling a user that money arrived in their wallet, also when it already trades.

The funding notices (`accounts.funding_notice`) only say when a wallet crosses the minimum; a
friend who tops up a wallet that already trades heard nothing. A deposit is what the chain
holds beyond what the books explain: for the quote asset and SOL, the wallet's balance less
what it held when the run started serving it plus every flow booked since (fills, withdrawals,
fee sweeps: `reconcile.booked_cash`, the rule the run's summary reconciles by). When that
unexplained amount grows by at least the asset's threshold, the growth is announced once.

What must not be taken for a deposit:
- an order still in flight (its fill may be on chain and not yet in the books): a user with an
  order in a non-terminal state is not looked at until it settles;
- small unbooked movements (rent given back when an empty token account closes): the
  threshold (1 USDC, 0.01 SOL) is far above them;
- money that left unexplained (network fees the v1 route does not book, a transfer by hand):
  the level falls with it, so a later deposit is measured from there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from solders.pubkey import Pubkey
from sqlalchemy import select

from solbot.chain.port import Chain, holdings
from solbot.domain import TokenInfo
from solbot.reconcile import Opening, Wallet, booked_cash
from solbot.store.db import Database
from solbot.store.states import PENDING_STATES
from solbot.store.tables import OrderRow

log = logging.getLogger(__name__)

_IN_FLIGHT = [state.value for state in PENDING_STATES]


@dataclass(frozen=True)
class Deposit:
    user_id: str
    username: str
    asset: TokenInfo
    atoms: int  # what arrived
    held: int  # what the wallet holds now

    @property
    def text(self) -> str:
        amount = Decimal(self.atoms).scaleb(-self.asset.decimals).normalize()
        now = Decimal(self.held).scaleb(-self.asset.decimals)
        return (
            f"received {amount:f} {self.asset.symbol} in your wallet "
            f"(it holds {now:,.2f} {self.asset.symbol} now)"
        )


@dataclass
class DepositWatch:
    """Deposits into the wallets the run serves; `check` returns the new ones."""

    db: Database
    chain: Chain
    assets: Sequence[TokenInfo]  # the cash assets watched: the quote, SOL
    thresholds: dict[str, int]  # atoms by mint: less than this is not announced
    _told: dict[tuple[str, str], int] = field(default_factory=dict)  # unexplained, as told

    async def check(self, wallets: Sequence[Wallet], openings: dict[str, Opening]) -> list[Deposit]:
        found: list[Deposit] = []
        for wallet in wallets:
            start = openings.get(wallet.user_id)
            if start is None:
                continue
            async with self.db.session() as s:
                busy = await s.scalar(
                    select(OrderRow.id)
                    .where(OrderRow.user_id == wallet.user_id, OrderRow.state.in_(_IN_FLIGHT))
                    .limit(1)
                )
                if busy is not None:
                    continue  # a fill may be on chain and not booked yet: look again later
                booked = await booked_cash(s, wallet.user_id, self.assets, start)
            for asset in self.assets:
                held = await holdings(self.chain, wallet.owner, Pubkey.from_string(asset.mint))
                unexplained = held - booked[asset.mint]
                key = (wallet.user_id, asset.mint)
                told = self._told.get(key, 0)
                if unexplained - told >= self.thresholds[asset.mint]:
                    found.append(
                        Deposit(wallet.user_id, wallet.name, asset, unexplained - told, held)
                    )
                    self._told[key] = unexplained
                elif unexplained < told:
                    self._told[key] = unexplained  # it left unexplained: measure from here
        for deposit in found:
            log.info("deposit to %s: %s", deposit.username, deposit.text)
        return found
