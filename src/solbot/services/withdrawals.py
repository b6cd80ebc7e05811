"""Withdrawals: a real SOL transfer out of a user's wallet, journaled like an order.

The journal (states, exactly once, recovery at every start, compare-and-set steps) is the one
every transfer out of a wallet uses: `solbot.transfers`. Every process that may act on
withdrawals (`solbot run`, `solbot withdraw`, `solbot telegram`) starts with
`transfer_recovery.recover_transfers`, which settles every transfer a dead process left in
flight (the operator's fee sweeps too), audits the outcome and tells the user.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from solders.pubkey import Pubkey
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.chain import builders
from solbot.chain.port import Chain, ChainUnavailableError
from solbot.clock import Clock
from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.services.withdrawal_destinations import check_destination
from solbot.store.states import Custody, WithdrawalState
from solbot.store.tables import UserRow, WithdrawalRow
from solbot.store.types import utc_from_timestamp
from solbot.transfers import (
    PENDING_VALUES,
    SIGNATURE_FEE,
    Reserved,
    Step,
    TransferJournal,
    lock_user,
    reserved,
)
from solbot.wallet import keycheck
from solbot.wallet.audit import Action, AuditLog

log = logging.getLogger(__name__)

LAMPORTS_PER_SOL = 1_000_000_000
RENT_EXEMPT_MINIMUM = 890_880  # lamports a new system account must hold (0-byte data)
IDEMPOTENCY_SECONDS = 600.0  # an identical request this soon after a confirmed one is that one
OUTCOME = "withdraw_outcome"  # audit action: how a withdrawal ended
REPEATED = "withdraw_repeated"  # audit action: an identical request, answered with the first

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
                WithdrawalRow.state.in_(PENDING_VALUES),
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


class WithdrawalService(TransferJournal):
    model = WithdrawalRow
    outcome_action = OUTCOME
    custody: CustodyService  # always the vault here (the base also serves plain signers)

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
        wall: Clock | None = None,
    ) -> None:
        super().__init__(
            db, clock, chain, custody, poll_seconds=poll_seconds, on_step=on_step, wall=wall
        )
        self.fee_reserve = fee_reserve_lamports

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
            f", and {sol(held.lamports)} SOL held by {held.count} transfer(s) in flight"
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
            audit = AuditLog(s, self.wall, key)
            known = await identical(s, user.id, to, lamports, self.wall.now())
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
        self.stepped(row)
        try:
            room = await self._room(user, held)
        except ChainUnavailableError as exc:
            return Requested(await self.end(row, WithdrawalState.FAILED, f"not sent: {exc}"))
        if lamports > room:
            await self.end(row, WithdrawalState.FAILED, self._too_much(lamports, room, held))
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
            known = await identical(s, user.id, to, lamports, self.wall.now())
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
        now = self.stamp()
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
        transfer = builders.sol_transfer(owner, Pubkey.from_string(row.destination), row.lamports)
        try:
            return await self.sign_and_send(row, self.custody.signer(user), [transfer])
        except ChainUnavailableError as exc:
            raise UserError(
                f"the chain stopped answering while withdrawal {row.id} was in flight ({exc}); "
                "it is journaled and settled at the next start of solbot withdraw, run or "
                "telegram"
            ) from None
