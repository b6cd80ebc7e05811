"""Withdrawals: a real SOL transfer out of a user's wallet, journaled like an order.

    created ─sign─► signed ─send─► sent ─► confirmed | failed | expired

Exactly once
------------
The signed bytes and the signature are stored before the transaction can leave the process, so a
crash can neither send a withdrawal twice (the same bytes are re-sent; a copy that already landed
is refused as `AlreadyProcessed`) nor lose one: every process that may act on withdrawals
(`solbot run`, `solbot withdraw`, `solbot telegram`) starts with `recover_withdrawals`, which
settles every row left in flight from its signature (re-sending the same bytes while their
blockhash is valid) or fails it when it was never signed, audits the outcome and tells the user.
Every state change is a compare-and-set on the state the row had, so a recovery in one process
and the process still driving the row cannot both end it: one wins, the other reads the result.

Each transaction carries its withdrawal's id as an SPL memo. Without it two withdrawals of the
same amount to the same address over the same blockhash were the same transaction (the same
signature): the second collided with the first on `uq_withdrawals_signature`. With it every row
has its own signature, and repeating a request is a rule, not an accident:

**Idempotency.** A request identical to an earlier one (same user, destination and lamports)
while that one is in flight (created, signed or sent), or less than `IDEMPOTENCY_SECONDS` after
it was requested when it confirmed, *is* that one: it is returned (as it stands now) and nothing
is sent; the repeat is audited (`withdraw_repeated`). A double click, a retry after a timeout or
a crash, or a second process given the same command cannot pay twice. A failed or expired
withdrawal does not count: asking again sends anew. To really send the same amount twice within
the window, wait it out (or change the amount by a lamport).

Balance and fee reserve under concurrency
-----------------------------------------
The amount must leave the fee reserve and the network fee in the wallet, counting every other
withdrawal of the user that is still in flight as already gone (its lamports and its fee:
"reserved"). Two requests side by side, in one process or in two, must not both pass, and the
chain must never be awaited inside a database transaction (on SQLite the session runs on the
event loop's thread and holds the write lock). So:

1. The journaling transaction locks the user's row (`FOR UPDATE` on PostgreSQL; on SQLite
   every transaction is `BEGIN IMMEDIATE`, one writer at a time), sums the reservations of the
   user's rows in flight (`reserved`), and inserts the new row, in flight itself. Commit.
2. Then the wallet's balance is read on chain, and the withdrawal goes on only if
   `balance - reserved - fee reserve - fee >= amount`; otherwise the row ends `failed`
   (audited) and the request gets a one-line `UserError`.

Why reading the balance *after* the reservation cannot under-count: take any other withdrawal W
of the user. If W was in flight when our row committed, it is in `reserved`: whether or not it
has landed by the time we read the balance, we subtract it (once from the balance if it landed,
and again from `reserved`: too much, never too little). If W had ended before, its effect is
already in the balance we read (confirmed: paid; failed on chain: its fee; failed before
sending or expired: nothing, and nothing can land after its blockhash expired). If W committed
after our row, W's own step 1 counted *ours* as reserved, so W leaves room for us. The lock makes
"before" and "after" a total order between the two transactions. So no interleaving lets two
withdrawals spend the same lamports. A quick check before journaling (same arithmetic) refuses a
plainly too large amount without writing anything.

Checks before anything is written: the destination is a plain wallet, as typed and on chain
(`withdrawal_destinations.check_destination`), the amount has at most 9 decimals, and a
brand-new destination receives at least its rent-exempt minimum. The request and its outcome
are both audited (`withdraw`, `withdraw_outcome`).

Policy on top (whitelists, time-locks, limits per day, second factors) is the caller's: the
Telegram bot passes a `check` that runs inside the transaction that journals the withdrawal.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.chain import builders
from solbot.chain.port import Chain, ChainUnavailableError
from solbot.chain.sending import deliver
from solbot.clock import Clock
from solbot.custody import CustodyService
from solbot.errors import UserError
from solbot.execution.signing import SigningError, reserve_signatures_apart, sign_own_slot
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
IDEMPOTENCY_SECONDS = 600.0  # an identical request this soon after a confirmed one is that one
PENDING = (WithdrawalState.CREATED, WithdrawalState.SIGNED, WithdrawalState.SENT)
_PENDING = [state.value for state in PENDING]
OUTCOME = "withdraw_outcome"  # audit action: how a withdrawal ended
REPEATED = "withdraw_repeated"  # audit action: an identical request, answered with the first

# A policy run inside the journaling transaction: raises `UserError` to refuse, or returns
# fields to store on the new withdrawal row.
Check = Callable[[AsyncSession, UserRow, Pubkey, int], Awaitable[dict[str, Any] | None]]
# Called with the row after each journaled step (the sim's crash injection, tests).
Step = Callable[[WithdrawalRow], None]


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


async def lock_user(session: Any, user_id: str) -> None:
    """Serialise the user's money decisions: `FOR UPDATE` on PostgreSQL (SQLite's
    `BEGIN IMMEDIATE` already admits one writer at a time)."""
    await session.execute(select(UserRow.id).where(UserRow.id == user_id).with_for_update())


@dataclass(frozen=True, slots=True)
class Reserved:
    """What the user's withdrawals in flight hold: lamports with their fees, and how many."""

    lamports: int = 0
    count: int = 0


async def reserved(session: Any, user_id: str) -> Reserved:
    """The user's withdrawals in flight, counted as already gone."""
    stmt = select(WithdrawalRow.lamports).where(
        WithdrawalRow.user_id == user_id, WithdrawalRow.state.in_(_PENDING)
    )
    amounts = [int(a) for a in await session.scalars(stmt)]  # summed here: SQLite keeps text
    return Reserved(sum(amounts) + SIGNATURE_FEE * len(amounts), len(amounts))


async def identical(
    session: Any, user_id: str, destination: Pubkey, lamports: int, now: float
) -> WithdrawalRow | None:
    """The withdrawal a new request with these terms repeats (see Idempotency), if any."""
    since = utc_from_timestamp(now - IDEMPOTENCY_SECONDS)
    stmt = (
        select(WithdrawalRow)
        .where(
            WithdrawalRow.user_id == user_id,
            WithdrawalRow.destination == str(destination),
            WithdrawalRow.lamports == lamports,
            or_(
                WithdrawalRow.state.in_(_PENDING),
                and_(
                    WithdrawalRow.state == WithdrawalState.CONFIRMED.value,
                    WithdrawalRow.created_at >= since,
                ),
            ),
        )
        .order_by(WithdrawalRow.created_at.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


@dataclass(frozen=True, slots=True)
class Requested:
    """What a request came to: its withdrawal, and whether it repeated an earlier one (then
    `row` is that one, as it stands: confirmed, or still in flight)."""

    row: WithdrawalRow
    repeated: bool = False


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
        on_step: Step | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.chain = chain
        self.custody = custody
        self.fee_reserve = fee_reserve_lamports
        self.poll_seconds = poll_seconds
        self.on_step = on_step

    # ------------------------------------------------------------------ how much may go
    async def available(self, user: UserRow) -> int:
        """Lamports the user may withdraw now: the balance less the reserve, the fee and the
        withdrawals still in flight (read before the balance: see the module's reasoning)."""
        async with self.db.session() as s:
            held = await reserved(s, user.id)
        return await self._room(user, held)

    async def require_available(self, user: UserRow, lamports: int) -> None:
        """A one-line `UserError` unless `lamports` may go now (nothing is written)."""
        async with self.db.session() as s:
            held = await reserved(s, user.id)
        room = await self._room(user, held)
        if lamports > room:
            raise UserError(self._too_much(lamports, room, held))

    async def _room(self, user: UserRow, held: Reserved) -> int:
        balance = await self.chain.balance(Pubkey.from_string(user.wallet_pubkey))
        return max(0, balance - held.lamports - self.fee_reserve - SIGNATURE_FEE)

    def _too_much(self, lamports: int, room: int, held: Reserved) -> str:
        flight = (
            f", and {sol(held.lamports)} SOL of {held.count} withdrawal(s) in flight"
            if held.count
            else ""
        )
        return (
            f"{sol(lamports)} SOL is more than can be withdrawn: {sol(room)} SOL (the balance "
            f"less the {sol(self.fee_reserve)} SOL fee reserve, the {sol(SIGNATURE_FEE)} SOL "
            f"network fee{flight})"
        )

    # ------------------------------------------------------------------ a withdrawal
    async def withdraw(self, *args: Any, **kwargs: Any) -> WithdrawalRow:
        """`request`'s row (same arguments): the withdrawal as it ended, or the one this
        request repeats."""
        return (await self.request(*args, **kwargs)).row

    async def request(
        self,
        username: str,
        destination: str,
        amount: str | Decimal,
        *,
        actor: str,
        check: Check | None = None,
    ) -> Requested:
        """Validate, journal, sign, send and confirm a withdrawal: the row as it ended; or,
        for a repeated request (see Idempotency), the first one as it stands now."""
        lamports = parse_sol(amount)
        key = self.custody.require_key()
        user = await self.custody.user(username)
        if user.custody != Custody.VAULT.value:
            raise UserError(
                f"user {user.username!r} trades the operator's own wallet: withdraw "
                "from it with the operator's wallet"
            )
        user = await self.custody.verified(user)  # a swapped or edited row pays out nothing
        try:
            to = await self._admissible(user, destination, lamports)
        except ChainUnavailableError as exc:
            raise UserError(f"the chain is unavailable ({exc}); nothing was sent") from None
        async with self.db.session() as s:
            await keycheck.check(s, key)
            await lock_user(s, user.id)
            audit = AuditLog(s, self.clock, key)
            known = await identical(s, user.id, to, lamports, self.clock.now())
            if known is not None:
                await audit.append(
                    actor, REPEATED, user.id, username=user.username, withdrawal=known.id
                )
            else:
                held = await reserved(s, user.id)
                extra = await check(s, user, to, lamports) if check is not None else None
                row = self._new_row(user, to, lamports, actor, extra)
                s.add(row)
                await audit.append(
                    actor,
                    Action.WITHDRAW,
                    user.id,
                    username=user.username,
                    destination=str(to),
                    lamports=lamports,
                    withdrawal=row.id,
                )
        if known is not None:
            log.info("withdrawal %s requested again by %s: returned as it is", known.id, actor)
            return Requested(known, repeated=True)
        self._stepped(row)
        try:
            room = await self._room(user, held)
        except ChainUnavailableError as exc:
            return Requested(await self._end(row, WithdrawalState.FAILED, f"not sent: {exc}"))
        if lamports > room:
            await self._end(row, WithdrawalState.FAILED, self._too_much(lamports, room, held))
            raise UserError(self._too_much(lamports, room, held))
        return Requested(await self._sign_and_send(row, user))

    async def _admissible(self, user: UserRow, destination: str, lamports: int) -> Pubkey:
        """The checks before anything is written (each a one-line `UserError`): a plain
        wallet (on chain), not the user's own, and, unless this repeats a withdrawal in flight
        or just confirmed, an amount the wallet can spare that a new account may receive."""
        target = await check_destination(self.chain, destination)
        to = target.address
        if to == Pubkey.from_string(user.wallet_pubkey):
            raise UserError("the destination is the user's own trading wallet")
        async with self.db.session() as s:
            known = await identical(s, user.id, to, lamports, self.clock.now())
        if known is None:  # a repeat is answered whatever the balance is now
            await self.require_available(user, lamports)
            if lamports < RENT_EXEMPT_MINIMUM and target.new:
                raise UserError(
                    f"{to} is a new account: it must receive at least "
                    f"{sol(RENT_EXEMPT_MINIMUM)} SOL (Solana's rent-exempt minimum)"
                )
        return to

    def _new_row(
        self, user: UserRow, to: Pubkey, lamports: int, actor: str, extra: dict[str, Any] | None
    ) -> WithdrawalRow:
        now = utc_from_timestamp(self.clock.now())
        return WithdrawalRow(
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

    async def _sign_and_send(self, row: WithdrawalRow, user: UserRow) -> WithdrawalRow:
        owner = Pubkey.from_string(user.wallet_pubkey)
        try:
            blockhash, last_valid = await self.chain.latest_blockhash()
        except ChainUnavailableError as exc:
            return await self._end(row, WithdrawalState.FAILED, f"not sent: {exc}")
        transfer = builders.sol_transfer(owner, Pubkey.from_string(row.destination), row.lamports)
        message = builders.build_message(owner, [transfer, builders.memo(row.id)], blockhash)
        unsigned = VersionedTransaction.populate(
            message, [Signature.default()] * message.header.num_required_signatures
        )
        signer = self.custody.signer(user)
        try:
            with await reserve_signatures_apart(self.db, [signer]):  # the decryption, counted
                signed = sign_own_slot(unsigned, signer)
        except SigningError as exc:
            await self.custody.record_vault_records(actor=row.requested_by)
            return await self._end(row, WithdrawalState.FAILED, f"not signed: {exc}")
        stored = await self._advance(
            row,
            WithdrawalState.SIGNED,
            (WithdrawalState.CREATED,),
            signed_tx=bytes(signed),
            signature=str(signed.signatures[0]),
            last_valid_block_height=last_valid,
        )
        if not stored:  # another process's recovery ended it meanwhile (unsigned: failed)
            return await self._reload(row)
        try:
            return await self._broadcast(row, signed)
        except ChainUnavailableError as exc:
            raise UserError(
                f"the chain stopped answering while withdrawal {row.id} was in flight ({exc}); "
                "it is journaled and settled at the next start of solbot withdraw, run or "
                "telegram"
            ) from None

    async def _broadcast(self, row: WithdrawalRow, tx: VersionedTransaction) -> WithdrawalRow:
        """Send the journaled bytes, again and again, until a status or the blockhash expires."""
        if not await self._advance(row, WithdrawalState.SENT, (WithdrawalState.SIGNED,)):
            return await self._reload(row)  # another process recorded its outcome
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

    # ------------------------------------------------------------------ recovery
    async def recover(self) -> list[WithdrawalRow]:
        """Settle every withdrawal left in flight (any process's): from its signature, or
        failed when it was never signed. Callers use `recover_withdrawals`."""
        async with self.db.session() as s:
            pending = list(
                await s.scalars(
                    select(WithdrawalRow)
                    .where(WithdrawalRow.state.in_(_PENDING))
                    .order_by(WithdrawalRow.created_at)
                )
            )
        if not pending:
            return []
        self.custody.require_key()  # outcomes are audited
        done = []
        for row in pending:
            if row.signed_tx is None:
                done.append(await self._end(row, WithdrawalState.FAILED, "stopped before signing"))
            else:
                tx = VersionedTransaction.from_bytes(row.signed_tx)
                done.append(await self._broadcast(row, tx))
        return done

    # ------------------------------------------------------------------ the journal
    async def _advance(
        self,
        row: WithdrawalRow,
        state: WithdrawalState,
        expected: Sequence[WithdrawalState],
        **values: Any,
    ) -> bool:
        """Move the row to `state` if it is in one of `expected` states (False if not)."""
        values["state"] = state.value
        values["updated_at"] = utc_from_timestamp(self.clock.now())
        async with self.db.session() as s:
            result = await s.execute(
                update(WithdrawalRow)
                .where(
                    WithdrawalRow.id == row.id,
                    WithdrawalRow.state.in_([e.value for e in (state, *expected)]),
                )
                .values(**values)
            )
        if result.rowcount == 0:
            return False
        for name, value in values.items():
            setattr(row, name, value)
        self._stepped(row)
        return True

    async def _end(
        self,
        row: WithdrawalRow,
        state: WithdrawalState,
        error: str | None,
        *,
        fee: int | None = None,
    ) -> WithdrawalRow:
        """The outcome, with its audit row, in one transaction, unless another process
        recorded one first (then the row as that process left it)."""
        key = self.custody.require_key()
        values = {
            "state": state.value,
            "error": error,
            "fee_lamports": fee,
            "updated_at": utc_from_timestamp(self.clock.now()),
        }
        async with self.db.session() as s:
            result = await s.execute(
                update(WithdrawalRow)
                .where(WithdrawalRow.id == row.id, WithdrawalRow.state.in_(_PENDING))
                .values(**values)
            )
            if result.rowcount:
                await AuditLog(s, self.clock, key).append(
                    row.requested_by,
                    OUTCOME,
                    row.user_id,
                    withdrawal=row.id,
                    state=state.value,
                    error=error,
                    signature=row.signature,
                    lamports=row.lamports,
                )
        if not result.rowcount:
            return await self._reload(row)
        for name, value in values.items():
            setattr(row, name, value)
        log.info("withdrawal %s %s%s", row.id, state.value, f": {error}" if error else "")
        self._stepped(row)
        return row

    async def _reload(self, row: WithdrawalRow) -> WithdrawalRow:
        async with self.db.session() as s:
            fresh = await s.get(WithdrawalRow, row.id)
        assert fresh is not None  # rows are never deleted
        return fresh

    def _stepped(self, row: WithdrawalRow) -> None:
        if self.on_step is not None:
            self.on_step(row)


# ---------------------------------------------------------------------------------- at start
@dataclass(frozen=True)
class Recovered:
    """A withdrawal a start-up settled, and whose it was: what the user is told."""

    withdrawal: WithdrawalRow
    user_id: str
    username: str

    @property
    def text(self) -> str:
        w = self.withdrawal
        head = f"withdrawal of {sol(w.lamports)} SOL to {w.destination}"
        if w.state == WithdrawalState.CONFIRMED.value:
            return f"{head} confirmed after a restart (transaction {w.signature})"
        return f"{head} {w.state} after a restart: {w.error}; nothing left the wallet" + (
            " but the network fee" if w.fee_lamports else ""
        )


async def recover_withdrawals(
    db: Any,
    clock: Clock,
    chain: Chain,
    custody: CustodyService,
    tell: Callable[[Recovered], None],
    *,
    on_step: Step | None = None,
) -> list[Recovered]:
    """The one entry point every start calls (`solbot run`, `solbot withdraw`, `solbot
    telegram`) before it acts on withdrawals: settle each one a previous process left in flight
    (`WithdrawalService.recover`; outcomes audited) and `tell` its user, each caller through its
    own channel (an engine/notifier event, a console line). Needs the master key only when
    there is something to settle."""
    service = WithdrawalService(db, clock, chain, custody, fee_reserve_lamports=0, on_step=on_step)
    rows = await service.recover()
    if not rows:
        return []
    names = {u.id: u.username for u in await custody.users()}
    settled = [Recovered(row, row.user_id, names.get(row.user_id, row.user_id)) for row in rows]
    for item in settled:
        log.info("recovered %s: %s", item.username, item.text)
        tell(item)
    return settled
