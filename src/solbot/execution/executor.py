"""The order lifecycle: journal, quote, sign, send, confirm, settle; and recovery after a crash.

Every step is written to the journal (`orders`) before the next one can have effects:

    created ─quote─► quoted ─sign─► signed ─send/execute─► sent ─► confirmed | failed | expired

- The intent is journaled before quoting, under an idempotency key (user, signal, side), so a
  signal that is acted on twice (a restart, a retry) finds its order instead of making another.
- The signed bytes are journaled before they are sent, so after a crash the same bytes are
  re-sent (never re-signed with a new blockhash while the old one could still land).
- Legacy v1 swaps and Swap v2 `/build` swaps: the user pays the fee, the transaction id is our
  own signature; we send through the chain and re-send the same bytes until a status appears or
  the block height passes `lastValidBlockHeight`. A `/build` transaction is assembled here, its
  compute budget ours (`solbot.execution.landing`: the limit from a simulation, the price from
  recent fees, capped per order), and journaled with the signed bytes.
- Swap v2 on a market-maker route: the maker pays the fee and signs at `/execute`, so the
  transaction id is unknown until `/execute` answers. The journal keeps the signed bytes, the
  `requestId`, our own signature and the output balance before the swap; if the answer is lost
  (a crash, a timeout), the order is settled from balances once its blockhash has expired.
- A confirmed order is settled in the same database transaction that records it: the position
  opens (or closes) with the quantity the chain says was received, and the trade is recorded.
- Paper orders (`Route.PAPER`) take a short cut, `created ─quote─► quoted ─► confirmed`: quoted
  without a taker and filled at the quote, with the paper balances moved in the transaction
  that books the fill. Nothing is signed, nothing is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from sqlalchemy.ext.asyncio import AsyncSession

from solbot.chain.port import NATIVE_MINT, Chain, SignatureStatus, holdings
from solbot.chain.sending import deliver
from solbot.clock import Clock
from solbot.execution.booking import Booking, swap_output
from solbot.execution.execute_answer import read_execute
from solbot.execution.jupiter import BadResponseError, JupiterClient, VenueError
from solbot.execution.landing import LandingPolicy, SimulationFailedError
from solbot.execution.quoting import RouteQuoter
from solbot.execution.signing import (
    Signer,
    SigningError,
    UnusableKeyError,
    reserve_signatures_apart,
    sign_own_slot,
    signer_index,
)
from solbot.store.balances import InsufficientPaperFundsError, PaperBalances
from solbot.store.db import Database
from solbot.store.orders import Orders
from solbot.store.states import OrderState, Purpose, Route, Side
from solbot.store.tables import OrderRow

log = logging.getLogger(__name__)

_PENDING_SEND = {OrderState.SIGNED}
_IN_FLIGHT = {OrderState.SIGNED, OrderState.SENT}
# A landed transaction's metadata asked for this many times before the fill is read from
# balances instead (a node may answer its status a moment before `getTransaction` has it).
_TRANSACTION_LOOKUPS = 5
OURS_TO_SEND = {Route.V1, Route.BUILD}  # routes whose transaction we send (and re-send)


@dataclass(frozen=True, slots=True)
class SwapIntent:
    """What the trading loop wants done. `signal_key` names the decision being acted on (for
    an entry: token and candle; for an exit: the position and attempt)."""

    user_id: str
    token: str
    side: Side
    input_mint: str
    output_mint: str
    amount_in: int
    purpose: Purpose
    signal_key: str
    exit_reason: str | None = None
    position_id: str | None = None
    stop_frac: Decimal | None = None
    target_frac: Decimal | None = None

    @property
    def idempotency_key(self) -> str:
        return f"{self.user_id}:{self.signal_key}:{self.side.value}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an order ended (or where it stands, if it could not be finished now)."""

    order_id: str
    state: OrderState
    filled_in: int | None = None
    filled_out: int | None = None
    signature: str | None = None
    error: str | None = None
    purpose: Purpose | None = field(default=None, compare=False)  # which side of a trade
    # The signer's key cannot sign at all (it does not open, or is another wallet's): a fault
    # of the user's whole trading, not of this order (see `solbot.quarantine`).
    key_unusable: bool = field(default=False, compare=False)
    # What the wallet paid for the order's transaction beyond the swap (`wallet_costs`).
    costs_lamports: int | None = field(default=None, compare=False)

    @property
    def confirmed(self) -> bool:
        return self.state is OrderState.CONFIRMED


class Executor:
    """Drives orders through their lifecycle against a venue and a chain, journaling each step."""

    def __init__(
        self,
        db: Database,
        jupiter: JupiterClient,
        chain: Chain,
        clock: Clock,
        *,
        decimals: Mapping[str, int],
        route: Route = Route.V2,
        slippage_bps: int = 50,
        trailing_stop_pct: Decimal | None = None,
        poll_seconds: float = 1.0,
        resend_seconds: float = 2.0,
        on_step: Callable[[OrderRow], None] | None = None,
        landing: LandingPolicy | None = None,
        trusted_programs: Iterable[Pubkey] = (),
        auto_route: bool = False,
    ) -> None:
        self.db = db
        self.jupiter = jupiter
        self.chain = chain
        self.clock = clock
        self.booking = Booking(clock, dict(decimals), trailing_stop_pct)
        self.route = route
        self.slippage_bps = slippage_bps
        self.poll_seconds = poll_seconds
        self.resend_seconds = resend_seconds
        self.landing = landing or LandingPolicy()
        # Quotes on the order's route and vets what the wallet would sign (shared by groups).
        self.quoter = RouteQuoter(
            jupiter,
            chain,
            slippage_bps=slippage_bps,
            landing=self.landing,
            trusted_programs=trusted_programs,
            auto=auto_route,  # orders made on `/order` move to `/build` when it costs less
        )
        # Called after each journaled step, with the row as committed (the sim's crash tests
        # kill the process here: `SOLBOT_SIM_CRASH_AFTER`).
        self.on_step = on_step
        self._owners: dict[str, Pubkey] = {}

    # ------------------------------------------------------------------ the normal path
    async def submit(self, intent: SwapIntent, signer: Signer) -> Outcome:
        """Carry `intent` out, or find the order it already produced and finish that one."""
        self.register_owner(intent.user_id, signer.pubkey())
        async with self.db.session() as s:
            order = await Orders(s, self.clock).create(
                idempotency_key=intent.idempotency_key,
                user_id=intent.user_id,
                token=intent.token,
                input_mint=intent.input_mint,
                output_mint=intent.output_mint,
                side=intent.side,
                purpose=intent.purpose,
                amount_in=intent.amount_in,
                route=self.route,
                exit_reason=intent.exit_reason,
                position_id=intent.position_id,
                stop_frac=intent.stop_frac,
                target_frac=intent.target_frac,
            )
        if OrderState(order.state) is not OrderState.CREATED:
            return await self.resume(order, signer)
        if self.on_step is not None:
            self.on_step(order)
        owner = signer.pubkey()
        try:
            if Route(order.route) is Route.PAPER:
                return await self._fill_paper(order, owner)
            before = await holdings(self.chain, owner, Pubkey.from_string(order.output_mint))
            try:
                unsigned, quoted = await self.quoter.quote(order, owner, before)
            except SimulationFailedError as exc:
                return await self._fail_unsent(order, str(exc))
            route = Route(quoted.get("route", order.route))  # `auto` may have moved it
            # The fee payer's signature is the transaction id: ours on the routes we send, and
            # on `/order`'s aggregator routes too (known before `/execute` answers).
            fee_payer = unsigned.message.account_keys[0]
            signed = await self._sign_and_journal(
                order, unsigned, signer, tx_id_is_ours=fee_payer == owner, **quoted
            )
            if route is Route.V2:
                return await self._execute(order, signer, signed, quoted)
            return await self._broadcast(order, signed)
        except VenueError as exc:
            return await self._fail_unsent(order, str(exc))
        except SigningError as exc:
            # The vault refused (signing paused after a burst, a key that is not this wallet's):
            # nothing was signed, so nothing can have been sent.
            outcome = await self._fail_unsent(order, f"not signed: {exc}")
            return replace(outcome, key_unusable=isinstance(exc, UnusableKeyError))

    async def _fill_paper(self, order: OrderRow, owner: Pubkey) -> Outcome:
        """Paper trading: quote without a taker (a price, no transaction) and fill at the quote,
        moving the paper balances in the transaction that books the fill. Nothing is signed or
        sent, so a crash before the fill leaves nothing to recover but a failed order."""
        quote = await self.jupiter.order(
            order.input_mint, order.output_mint, order.amount_in, slippage_bps=self.slippage_bps
        )
        if quote.out_amount <= 0:
            return await self._fail_unsent(order, "the venue quoted nothing for this amount")
        await self._advance(
            order,
            OrderState.QUOTED,
            {OrderState.CREATED},
            quoted_out=quote.out_amount,
            min_out=quote.other_amount_threshold,
            fee_bps=quote.fee_bps,
        )
        try:
            return await self._confirm(
                order, order.amount_in, quote.out_amount, {OrderState.QUOTED}, paper_owner=owner
            )
        except InsufficientPaperFundsError as exc:
            return await self._fail_unsent(order, str(exc))

    async def _execute(
        self, order: OrderRow, signer: Signer, signed: VersionedTransaction, quoted: dict[str, Any]
    ) -> Outcome:
        """Swap v2 `/order`: Jupiter lands the signed transaction (`/execute`); which
        transaction to follow then is `read_execute`'s verdict (the wallet's own id when it
        pays the fee, else the maker's signature of this message)."""
        try:
            result = await self.jupiter.execute(
                quoted["request_id"],
                signed,
                last_valid_block_height=quoted["last_valid_block_height"],
            )
        except VenueError as exc:
            # An answer we could not read says no more than a lost one: the swap may have landed.
            if exc.outcome_unknown or isinstance(exc, BadResponseError):
                log.warning("order %s: execute outcome unknown (%s); settling later", order.id, exc)
                return await self.resume(await self._reload(order), signer)
            await self._advance(order, OrderState.SENT, _PENDING_SEND)
            return await self._end(order, OrderState.FAILED, error=str(exc))
        verdict = read_execute(result, signed, order.signature)
        named = {} if order.signature or verdict.follow is None else {"signature": verdict.follow}
        await self._advance(order, OrderState.SENT, _PENDING_SEND, **named)
        if verdict.error is not None:
            paid = await self.wallet_costs(order, swapped=False)
            return await self._end(order, OrderState.FAILED, error=verdict.error, fee_lamports=paid)
        if verdict.follow is None:
            return await self.resume(await self._reload(order), signer)
        return await self._await_status(order)  # `_advance` kept the row current

    async def _sign_and_journal(
        self,
        order: OrderRow,
        unsigned: VersionedTransaction,
        signer: Signer,
        *,
        tx_id_is_ours: bool,
        **quoted: object,
    ) -> VersionedTransaction:
        """Journal the quote, sign our own slot, and journal the signed bytes before anything
        can send them."""
        await self._advance(order, OrderState.QUOTED, {OrderState.CREATED}, **quoted)
        with await reserve_signatures_apart(self.db, [signer]):  # a vault signer's decryption
            signed = sign_own_slot(unsigned, signer)
        own = signed.signatures[signer_index(signed, signer.pubkey())]
        tx_id = {"signature": str(signed.signatures[0])} if tx_id_is_ours else {}
        await self._advance(
            order,
            OrderState.SIGNED,
            {OrderState.QUOTED},
            signed_tx=bytes(signed),
            own_signature=str(own),
            **tx_id,
        )
        return signed

    # ------------------------------------------------------------------ sending, confirming
    async def _broadcast(self, order: OrderRow, tx: VersionedTransaction) -> Outcome:
        """Send the journaled bytes, re-sending the same bytes until a status or expiry."""
        await self._advance(order, OrderState.SENT, _PENDING_SEND)

        async def count_resend() -> None:
            async with self.db.session() as s:
                await Orders(s, self.clock).record_resend(order.id)

        delivery = await deliver(
            self.chain,
            self.clock,
            tx,
            order.last_valid_block_height,
            resend_seconds=self.resend_seconds,
            on_resend=count_resend,
        )
        if delivery.refused is not None:
            return await self._end(order, OrderState.FAILED, error=delivery.refused)
        if delivery.status is not None:
            return await self._finish(order, delivery.status)
        return await self._end(order, OrderState.EXPIRED, error="blockhash expired before landing")

    async def _await_status(self, order: OrderRow) -> Outcome:
        """Wait for a sent transaction (ours, or the v2 maker's) to show a status. Once its
        blockhash has expired: a known id with no status (searched through the node's history)
        never landed and never will; only an unknown id is decided from balances."""
        signature = Signature.from_string(order.signature) if order.signature else None
        while True:
            if signature is not None:
                status = await self._status(signature)
                if status is not None:
                    return await self._finish(order, status)
            if await self._expired(order):
                if signature is None:
                    return await self._settle_from_balance(order)
                status = await self._status(signature)  # it may have landed in the last block
                if status is not None:
                    return await self._finish(order, status)
                return await self._end(
                    order, OrderState.EXPIRED, error="did not land before expiry"
                )
            await self.clock.sleep(self.poll_seconds)

    async def _status(self, signature: Signature) -> SignatureStatus | None:
        return (await self.chain.statuses([signature]))[0]

    async def _expired(self, order: OrderRow) -> bool:
        limit = order.last_valid_block_height
        return limit is not None and await self.chain.block_height() > limit

    async def _finish(self, order: OrderRow, status: SignatureStatus) -> Outcome:
        if status.err is not None:
            # a transaction that failed there paid its costs too, and moved nothing else
            paid = await self.wallet_costs(order, swapped=False)
            return await self._end(
                order, OrderState.FAILED, error=f"failed on chain: {status.err}", fee_lamports=paid
            )
        return await self._settle(order)

    async def wallet_costs(self, order: OrderRow, *, swapped: bool = True) -> int | None:
        """Lamports the wallet paid for the order's transaction beyond the swap itself: the
        network and priority fees, tips, the rent of accounts it paid for, as the chain shows
        them (`Chain.costs`). 0 where the venue pays them (JupiterZ's RFQ maker on `/order`,
        whose signature, not the wallet's, is the transaction's id; paper); None when the chain
        no longer has the transaction (the books then cannot say it). `swapped`: the
        transaction succeeded (one that failed on chain moved nothing but its costs).

        What the wallet's balance lost in the transaction, less the SOL it swapped away (a SOL
        input), is exact whoever funded what. A SOL output arrives in that same balance, by an
        amount the books cannot know apart from it, so there the fee and the rent of the
        accounts the transaction created and kept are taken instead (its wrapped SOL account
        comes and goes within it)."""
        if not order.signature:
            return None if Route(order.route) in OURS_TO_SEND else 0
        ours = Route(order.route) in OURS_TO_SEND or order.signature == order.own_signature
        if not ours:
            return 0  # the transaction's id is its fee payer's signature: the maker paid
        costs = await self.chain.costs(Signature.from_string(order.signature))
        if costs is None:
            return None
        if order.output_mint == str(NATIVE_MINT):
            return costs.lamports
        sent = order.amount_in if swapped and order.input_mint == str(NATIVE_MINT) else 0
        return costs.payer_spent - sent

    async def _settle_from_balance(self, order: OrderRow) -> Outcome:
        """Decide an order whose transaction id is unknown, after its blockhash expired: it
        landed if and only if the output balance grew (nothing else trades this wallet's token
        while the order is in flight)."""
        owner = await self._owner(order)
        now = await holdings(self.chain, owner, Pubkey.from_string(order.output_mint))
        if order.balance_before is not None and now > order.balance_before:
            return await self._settle(order)
        return await self._end(order, OrderState.EXPIRED, error="did not land before expiry")

    async def _settle(self, order: OrderRow) -> Outcome:
        """Confirm with the amounts the chain shows, and update positions and trades with it, in
        one database transaction."""
        owner = await self._owner(order)
        moved = await self.received(order, owner)  # first: it waits for the metadata
        paid = await self.wallet_costs(order)
        filled_out = swap_output(order, moved, paid)
        if filled_out <= 0:
            return await self._end(
                order, OrderState.FAILED, error="landed but nothing received", fee_lamports=paid
            )
        return await self._confirm(
            order, order.amount_in, filled_out, {OrderState.SENT}, fee_lamports=paid
        )

    async def received(self, order: OrderRow, owner: Pubkey) -> int:
        """What the order's transaction changed the wallet's output holding by: read from the
        transaction's own metadata, so that a deposit, a withdrawal or an account close landing
        while the order was in flight is not taken for part of the fill. Only when the
        transaction is not known (an `/execute` whose answer was lost) or the chain no longer
        has it, from the holding now against the one journaled before the swap."""
        mint = Pubkey.from_string(order.output_mint)
        if order.signature:
            signature = Signature.from_string(order.signature)
            for attempt in range(_TRANSACTION_LOOKUPS):  # a node may index it a moment late
                if attempt:
                    await self.clock.sleep(self.poll_seconds)
                moved = await self.chain.received(signature, owner, mint)
                if moved is not None:
                    return moved
        return await holdings(self.chain, owner, mint) - (order.balance_before or 0)

    async def _confirm(
        self,
        order: OrderRow,
        filled_in: int,
        filled_out: int,
        expect: set[OrderState],
        *,
        paper_owner: Pubkey | None = None,
        fee_lamports: int | None = 0,
    ) -> Outcome:
        """Book a fill in one database transaction: the position, the trade, the order's
        confirmation, and for a paper fill the paper balances."""
        async with self.db.session() as s:
            if paper_owner is not None:
                await PaperBalances(s, self.clock).swap(
                    str(paper_owner),
                    pay_mint=order.input_mint,
                    pay=filled_in,
                    get_mint=order.output_mint,
                    get=filled_out,
                )
            order.fee_lamports = fee_lamports
            position_id = await self._apply_fill(s, order, filled_in, filled_out)
            moved = await Orders(s, self.clock).advance(
                order.id,
                OrderState.CONFIRMED,
                expect=expect,
                filled_in=filled_in,
                filled_out=filled_out,
                position_id=position_id,
                fee_lamports=fee_lamports,
            )
            if not moved:
                raise RuntimeError(f"order {order.id} changed state while being settled")
        if self.on_step is not None:
            self.on_step(await self._reload(order))
        return Outcome(
            order.id,
            OrderState.CONFIRMED,
            filled_in,
            filled_out,
            order.signature,
            purpose=Purpose(order.purpose),
            costs_lamports=fee_lamports,
        )

    async def _apply_fill(
        self, s: AsyncSession, order: OrderRow, filled_in: int, filled_out: int
    ) -> str:
        """Open or close the order's position and record the trade (caller's transaction)."""
        return await self.booking.apply_fill(s, order, filled_in, filled_out)

    # ------------------------------------------------------------------ recovery
    async def recover(self, signer: Signer, user_id: str) -> list[Outcome]:
        """Finish or close every order a previous run left unfinished, oldest first."""
        self.register_owner(user_id, signer.pubkey())
        async with self.db.session() as s:
            pending = await Orders(s, self.clock).pending(user_id)
        return [await self.resume(order, signer) for order in pending]

    async def resume(self, order: OrderRow, signer: Signer) -> Outcome:
        """Continue an order from its journaled state."""
        state = OrderState(order.state)
        if state.terminal:
            return _outcome(order)
        if state in (OrderState.CREATED, OrderState.QUOTED):
            # A paper order is filled in the transaction that confirms it, so it too was
            # never filled if it is still here.
            return await self._fail_unsent(order, "stopped before signing; nothing was sent")
        if order.signature:
            signature = Signature.from_string(order.signature)
            status = await self._status(signature)
            if status is not None:
                await self._advance(order, OrderState.SENT, _PENDING_SEND)
                return await self._finish(await self._reload(order), status)
            if (
                Route(order.route) in OURS_TO_SEND
                and order.signed_tx
                and not await self._expired(order)
            ):
                tx = VersionedTransaction.from_bytes(order.signed_tx)
                return await self._broadcast(order, tx)
            # No status yet is not "expired": the node asked may not have seen a transaction that
            # landed. Wait for a status until the blockhash expires, then go by the balances.
        await self._advance(order, OrderState.SENT, _PENDING_SEND)
        return await self._await_status(await self._reload(order))

    # ------------------------------------------------------------------ journal helpers
    async def _advance(
        self, order: OrderRow, state: OrderState, expect: set[OrderState], **fields: object
    ) -> None:
        if OrderState(order.state) is state and not fields:
            return
        if OrderState(order.state) not in expect:
            return  # a resumed order already took this step in an earlier run
        async with self.db.session() as s:
            moved = await Orders(s, self.clock).advance(order.id, state, expect=expect, **fields)
        if not moved:
            raise RuntimeError(f"order {order.id} left {order.state} behind our back")
        order.state = state.value
        for name, value in fields.items():
            setattr(order, name, value)
        if self.on_step is not None:
            self.on_step(order)

    async def _end(
        self, order: OrderRow, state: OrderState, *, error: str, **fields: object
    ) -> Outcome:
        await self._advance(order, state, {OrderState.SENT}, error=error, **fields)
        log.info("order %s %s: %s", order.id, state.value, error)
        return _outcome(order)

    async def _fail_unsent(self, order: OrderRow, error: str) -> Outcome:
        await self._advance(
            order, OrderState.FAILED, {OrderState.CREATED, OrderState.QUOTED}, error=error
        )
        return _outcome(order)

    async def _reload(self, order: OrderRow) -> OrderRow:
        async with self.db.session() as s:
            fresh = await Orders(s, self.clock).get(order.id)
        if fresh is None:
            raise RuntimeError(f"order {order.id} vanished from the journal")
        return fresh

    async def _owner(self, order: OrderRow) -> Pubkey:
        try:
            return self._owners[order.user_id]
        except KeyError:
            raise RuntimeError(f"no wallet registered for user {order.user_id!r}") from None

    def register_owner(self, user_id: str, owner: Pubkey) -> None:
        """The wallet address of a user (needed to read balances when settling)."""
        self._owners[user_id] = owner


def _outcome(order: OrderRow) -> Outcome:
    return Outcome(
        order.id,
        OrderState(order.state),
        order.filled_in,
        order.filled_out,
        order.signature,
        order.error,
        Purpose(order.purpose),
        costs_lamports=order.fee_lamports,
    )
