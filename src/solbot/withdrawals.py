"""Withdrawals: a real SOL transfer out of a user's wallet, journaled like an order.

    created ─sign─► signed ─send─► sent ─► confirmed | failed | expired

The signed bytes and the signature are stored before the transaction can leave the process, so a
crash can neither send a withdrawal twice (the same bytes are re-sent; a copy that already landed
is refused as `AlreadyProcessed`) nor lose one (`recover` asks the chain about the signature).
A withdrawal is validated before anything is written: the destination is a plain wallet, as
typed and on chain (`withdrawal_destinations.check_destination`), the amount has at most 9
decimals and leaves the fee reserve and the network fee in the wallet, and a brand-new
destination receives at least its rent-exempt minimum. The request and its outcome are audited.

Policy on top (whitelists, time-locks, limits per day, second factors) is the caller's: the
Telegram bot passes a `check` that runs inside the transaction that journals the withdrawal.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.chain import builders
from solbot.chain.port import Chain
from solbot.chain.sending import deliver
from solbot.clock import Clock
from solbot.custody import CustodyService
from solbot.errors import UserError
from solbot.execution.signing import SigningError, sign_own_slot
from solbot.store.states import Custody, WithdrawalState
from solbot.store.tables import UserRow, WithdrawalRow
from solbot.store.types import utc_from_timestamp
from solbot.wallet import keycheck
from solbot.wallet.audit import Action, AuditLog
from solbot.withdrawal_destinations import check_destination

log = logging.getLogger(__name__)

LAMPORTS_PER_SOL = 1_000_000_000
SIGNATURE_FEE = 5_000  # lamports: one signature, no priority fee
RENT_EXEMPT_MINIMUM = 890_880  # lamports a new system account must hold (0-byte data)
PENDING = (WithdrawalState.CREATED, WithdrawalState.SIGNED, WithdrawalState.SENT)

# A policy run inside the journaling transaction: raises `UserError` to refuse, or returns
# fields to store on the new withdrawal row.
Check = Callable[[AsyncSession, UserRow, Pubkey, int], Awaitable[dict[str, Any] | None]]


def parse_sol(text: str | Decimal) -> int:
    """Lamports of an amount of SOL written by a person ("0.5"), or a one-line `UserError`."""
    try:
        amount = Decimal(str(text).strip())
    except InvalidOperation:
        raise UserError(f"amount {str(text)[:40]!r} is not a number of SOL") from None
    if not amount.is_finite() or amount <= 0:
        raise UserError(f"amount must be more than 0 SOL, got {text}")
    lamports = amount * LAMPORTS_PER_SOL
    if lamports != lamports.to_integral_value():
        raise UserError(f"amount {text} has more than 9 decimals (a lamport is 0.000000001 SOL)")
    return int(lamports)


def sol(lamports: int) -> str:
    """Lamports as SOL, exactly."""
    return f"{Decimal(lamports).scaleb(-9).normalize():f}"


class WithdrawalService:
    def __init__(
        self,
        db: Any,
        clock: Clock,
        chain: Chain,
        custody: CustodyService,
        *,
        fee_reserve_lamports: int,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.chain = chain
        self.custody = custody
        self.fee_reserve = fee_reserve_lamports
        self.poll_seconds = poll_seconds

    async def available(self, user: UserRow) -> int:
        """Lamports the user may withdraw now: the balance less the reserve and the fee."""
        balance = await self.chain.balance(Pubkey.from_string(user.wallet_pubkey))
        return max(0, balance - self.fee_reserve - SIGNATURE_FEE)

    async def withdraw(
        self,
        username: str,
        destination: str,
        amount: str | Decimal,
        *,
        actor: str,
        check: Check | None = None,
    ) -> WithdrawalRow:
        """Validate, journal, sign, send and confirm a withdrawal; the row as it ended."""
        target = await check_destination(self.chain, destination)
        to = target.address
        lamports = parse_sol(amount)
        key = self.custody.require_key()
        user = await self.custody.user(username)
        if user.custody != Custody.VAULT.value:
            raise UserError(
                f"user {user.username!r} trades the operator's own wallet: withdraw "
                "from it with the operator's wallet"
            )
        owner = Pubkey.from_string(user.wallet_pubkey)
        if to == owner:
            raise UserError("the destination is the user's own trading wallet")
        available = await self.available(user)
        if lamports > available:
            raise UserError(
                f"{sol(lamports)} SOL is more than can be withdrawn: {sol(available)} SOL (the "
                f"balance less the {sol(self.fee_reserve)} SOL fee reserve and the "
                f"{sol(SIGNATURE_FEE)} SOL network fee)"
            )
        if lamports < RENT_EXEMPT_MINIMUM and target.new:
            raise UserError(
                f"{to} is a new account: it must receive at least {sol(RENT_EXEMPT_MINIMUM)} SOL "
                "(Solana's rent-exempt minimum)"
            )
        async with self.db.session() as s:
            await keycheck.check(s, key)
            extra = await check(s, user, to, lamports) if check is not None else None
            now = utc_from_timestamp(self.clock.now())
            row = WithdrawalRow(
                id=str(uuid.uuid4()),
                user_id=user.id,
                destination=str(to),
                lamports=lamports,
                state=WithdrawalState.CREATED.value,
                requested_by=actor,
                created_at=now,
                updated_at=now,
                **(extra or {}),
            )
            s.add(row)
            await AuditLog(s, self.clock, key).append(
                actor,
                Action.WITHDRAW,
                user.id,
                username=user.username,
                destination=str(to),
                lamports=lamports,
                withdrawal=row.id,
            )
        return await self._sign_and_send(row, user)

    async def _sign_and_send(self, row: WithdrawalRow, user: UserRow) -> WithdrawalRow:
        owner = Pubkey.from_string(user.wallet_pubkey)
        blockhash, last_valid = await self.chain.latest_blockhash()
        message = builders.build_message(
            owner,
            [builders.sol_transfer(owner, Pubkey.from_string(row.destination), row.lamports)],
            blockhash,
        )
        unsigned = VersionedTransaction.populate(
            message, [Signature.default()] * message.header.num_required_signatures
        )
        try:
            signed = sign_own_slot(unsigned, self.custody.signer(user))
        except SigningError as exc:
            return await self._end(row, WithdrawalState.FAILED, f"not signed: {exc}")
        await self._advance(
            row,
            WithdrawalState.SIGNED,
            signed_tx=bytes(signed),
            signature=str(signed.signatures[0]),
            last_valid_block_height=last_valid,
        )
        return await self._broadcast(row, signed)

    async def _broadcast(self, row: WithdrawalRow, tx: VersionedTransaction) -> WithdrawalRow:
        """Send the journaled bytes, again and again, until a status or the blockhash expires."""
        await self._advance(row, WithdrawalState.SENT)
        delivery = await deliver(
            self.chain,
            self.clock,
            tx,
            row.last_valid_block_height,
            resend_seconds=self.poll_seconds,
        )
        if delivery.refused is not None:
            return await self._end(row, WithdrawalState.FAILED, delivery.refused)
        if delivery.status is None:
            return await self._end(row, WithdrawalState.EXPIRED, "blockhash expired before landing")
        if delivery.status.err is not None:
            error = f"failed on chain: {delivery.status.err}"
            return await self._end(row, WithdrawalState.FAILED, error, fee=SIGNATURE_FEE)
        return await self._end(row, WithdrawalState.CONFIRMED, None, fee=SIGNATURE_FEE)

    async def recover(self) -> list[WithdrawalRow]:
        """Finish every withdrawal a previous run left unfinished (at start-up)."""
        async with self.db.session() as s:
            pending = list(
                await s.scalars(
                    select(WithdrawalRow)
                    .where(WithdrawalRow.state.in_([p.value for p in PENDING]))
                    .order_by(WithdrawalRow.created_at)
                )
            )
        done = []
        for row in pending:
            if row.signed_tx is None:
                done.append(await self._end(row, WithdrawalState.FAILED, "stopped before signing"))
            else:
                tx = VersionedTransaction.from_bytes(row.signed_tx)
                done.append(await self._broadcast(row, tx))
        return done

    async def _advance(self, row: WithdrawalRow, state: WithdrawalState, **values: Any) -> None:
        values["state"] = state.value
        values["updated_at"] = utc_from_timestamp(self.clock.now())
        async with self.db.session() as s:
            await s.execute(
                update(WithdrawalRow).where(WithdrawalRow.id == row.id).values(**values)
            )
        for name, value in values.items():
            setattr(row, name, value)

    async def _end(
        self,
        row: WithdrawalRow,
        state: WithdrawalState,
        error: str | None,
        *,
        fee: int | None = None,
    ) -> WithdrawalRow:
        await self._advance(row, state, error=error, fee_lamports=fee)
        log.info("withdrawal %s %s%s", row.id, state.value, f": {error}" if error else "")
        return row
