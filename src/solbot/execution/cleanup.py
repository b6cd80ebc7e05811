"""Closing a wallet's empty token accounts for their rent (which ones: `solbot.chain.
token_accounts`), journaled like a withdrawal (`solbot.transfers`): after every exit that
emptied one (the trading loop, `solbot.engine`) and on `solbot cleanup`.

Why a journal when a close is harmless to repeat: the books. The reconciliation holds a wallet's
SOL to the lamport, and a close moves SOL (the rent comes back, the fee goes). Each close is a
row whose signed bytes are stored before they can leave, settled at the next start if the
process died meanwhile (`solbot.transfer_recovery`), and booked from what its transaction did
on the chain (`Chain.costs`): `reclaimed_lamports` back, `fee_lamports` paid (`solbot.reconcile`).
Closes are journaled, not audited: their SOL goes only into the wallet itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from solders.signature import Signature
from sqlalchemy import select

from solbot.chain.builders import SIGNATURE_FEE
from solbot.chain.token_accounts import (
    MAX_CLOSES_PER_TRANSACTION,
    EmptyAccount,
    close_instructions,
    empty_accounts,
)
from solbot.domain import TokenInfo
from solbot.execution.signing import Signer
from solbot.store.states import OrderState
from solbot.store.tables import AccountCloseRow, OrderRow
from solbot.transfers import TransferJournal, TransferState

OUTCOME = "account_close_outcome"  # the journal's outcome action (closes are not audited)
_UNFINISHED = [s.value for s in OrderState if not s.terminal]


@dataclass
class Cleanup:
    """What a cleanup of one wallet found and did. `closed` landed; `failed` did not (each
    with the reason: the chain refused, or tokens arrived meanwhile); `fees` the network fees
    the closing transactions paid, `returned` the rent they gave back."""

    found: list[EmptyAccount]
    closed: list[EmptyAccount] = field(default_factory=list)
    failed: list[tuple[EmptyAccount, str]] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    fees: int = 0
    returned: int = 0
    waiting: bool = False  # an order of the user is in flight: nothing closed, try later

    @property
    def reclaimed(self) -> int:
        """Lamports back in the wallet: the rent of the closed accounts less the fees."""
        return self.returned - self.fees


class AccountCloses(TransferJournal):
    """The journal of account closes (see the module docstring)."""

    model = AccountCloseRow
    outcome_action = OUTCOME

    def audit_key(self) -> Any:
        """None: a close is the bot's housekeeping, its SOL goes only into the wallet itself,
        so it is journaled, not audited (and a master key rotated under a running bot cannot
        leave a landed close unrecorded)."""
        return None

    async def landed(self, row: Any, ok: bool) -> dict[str, Any]:
        """The fee and the rent that came back, as the chain says (should it no longer say:
        one signature's fee, and what the accounts held when looked at)."""
        costs = await self.chain.costs(Signature.from_string(row.signature))
        if costs is None:
            fee, back = SIGNATURE_FEE, (row.rent_lamports if ok else 0)
        else:
            fee, back = costs.fee, max(0, costs.fee - costs.payer_spent)
        return {"fee_lamports": fee, "reclaimed_lamports": back}

    async def close_empty(
        self,
        user_id: str,
        signer: Signer,
        tokens: Sequence[TokenInfo],
        *,
        requested_by: str,
        dry_run: bool = False,
    ) -> Cleanup:
        """Find `signer`'s empty accounts of `tokens` and (unless `dry_run`) close them, a few
        a transaction. Not while an order of the user is in flight, whichever process runs it
        (its transaction may have been built when an account existed, and would then fail):
        the result says `waiting`, and nothing is closed."""
        waiting = await self._order_in_flight(user_id)  # first: the database is cheaper
        result = Cleanup(await empty_accounts(self.chain, signer.pubkey(), tokens))
        if result.found and waiting:
            result.waiting = True
            return result
        if dry_run:
            return result
        for start in range(0, len(result.found), MAX_CLOSES_PER_TRANSACTION):
            batch = result.found[start : start + MAX_CLOSES_PER_TRANSACTION]
            row = await self._journal(user_id, batch, requested_by)
            row = await self.sign_and_send(row, signer, close_instructions(signer.pubkey(), batch))
            if row.signature is not None and row.fee_lamports is not None:
                result.signatures.append(row.signature)
                result.fees += row.fee_lamports
                result.returned += row.reclaimed_lamports or 0
            if row.state == TransferState.CONFIRMED.value:
                result.closed += batch
            else:
                result.failed += [(account, row.error or row.state) for account in batch]
        return result

    async def _order_in_flight(self, user_id: str) -> bool:
        async with self.db.session() as s:
            found = await s.scalar(
                select(OrderRow.id)
                .where(OrderRow.user_id == user_id, OrderRow.state.in_(_UNFINISHED))
                .limit(1)
            )
        return found is not None

    async def _journal(
        self, user_id: str, accounts: Sequence[EmptyAccount], requested_by: str
    ) -> AccountCloseRow:
        now = self.stamp()
        row = AccountCloseRow(
            id=str(uuid.uuid4()),
            user_id=user_id,
            addresses=",".join(str(a.address) for a in accounts),
            rent_lamports=sum(a.lamports for a in accounts),
            state=TransferState.CREATED.value,
            requested_by=requested_by,
            created_at=now,
            updated_at=now,
        )
        async with self.db.session() as s:
            s.add(row)
        return row
