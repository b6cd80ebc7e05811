"""The one entry point every start calls before it acts on money leaving wallets (`solbot run`,
`solbot withdraw`, `solbot telegram`, `solbot fees sweep`): settle every transfer a previous
process left in flight, withdrawals, fee sweeps and token-account closes alike
(`TransferJournal.recover`; outcomes audited), and tell each user what became of their
withdrawals and fees (a close is the bot's own housekeeping: logged, not told)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solbot.chain.port import Chain
from solbot.clock import Clock
from solbot.execution.cleanup import AccountCloses
from solbot.fee_sweeps import FeeSweeps, amount_text
from solbot.services.custody import CustodyService
from solbot.services.withdrawals import WithdrawalService, sol
from solbot.store.tables import FeeSweepRow, WithdrawalRow
from solbot.transfers import Step, TransferState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovered:
    """A transfer a start-up settled, and whose it was: what the user is told."""

    row: WithdrawalRow | FeeSweepRow
    user_id: str
    username: str

    @property
    def kind(self) -> str:
        return "fee" if isinstance(self.row, FeeSweepRow) else "withdrawal"

    @property
    def text(self) -> str:
        row = self.row
        if isinstance(row, FeeSweepRow):
            amount = amount_text(row.atoms, row.decimals, row.symbol)
            head = f"performance fee payment of {amount} to the operator ({row.destination})"
        else:
            head = f"withdrawal of {sol(row.lamports)} SOL to {row.destination}"
        if row.state == TransferState.CONFIRMED.value:
            return f"{head} confirmed after a restart (transaction {row.signature})"
        return f"{head} {row.state} after a restart: {row.error}; nothing left the wallet" + (
            " but the network fee" if row.fee_lamports else ""
        )


async def recover_transfers(
    db: Any,
    clock: Clock,
    chain: Chain,
    custody: CustodyService,
    tell: Callable[[Recovered], None],
    *,
    on_step: Step | None = None,
    wall: Clock | None = None,
) -> list[Recovered]:
    """Settle each transfer a previous process left in flight and `tell` its user, each caller
    through its own channel (an engine/notifier event, a console line). Needs the master key
    only when there is something to settle (a close of an operator's own wallet not even then)."""
    closes = AccountCloses(db, clock, chain, custody, on_step=on_step, wall=wall)
    for close in await closes.recover():
        log.info("recovered account close %s: %s", close.id, close.state)
    rows: list[Any] = []
    for journal in (
        WithdrawalService(
            db, clock, chain, custody, fee_reserve_lamports=0, on_step=on_step, wall=wall
        ),
        FeeSweeps(db, clock, chain, custody, on_step=on_step, wall=wall),
    ):
        rows += await journal.recover()
    if not rows:
        return []
    names = {u.id: u.username for u in await custody.users()}
    settled = [Recovered(row, row.user_id, names.get(row.user_id, row.user_id)) for row in rows]
    for item in settled:
        log.info("recovered %s: %s", item.username, item.text)
        tell(item)
    return settled
