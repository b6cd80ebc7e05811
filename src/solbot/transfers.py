"""The journal of a transfer out of a user's wallet: withdrawals
(`solbot.services.withdrawals`), the operator's fee sweeps (`solbot.fee_sweeps`) and the closes
of emptied token accounts (`solbot.execution.cleanup`) go through the same states and code.

    created ─sign─► signed ─send─► sent ─► confirmed | failed | expired

Exactly once: the signed bytes and the signature are stored before the transaction can leave
the process, so a crash can neither send a transfer twice (the same bytes are re-sent; a copy
that already landed is refused as `AlreadyProcessed`) nor lose one: every start settles each
row left in flight from its signature (`TransferJournal.recover`), or fails it when it was
never signed. Every state change is a compare-and-set on the state the row had, so a recovery
in one process and the process still driving the row cannot both end it: one wins, the other
reads the result. Each transaction carries its row's id as an SPL memo, so two transfers with
the same terms over the same blockhash are two transactions, not one.

Two clocks: `clock` is the chain's (waiting for blocks: on the embedded sim a command's clock
moves the ledger), `wall` stamps the rows and the audit, since what reads them back (the
24-hour withdrawal limit, the idempotency window, the run's reconciliation) counts real time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from solders.instruction import Instruction
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from sqlalchemy import select, update

from solbot.chain import builders
from solbot.chain.builders import SIGNATURE_FEE
from solbot.chain.port import NATIVE_MINT, Chain, ChainUnavailableError
from solbot.chain.sending import deliver
from solbot.clock import Clock, WallClock
from solbot.errors import UserError
from solbot.execution.signing import (
    Signer,
    SigningError,
    reserve_signatures_apart,
    sign_own_slot,
)
from solbot.services.custody import CustodyService
from solbot.store.states import WithdrawalState
from solbot.store.tables import FeeSweepRow, UserRow, WithdrawalRow
from solbot.store.types import utc_from_timestamp
from solbot.wallet.audit import AuditLog

log = logging.getLogger(__name__)

TransferState = WithdrawalState  # the states every transfer goes through
PENDING = (TransferState.CREATED, TransferState.SIGNED, TransferState.SENT)
PENDING_VALUES = [state.value for state in PENDING]


async def lock_user(session: Any, user_id: str) -> None:
    """Serialise the user's money decisions: `FOR UPDATE` on PostgreSQL (SQLite's
    `BEGIN IMMEDIATE` already admits one writer at a time)."""
    await session.execute(select(UserRow.id).where(UserRow.id == user_id).with_for_update())


@dataclass(frozen=True, slots=True)
class Reserved:
    """What the user's transfers in flight hold of the wallet's SOL (amounts sent in SOL and
    every transfer's network fee), and how many transfers that is."""

    lamports: int = 0
    count: int = 0


async def reserved(session: Any, user_id: str) -> Reserved:
    """The SOL of the user's transfers in flight (withdrawals and fee sweeps), counted as
    already gone: read after locking the user (`lock_user`), see `solbot.services.withdrawals`."""
    withdrawals = [
        int(a)  # summed here: SQLite keeps atoms as text
        for a in await session.scalars(
            select(WithdrawalRow.lamports).where(
                WithdrawalRow.user_id == user_id, WithdrawalRow.state.in_(PENDING_VALUES)
            )
        )
    ]
    sweeps = await session.execute(
        select(FeeSweepRow.mint, FeeSweepRow.atoms).where(
            FeeSweepRow.user_id == user_id, FeeSweepRow.state.in_(PENDING_VALUES)
        )
    )
    swept = [int(atoms) if mint == str(NATIVE_MINT) else 0 for mint, atoms in sweeps]
    fees = SIGNATURE_FEE * (len(withdrawals) + len(swept))
    return Reserved(sum(withdrawals) + sum(swept) + fees, len(withdrawals) + len(swept))


# Called with the row after each journaled step (the sim's crash injection, tests).
Step = Callable[[Any], None]


class TransferJournal:
    """Signs, sends, settles and records transfers of one table (`model`): subclasses say which
    table and which audit action records an outcome. A row has the journal's columns (state,
    requested_by, signed_tx, signature, last_valid_block_height, fee_lamports, error, the
    stamps) and `outcome_details()`, what the audit records of it."""

    model: ClassVar[Any]  # the table: WithdrawalRow, FeeSweepRow
    outcome_action: ClassVar[str]

    def __init__(
        self,
        db: Any,
        clock: Clock,
        chain: Chain,
        custody: CustodyService | None,
        *,
        poll_seconds: float = 1.0,
        on_step: Step | None = None,
        wall: Clock | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.wall = wall or WallClock()
        self.chain = chain
        self.custody = custody
        self.poll_seconds = poll_seconds
        self.on_step = on_step

    # ------------------------------------------------------------------ sending
    async def sign_and_send(
        self, row: Any, signer: Signer, instructions: Sequence[Instruction]
    ) -> Any:
        """Sign `instructions` (and the row's memo) with the wallet's key (`signer`: the
        vault's, `CustodyService.signer`, or an operator's own), journal the bytes, then send
        them until they settle: the row as it ended. `ChainUnavailableError` when the chain
        stops answering once the bytes are journaled (the next start settles it)."""
        owner = signer.pubkey()
        try:
            blockhash, last_valid = await self.chain.latest_blockhash()
        except ChainUnavailableError as exc:
            return await self.end(row, TransferState.FAILED, f"not sent: {exc}")
        message = builders.build_message(owner, [*instructions, builders.memo(row.id)], blockhash)
        unsigned = VersionedTransaction.populate(
            message, [Signature.default()] * message.header.num_required_signatures
        )
        try:
            with await reserve_signatures_apart(self.db, [signer]):  # the decryption, counted
                signed = sign_own_slot(unsigned, signer)
        except SigningError as exc:
            if self.custody is not None:
                await self.custody.record_vault_records(actor=row.requested_by)
            return await self.end(row, TransferState.FAILED, f"not signed: {exc}")
        stored = await self.advance(
            row,
            TransferState.SIGNED,
            (TransferState.CREATED,),
            signed_tx=bytes(signed),
            signature=str(signed.signatures[0]),
            last_valid_block_height=last_valid,
        )
        if not stored:  # another process's recovery ended it meanwhile (unsigned: failed)
            return await self.reload(row)
        return await self.broadcast(row, signed)

    async def broadcast(self, row: Any, tx: VersionedTransaction) -> Any:
        """Send the journaled bytes, again and again, until a status or the blockhash expires."""
        if not await self.advance(row, TransferState.SENT, (TransferState.SIGNED,)):
            return await self.reload(row)  # another process recorded its outcome
        delivery = await deliver(
            self.chain,
            self.clock,
            tx,
            row.last_valid_block_height,
            resend_seconds=self.poll_seconds,
        )
        if delivery.refused is not None:
            return await self.end(row, TransferState.FAILED, delivery.refused)
        if delivery.status is None:
            return await self.end(row, TransferState.EXPIRED, "blockhash expired before landing")
        landed = await self.landed(row, delivery.status.ok)
        if delivery.status.err is not None:
            error = f"failed on chain: {delivery.status.err}"
            return await self.end(row, TransferState.FAILED, error, **landed)
        return await self.end(row, TransferState.CONFIRMED, None, **landed)

    async def landed(self, row: Any, ok: bool) -> dict[str, Any]:
        """What the row records of its transaction once it landed (`ok`: and succeeded): the
        network fee a plain transfer pays."""
        return {"fee_lamports": SIGNATURE_FEE}

    # ------------------------------------------------------------------ recovery
    async def recover(self) -> list[Any]:
        """Settle every row of this table left in flight (any process's): from its signature,
        or failed when it was never signed."""
        model = self.model
        async with self.db.session() as s:
            pending = list(
                await s.scalars(
                    select(model).where(model.state.in_(PENDING_VALUES)).order_by(model.created_at)
                )
            )
        if not pending:
            return []
        self.audit_key()  # outcomes are audited
        done = []
        for row in pending:
            if row.signed_tx is None:
                done.append(await self.end(row, TransferState.FAILED, "stopped before signing"))
            else:
                tx = VersionedTransaction.from_bytes(row.signed_tx)
                done.append(await self.broadcast(row, tx))
        return done

    # ------------------------------------------------------------------ the journal
    def stamp(self) -> Any:
        return utc_from_timestamp(self.wall.now())

    async def advance(
        self, row: Any, state: TransferState, expected: Sequence[TransferState], **values: Any
    ) -> bool:
        """Move the row to `state` if it is in one of `expected` states (False if not)."""
        model = self.model
        values["state"] = state.value
        values["updated_at"] = self.stamp()
        async with self.db.session() as s:
            result = await s.execute(
                update(model)
                .where(
                    model.id == row.id,
                    model.state.in_([e.value for e in (state, *expected)]),
                )
                .values(**values)
            )
        if result.rowcount == 0:
            return False
        for name, value in values.items():
            setattr(row, name, value)
        self.stepped(row)
        return True

    def audit_key(self) -> Any:
        """The master key the outcomes are audited with (a one-line `UserError` without it)."""
        return self._vault().require_key()

    def _vault(self) -> CustodyService:
        if self.custody is None:
            raise UserError(
                "MASTER_ENCRYPTION_KEY is not set: this needs the wallet vault and its master key"
            )
        return self.custody

    async def end(self, row: Any, state: TransferState, error: str | None, **landed: Any) -> Any:
        """The outcome (with what `landed` says its transaction cost), with its audit row, in
        one transaction, unless another process recorded one first (then the row as that
        process left it)."""
        model = self.model
        key = self.audit_key()
        values = {
            "state": state.value,
            "error": error,
            "fee_lamports": None,
            **landed,
            "updated_at": self.stamp(),
        }
        async with self.db.session() as s:
            result = await s.execute(
                update(model)
                .where(model.id == row.id, model.state.in_(PENDING_VALUES))
                .values(**values)
            )
            if result.rowcount and key is not None:
                await AuditLog(s, self.wall, key).append(
                    row.requested_by,
                    self.outcome_action,
                    row.user_id,
                    **row.outcome_details(),
                    state=state.value,
                    error=error,
                    signature=row.signature,
                )
        if not result.rowcount:
            return await self.reload(row)
        for name, value in values.items():
            setattr(row, name, value)
        log.info(
            "%s %s %s%s", model.__tablename__, row.id, state.value, f": {error}" if error else ""
        )
        self.stepped(row)
        return row

    async def reload(self, row: Any) -> Any:
        async with self.db.session() as s:
            fresh = await s.get(self.model, row.id)
        assert fresh is not None  # rows are never deleted
        return fresh

    def stepped(self, row: Any) -> None:
        if self.on_step is not None:
            self.on_step(row)
