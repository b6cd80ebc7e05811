"""Paying the operator's accrued performance fees: a transfer of the quote asset from each
user's wallet to the fee wallet (`SOLBOT_FEE_WALLET`), journaled like a withdrawal.

What a user owes is what has accrued (`fee_accruals.charged` of their last day, in quote units,
rounded down to atoms) less every sweep that confirmed or is still in flight. A sweep pays at
most what the wallet can spare (its free quote cash; for a SOL quote, less the fee reserve and
the withdrawals in flight), so the rest stays owed and a later sweep pays it.

Exactly once, whatever crashes and whoever runs it:
- the journal (`solbot.transfers`): signed bytes stored before the first send, recovery at every
  start (`solbot.transfer_recovery`), compare-and-set steps;
- one decision at a time per user: the row is written in a transaction that locks the user's
  row (as withdrawals do), after reading what is owed and in flight in that same transaction;
- one sweep per user and accrued day (`through_day`) that is not failed or expired, so the
  same day's fee asked for twice (the loop and `solbot fees sweep` side by side) is paid once;
- the wallet is read again after the row committed, like a withdrawal: a sweep that the cash
  no longer covers ends failed before anything is signed;
- a restored backup does not know the fees paid after it was made: payments wait after a
  restore until the operator says so (`solbot fees sweep --resume`, audited).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from solders.pubkey import Pubkey
from sqlalchemy import delete, select

from solbot.chain import builders
from solbot.chain.port import NATIVE_MINT, Chain, ChainUnavailableError, holdings
from solbot.clock import Clock
from solbot.domain import TokenInfo
from solbot.errors import UserError
from solbot.services.custody import CustodyService
from solbot.services.roster import limits_of
from solbot.services.withdrawal_destinations import check_destination, parse_destination
from solbot.store.states import Custody
from solbot.store.tables import FeeAccrualRow, FeeSweepRow, MetaEntry, UserRow
from solbot.transfers import (
    PENDING_VALUES,
    SIGNATURE_FEE,
    Reserved,
    Step,
    TransferJournal,
    TransferState,
    lock_user,
    reserved,
)
from solbot.wallet import keycheck
from solbot.wallet.audit import AuditLog

log = logging.getLogger(__name__)

SWEEP = "fee_sweep"  # audit action: a sweep journaled
OUTCOME = "fee_sweep_outcome"  # audit action: how it ended
ACTOR = "fee-sweep"
HELD_KEY = "fee_sweeps_held"  # meta: payments wait after a restore (the backup it names)
RESUMED = "fee_sweeps_resumed"  # audit action: the operator let them go on
LATER = "left for later"  # a pass out of time: the user is swept by the next one
UNREACHED = "chain unavailable"  # a payment may be in flight: the next recovery settles it
_SETTLED = [TransferState.CONFIRMED.value]
_COUNTED = [*PENDING_VALUES, *_SETTLED]  # a sweep that paid or may still pay


class SweepsHeldError(UserError):
    """Payments wait for the operator after a restore (see `require_not_held`)."""


async def restore_hold(db: Any) -> str | None:
    """Why payments wait (the backup restored), or None: see `HELD_KEY`."""
    async with db.session() as s:
        row = await s.get(MetaEntry, HELD_KEY)
    return None if row is None else row.value


async def require_not_held(db: Any) -> None:
    reason = await restore_hold(db)
    if reason is not None:
        raise SweepsHeldError(
            f"fee payments wait since a restore (backup {reason}): a fee paid after that backup "
            "is not in this database and would be paid again; compare `solbot fees` with the "
            "fee wallet's history, then run `solbot fees sweep --resume`"
        )


def amount_text(atoms: int, decimals: int, symbol: str) -> str:
    """An amount for people: exact, without trailing zeros ("12.5 USDC")."""
    return f"{units(atoms, decimals).normalize():f} {symbol}"


def units(atoms: int, decimals: int) -> Decimal:
    return Decimal(atoms).scaleb(-decimals)


def atoms_of(amount: Decimal, decimals: int) -> int:
    """Quote units as atoms, rounded down: a user never pays a fraction of an atom too much."""
    return int(amount.scaleb(decimals).to_integral_value(rounding=ROUND_DOWN))


def fee_wallet_address(text: str | None) -> Pubkey:
    """`SOLBOT_FEE_WALLET` as an address (not yet read on chain), or one line saying why not."""
    if not text:
        raise UserError("set SOLBOT_FEE_WALLET to the wallet address fees are paid to")
    try:
        return parse_destination(text)
    except UserError as exc:
        raise UserError(f"SOLBOT_FEE_WALLET: {exc}") from None


@dataclass(frozen=True)
class Owed:
    """A user's fees in atoms of the quote: accrued through `through` (a day), paid (confirmed
    sweeps) and in flight; `swept_through` is whether a sweep already counts for that day."""

    accrued: int
    paid: int
    in_flight: int
    through: str | None
    swept_through: bool

    @property
    def due(self) -> int:
        return max(0, self.accrued - self.paid - self.in_flight)


async def owed(session: Any, user_id: str, decimals: int) -> Owed:
    """What the user owes, read in the caller's transaction (locked or not)."""
    last = await session.scalar(
        select(FeeAccrualRow)
        .where(FeeAccrualRow.user_id == user_id)
        .order_by(FeeAccrualRow.day.desc())
        .limit(1)
    )
    rows = await session.execute(
        select(FeeSweepRow.state, FeeSweepRow.atoms, FeeSweepRow.through_day).where(
            FeeSweepRow.user_id == user_id, FeeSweepRow.state.in_(_COUNTED)
        )
    )
    paid = in_flight = 0
    days = set()
    for state, atoms, day in rows:
        if state in _SETTLED:
            paid += int(atoms)
        else:
            in_flight += int(atoms)
        days.add(day)
    if last is None:
        return Owed(0, paid, in_flight, None, False)
    accrued = atoms_of(Decimal(last.charged), decimals)
    return Owed(accrued, paid, in_flight, last.day, last.day in days)


@dataclass(frozen=True)
class Swept:
    """What a sweep of one user came to: its row (None when nothing was sent) and why not."""

    user_id: str
    username: str
    row: FeeSweepRow | None = None
    skipped: str | None = None  # why nothing was journaled (nothing due, below the minimum…)

    @property
    def confirmed(self) -> bool:
        return self.row is not None and self.row.state == TransferState.CONFIRMED.value


class FeeSweeps(TransferJournal):
    """The fee sweeps' journal; with a quote and a fee wallet, it also makes sweeps."""

    model = FeeSweepRow
    outcome_action = OUTCOME
    custody: CustodyService  # always the vault here (the base also serves plain signers)

    def __init__(
        self,
        db: Any,
        clock: Clock,
        chain: Chain,
        custody: CustodyService,
        *,
        quote: TokenInfo | None = None,
        fee_wallet: str | None = None,
        minimum: Decimal = Decimal(0),
        poll_seconds: float = 1.0,
        on_step: Step | None = None,
        wall: Clock | None = None,
    ) -> None:
        super().__init__(
            db, clock, chain, custody, poll_seconds=poll_seconds, on_step=on_step, wall=wall
        )
        self.quote = quote
        self.fee_wallet = fee_wallet
        self.minimum = minimum

    # ------------------------------------------------------------------ before sweeping
    async def destination(self, users: list[UserRow]) -> Pubkey:
        """The fee wallet, checked on chain: a plain wallet none of `users` trades, and for a
        token quote one that holds a token account for it (a transfer cannot create it without
        charging a user its rent); else a one-line `UserError` saying what to do."""
        quote = self._quote()
        address = self.address()
        for user in users:  # their wallets are reconciled to the atom
            if user.wallet_pubkey == str(address):
                raise UserError(
                    f"SOLBOT_FEE_WALLET is the trading wallet of {user.username!r}: fees must "
                    "go to a wallet the bot does not trade"
                )
        async with self.db.session() as s:
            paid_in = set(await s.scalars(select(FeeSweepRow.mint).distinct()))
        if paid_in - {quote.mint}:
            raise UserError(
                f"fees in this database were paid in another asset ({', '.join(sorted(paid_in))}) "
                f"than the quote {quote.symbol} now: what is owed cannot be converted; set "
                "SOLBOT_QUOTE back"
            )
        try:
            target = await check_destination(self.chain, self.fee_wallet or "")
        except UserError as exc:
            raise UserError(f"SOLBOT_FEE_WALLET: {exc}") from None
        mint = Pubkey.from_string(quote.mint)
        if mint != NATIVE_MINT:
            account = builders.associated_token_address(target.address, mint)
            if await self.chain.account(account) is None:
                raise UserError(
                    f"the fee wallet {target.address} has no {quote.symbol} account yet: "
                    f"receive any amount of {quote.symbol} there once, then fees can be paid"
                )
        elif target.new:
            raise UserError(
                f"the fee wallet {target.address} does not exist on chain yet: send it some "
                "SOL once (a new account must receive its rent-exempt minimum)"
            )
        return target.address

    def address(self) -> Pubkey:
        return fee_wallet_address(self.fee_wallet)

    def _quote(self) -> TokenInfo:
        if self.quote is None:
            raise RuntimeError("FeeSweeps built for recovery only cannot sweep")
        return self.quote

    # ------------------------------------------------------------------ after a restore
    async def resume(self, actor: str) -> bool:
        """Let payments go on after a restore (audited); False if none were held."""
        key = self.custody.require_key()
        async with self.db.session() as s:
            row = await s.get(MetaEntry, HELD_KEY)
            if row is None:
                return False
            await AuditLog(s, self.wall, key).append(actor, RESUMED, None, backup=row.value)
            await s.execute(delete(MetaEntry).where(MetaEntry.key == HELD_KEY))
        return True

    # ------------------------------------------------------------------ sweeping
    async def sweep_all(
        self, *, actor: str = ACTOR, only: str | None = None, until: float | None = None
    ) -> list[Swept]:
        """Sweep every vault user's due fees (or only the user named `only`): one result each;
        with `until` (wall time), the users not reached by then are left for the next call
        (`Swept.skipped == LATER`). The fee wallet is checked once, first (a `UserError` when
        it cannot receive; `SweepsHeldError` after a restore); one user's problem (an identity
        refused) is that user's result."""
        await require_not_held(self.db)
        everyone = await self.custody.users()
        to = await self.destination(everyone)
        users = [
            u
            for u in everyone
            if u.custody == Custody.VAULT.value and (only is None or u.username == only)
        ]
        if only is not None and not users:
            await self.custody.user(only)  # the one-line "no such user"
            raise UserError(f"user {only!r} trades the operator's own wallet: it pays no fee")
        results = []
        for user in users:
            if until is not None and self.wall.now() >= until:
                results.append(Swept(user.id, user.username, skipped=LATER))
                continue
            try:
                results.append(await self.sweep(user, to, actor=actor))
            except ChainUnavailableError as exc:
                results.append(Swept(user.id, user.username, skipped=f"{UNREACHED}: {exc}"))
            except UserError as exc:
                results.append(Swept(user.id, user.username, skipped=str(exc)))
        return results

    async def sweep(self, user: UserRow, to: Pubkey, *, actor: str = ACTOR) -> Swept:
        """Pay what `user` owes, as far as their wallet can spare it."""
        quote = self._quote()
        key = self.custody.require_key()
        user = await self.custody.verified(user)
        looked = await self._wallet(user)  # the chain is never awaited inside a transaction
        async with self.db.session() as s:
            await keycheck.check(s, key)
            await lock_user(s, user.id)
            due = await owed(s, user.id, quote.decimals)
            held = await reserved(s, user.id)
            spare = self._spare(user, looked, held)
            skipped = self._why_not(due, spare)
            if skipped is not None:
                return Swept(user.id, user.username, skipped=skipped)
            assert due.through is not None  # something is due
            row = self._new_row(user, to, min(due.due, spare), due.through, actor)
            s.add(row)
            await AuditLog(s, self.wall, key).append(
                actor,
                SWEEP,
                user.id,
                username=user.username,
                fee_sweep=row.id,
                destination=str(to),
                mint=row.mint,
                atoms=row.atoms,
                through=row.through_day,
            )
        self.stepped(row)
        try:  # read again after the row committed (see `solbot.services.withdrawals` for why)
            room = self._spare(user, await self._wallet(user), held)
        except ChainUnavailableError as exc:
            error = f"not sent: {exc}"
            return Swept(user.id, user.username, await self.end(row, TransferState.FAILED, error))
        if row.atoms > room:
            spare_now = amount_text(room, quote.decimals, quote.symbol)
            error = f"not sent: the wallet can spare {spare_now} now"
            return Swept(user.id, user.username, await self.end(row, TransferState.FAILED, error))
        owner = Pubkey.from_string(user.wallet_pubkey)
        if Pubkey.from_string(quote.mint) == NATIVE_MINT:
            transfer = builders.sol_transfer(owner, to, row.atoms)
        else:
            transfer = builders.token_transfer_checked(
                owner, to, Pubkey.from_string(quote.mint), row.atoms, quote.decimals
            )
        return Swept(
            user.id,
            user.username,
            await self.sign_and_send(row, self.custody.signer(user), [transfer]),
        )

    def _why_not(self, due: Owed, spare: int) -> str | None:
        quote = self._quote()
        if due.in_flight:
            return "a fee payment is still in flight (the next start settles it)"
        if due.due <= 0:
            return "nothing is owed"
        if due.swept_through:
            return f"the fees through {due.through} were paid; the rest waits for the next day"
        if due.due < atoms_of(self.minimum, quote.decimals):
            return f"{amount_text(due.due, quote.decimals, quote.symbol)} owed, below the minimum"
        if spare <= 0:
            return f"the wallet has no {quote.symbol} to spare"
        if spare < atoms_of(self.minimum, quote.decimals):
            spare_units = amount_text(spare, quote.decimals, quote.symbol)
            return f"the wallet can spare {spare_units}, below the minimum"
        return None

    async def _wallet(self, user: UserRow) -> tuple[int, int]:
        """The wallet's lamports and its quote cash (lamports again for a SOL quote)."""
        owner = Pubkey.from_string(user.wallet_pubkey)
        lamports = await self.chain.balance(owner)
        mint = Pubkey.from_string(self._quote().mint)
        cash = lamports if mint == NATIVE_MINT else await holdings(self.chain, owner, mint)
        return lamports, cash

    def _spare(self, user: UserRow, wallet: tuple[int, int], held: Reserved) -> int:
        """Atoms of the quote the wallet can pay, given its balances and what the user's
        transfers in flight hold (`held`, read under the user's lock). A SOL quote keeps the
        fee reserve, this transfer's fee and `held`; a token quote needs SOL for the fee."""
        lamports, cash = wallet
        free_lamports = lamports - held.lamports - SIGNATURE_FEE
        if Pubkey.from_string(self._quote().mint) == NATIVE_MINT:
            reserve = int(Decimal(str(limits_of(user).fee_reserve_sol)).scaleb(9))
            return max(0, free_lamports - reserve)
        return cash if free_lamports >= 0 else 0

    def _new_row(
        self, user: UserRow, to: Pubkey, atoms: int, through: str, actor: str
    ) -> FeeSweepRow:
        quote = self._quote()
        now = self.stamp()
        return FeeSweepRow(
            id=str(uuid.uuid4()),
            user_id=user.id,
            destination=str(to),
            mint=quote.mint,
            symbol=quote.symbol,
            decimals=quote.decimals,
            atoms=atoms,
            through_day=through,
            state=TransferState.CREATED.value,
            requested_by=actor,
            created_at=now,
            updated_at=now,
        )
