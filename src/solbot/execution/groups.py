"""Many orders at once, journaled in groups: the executor's lifecycle with group commit.

A tick of the multi-user loop has an order for every user a signal reached. Journaled one by
one, each order costs a handful of commits; here every phase of the lifecycle is one
transaction for the whole group, and the venue and the chain are asked concurrently:

    1. intents        one transaction: every order `created` (idempotency keys as always)
    2. quote, sign    concurrently, nothing written
    3. signed         one transaction: `quoted` and `signed` (the bytes), or `failed`
    4. send/execute   concurrently (v1, build: `sent` journaled first, in one transaction)
    5. statuses       one `getSignatureStatuses` call per pass for the whole group
    6. settle         one transaction: positions, trades, `confirmed` / `failed` / `expired`

The journal's promise is unchanged: nothing is sent before its signed bytes are committed, and
a confirmed order's position and trade commit with its confirmation. Only step 3 waits for the
disk (fsync); steps 1, 4 and 6 commit lazily (`Database.session(durable=False)`), because a
power cut that loses one of them leaves a state the recovery below already finishes: intents
that were never signed are failed, a signed order is re-sent or settled from its signature or
balances, as after a crash before the step. The next durable commit carries them to disk in
order (WAL), and a process crash loses none of them. After a crash anywhere,
`Executor.recover` finishes every order as before, and an order this path cannot finish in the
group (an `/execute` answer that was lost, a status that does not come before expiry) is handed
to `Executor.resume`, the single-order path, which settles it.

A fill is measured as the change of the wallet's balance of the output mint, so a group never
holds two orders of one wallet where one's output mint is another's input or output (two exits
into USDC, or an exit into USDC next to an entry paid in USDC): such orders go in successive
rounds (`rounds`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from solbot.chain.port import ChainUnavailableError, SendError, SignatureStatus, holdings
from solbot.errors import EnvironmentFaultError
from solbot.execution.booking import swap_output
from solbot.execution.execute_answer import read_execute
from solbot.execution.executor import OURS_TO_SEND, Executor, Outcome, SwapIntent, _outcome
from solbot.execution.jupiter import BadResponseError, VenueError
from solbot.execution.landing import SimulationFailedError
from solbot.execution.signing import (
    Signer,
    SigningError,
    UnusableKeyError,
    reserve_signatures,
    sign_own_slot,
    signer_index,
)
from solbot.store.balances import InsufficientPaperFundsError, PaperBalances
from solbot.store.orders import Orders
from solbot.store.positions import Positions, Trades
from solbot.store.states import OrderState, Route
from solbot.store.tables import OrderRow

log = logging.getLogger(__name__)

T = TypeVar("T")
Request = tuple[SwapIntent, Signer]


@dataclass(eq=False)  # an order is itself, not its fields' values
class _Order:
    """One order on its way through the group."""

    signer: Signer
    row: OrderRow
    before: int = 0
    quoted: dict[str, Any] = field(default_factory=dict)
    signed: VersionedTransaction | None = None
    error: str | None = None
    key_unusable: bool = False  # the error is the signer's key, which can never sign
    tx_id: str | None = None  # v2: the signature /execute named (the maker's, on RFQ routes)
    status: SignatureStatus | None = None
    slow: bool = False  # finish it on the single-order path
    outcome: Outcome | None = None

    @property
    def owner(self) -> Pubkey:
        return self.signer.pubkey()


def rounds(requests: Sequence[Request]) -> list[list[int]]:
    """Indices of `requests` split into rounds in which no wallet has two orders whose mints
    collide (one's output is another's input or output), keeping their order otherwise."""
    members: list[list[int]] = []
    outputs: list[dict[Pubkey, set[str]]] = []  # per round: each wallet's output mints
    touched: list[dict[Pubkey, set[str]]] = []  # per round: each wallet's input and output mints
    for index, (intent, signer) in enumerate(requests):
        owner = signer.pubkey()
        k = 0
        while k < len(members) and (
            intent.output_mint in touched[k].get(owner, set())
            or intent.input_mint in outputs[k].get(owner, set())
        ):
            k += 1
        if k == len(members):
            members.append([])
            outputs.append({})
            touched.append({})
        members[k].append(index)
        outputs[k].setdefault(owner, set()).add(intent.output_mint)
        touched[k].setdefault(owner, set()).update((intent.input_mint, intent.output_mint))
    return members


class GroupExecutor:
    """`Executor.submit` for many intents, with the journal written once per phase."""

    def __init__(self, executor: Executor, *, concurrency: int = 32) -> None:
        self.ex = executor
        self.concurrency = concurrency

    async def submit_many(self, requests: Sequence[Request]) -> list[Outcome]:
        """Carry out every intent (or find the order it already produced); the outcomes in
        the order of `requests`."""
        outcomes: dict[int, Outcome] = {}
        for members in rounds(requests):
            done = await self._round([requests[i] for i in members])
            outcomes.update(zip(members, done, strict=True))
        return [outcomes[i] for i in range(len(requests))]

    async def submit_or_each(self, requests: Sequence[Request]) -> list[Outcome]:
        """`submit_many`; should the group itself fail (a bug, a database error), its orders
        are taken again one by one. The journal's idempotency keys make that safe: an order
        that got anywhere is found and finished, not made twice. An unreachable chain is not
        retried here (the caller skips the tick), nor is a fault of the surroundings (the
        database unreachable, locked or full): one by one would fail alike."""
        try:
            return await self.submit_many(requests)
        except (ChainUnavailableError, EnvironmentFaultError):
            raise
        except Exception:
            log.exception("a group of %d orders failed; taking them one by one", len(requests))
        outcomes = []
        for intent, signer in requests:
            try:
                outcomes.append(await self.ex.submit(intent, signer))
            except VenueError as exc:
                outcomes.append(Outcome("", OrderState.FAILED, error=str(exc)))
        return outcomes

    # ------------------------------------------------------------------ one round
    async def _round(self, requests: Sequence[Request]) -> list[Outcome]:
        ex = self.ex
        for intent, signer in requests:
            ex.register_owner(intent.user_id, signer.pubkey())
        async with ex.db.session(durable=False) as s:  # lost in a power cut: nothing was signed
            rows = await Orders(s, ex.clock).create_many([_spec(i, ex.route) for i, _ in requests])
            orders = [_Order(signer, row) for (_, signer), row in zip(requests, rows, strict=True)]
            fresh = [o for o in orders if OrderState(o.row.state) is OrderState.CREATED]
            # The vault's decryptions for the fresh orders' signatures, reserved in this same
            # transaction (see `wallet.decrypt_guard`): no database work per signature.
            reserved = await reserve_signatures(
                s, [o.signer for o in fresh if Route(o.row.route) is not Route.PAPER]
            )
        with reserved:
            return await self._carry_out(orders, fresh)

    async def _carry_out(self, orders: list[_Order], fresh: list[_Order]) -> list[Outcome]:
        ex = self.ex
        is_fresh = {id(o) for o in fresh}  # `order in fresh` made a round O(n²)
        for order in orders:
            if id(order) in is_fresh:
                self._step(order.row)
            else:  # acted on before (a restart, a retry): finish that order, as `submit` does
                order.outcome = await ex.resume(order.row, order.signer)
        if fresh:
            await self._gather(self._prepare, fresh)
            await self._journal_signed(fresh)
            paper = [o for o in fresh if Route(o.row.route) is Route.PAPER and o.error is None]
            if paper:
                await self._settle_paper(paper)
            live = [o for o in fresh if o.signed is not None]
            if live:
                await self._send(live)
                await self._await_statuses([o for o in live if o.outcome is None and not o.slow])
                await self._settle([o for o in live if o.outcome is None and not o.slow])
            for order in fresh:
                if order.outcome is None:  # the rare cases, on the single-order path
                    order.outcome = await ex.resume(await ex._reload(order.row), order.signer)
        return [o.outcome for o in orders if o.outcome is not None]

    async def _prepare(self, order: _Order) -> None:
        """Quote and sign (nothing written): the venue's answer or the reason it failed."""
        ex, row = self.ex, order.row
        try:
            if Route(row.route) is Route.PAPER:
                quote = await ex.jupiter.order(
                    row.input_mint, row.output_mint, row.amount_in, slippage_bps=ex.slippage_bps
                )
                if quote.out_amount <= 0:
                    raise VenueError("the venue quoted nothing for this amount")
                order.quoted = {
                    "quoted_out": quote.out_amount,
                    "min_out": quote.other_amount_threshold,
                    "fee_bps": quote.fee_bps,
                }
                return
            order.before = await holdings(
                ex.chain, order.owner, Pubkey.from_string(row.output_mint)
            )
            unsigned, order.quoted = await ex.quoter.quote(row, order.owner, order.before)
            row.route = order.quoted.get("route", row.route)  # `auto` may have moved it
            order.signed = sign_own_slot(unsigned, order.signer)
        except (VenueError, SimulationFailedError) as exc:
            order.error = str(exc)
        except SigningError as exc:
            order.error = f"not signed: {exc}"
            order.key_unusable = isinstance(exc, UnusableKeyError)

    async def _journal_signed(self, orders: Sequence[_Order]) -> None:
        """One transaction: each order quoted and signed (its bytes stored), or failed."""
        moves: list[tuple[str, OrderState, OrderState, dict[str, Any]]] = []
        for order in orders:
            row = order.row
            if order.error is not None:
                moves.append(
                    (row.id, OrderState.CREATED, OrderState.FAILED, {"error": order.error})
                )
                continue
            moves.append((row.id, OrderState.CREATED, OrderState.QUOTED, order.quoted))
            if order.signed is None:
                continue  # paper: filled at the quote in `_settle_paper`
            own = order.signed.signatures[signer_index(order.signed, order.owner)]
            signed: dict[str, Any] = {"signed_tx": bytes(order.signed), "own_signature": str(own)}
            if order.signed.message.account_keys[0] == order.owner:  # the fee payer's: the id
                signed["signature"] = str(order.signed.signatures[0])
            moves.append((row.id, OrderState.QUOTED, OrderState.SIGNED, signed))
        async with self.ex.db.session() as s:
            await Orders(s, self.ex.clock).advance_many(moves)
        rows = {o.row.id: o.row for o in orders}
        for order_id, _source, target, fields in moves:
            row = rows[order_id]
            row.state = target.value
            for name, value in fields.items():
                setattr(row, name, value)
        for order in orders:
            self._step(order.row)
            if order.error is not None:
                order.outcome = replace(_outcome(order.row), key_unusable=order.key_unusable)

    async def _send(self, orders: Sequence[_Order]) -> None:
        ours = [o for o in orders if Route(o.row.route) in OURS_TO_SEND]
        v2 = [o for o in orders if Route(o.row.route) is Route.V2]
        if ours:  # `sent` before the bytes go out, as the single path journals it
            await self._advance([(o, OrderState.SIGNED, OrderState.SENT, {}) for o in ours])
            await self._gather(self._broadcast_once, ours)
        if v2:
            await self._gather(self._execute, v2)
            sent = [
                (
                    o,
                    OrderState.SIGNED,
                    OrderState.SENT,
                    {"signature": o.tx_id} if o.tx_id and not o.row.signature else {},
                )
                for o in v2
            ]
            await self._advance(sent)
            failed = [o for o in v2 if o.error is not None and not o.slow]
            if failed:
                await self._advance(
                    [
                        # failed here, nothing of the wallet's spent: the maker pays on RFQ, and
                        # the wallet's own transactions are followed on the chain instead
                        (
                            o,
                            OrderState.SENT,
                            OrderState.FAILED,
                            {"error": o.error, "fee_lamports": 0},
                        )
                        for o in failed
                    ]
                )
                for order in failed:
                    order.outcome = _outcome(order.row)

    async def _execute(self, order: _Order) -> None:
        ex, row = self.ex, order.row
        assert order.signed is not None
        try:
            result = await ex.jupiter.execute(
                row.request_id or "",
                order.signed,
                last_valid_block_height=row.last_valid_block_height,
            )
        except VenueError as exc:
            if exc.outcome_unknown or isinstance(exc, BadResponseError):
                order.slow = True  # it may have landed: settle from balances, single path
            else:
                order.error = str(exc)
            return
        verdict = read_execute(result, order.signed, row.signature)
        order.tx_id, order.error = verdict.follow, verdict.error
        if verdict.error is None and verdict.follow is None:
            order.slow = True  # an id not to be believed: decided as a lost answer

    async def _broadcast_once(self, order: _Order) -> None:
        """The first send of our own transaction (v1, `/build`); re-sends happen while waiting
        for statuses."""
        assert order.signed is not None
        try:
            await self.ex.chain.send(order.signed)
        except SendError as exc:
            if exc.reason not in ("AlreadyProcessed", "BlockhashNotFound"):
                order.error = exc.reason  # refused before executing: unless it landed earlier

    async def _await_statuses(self, orders: Sequence[_Order]) -> None:
        """Poll the group's signatures together until each has a status or has expired."""
        ex = self.ex
        waiting = [o for o in orders if o.row.signature]
        for order in orders:
            if not order.row.signature:
                order.slow = True
        while waiting:
            signatures = [Signature.from_string(o.row.signature or "") for o in waiting]
            statuses = await ex.chain.statuses(signatures)
            still = []
            for order, status in zip(waiting, statuses, strict=True):
                if status is not None:
                    order.status = status
                elif order.error is not None:  # refused at send and never seen: failed
                    await self._advance(
                        [(order, OrderState.SENT, OrderState.FAILED, {"error": order.error})]
                    )
                    order.outcome = _outcome(order.row)
                else:
                    still.append(order)
            if not still:
                return
            height = await ex.chain.block_height()
            waiting = []
            for order in still:
                limit = order.row.last_valid_block_height
                if limit is not None and height > limit:
                    order.slow = True  # expired: the single path decides (last look, balances)
                else:
                    waiting.append(order)
            if waiting:
                await ex.clock.sleep(ex.poll_seconds)
                for order in waiting:
                    if Route(order.row.route) in OURS_TO_SEND and order.signed is not None:
                        await self._broadcast_once(order)

    async def _settle(self, orders: Sequence[_Order]) -> None:
        """One transaction: every landed order confirmed with what arrived, with its position
        and trade; every order that failed on chain marked so."""
        ex = self.ex
        fills: list[tuple[_Order, int]] = []
        failures: list[tuple[_Order, str]] = []
        for order in orders:
            status = order.status
            if status is None:
                order.slow = True
                continue
            if status.err is not None:  # it paid its costs, and moved nothing else
                order.row.fee_lamports = await ex.wallet_costs(order.row, swapped=False)
                failures.append((order, f"failed on chain: {status.err}"))
                continue
            moved = await ex.received(order.row, order.owner)  # first: it waits for the metadata
            order.row.fee_lamports = await ex.wallet_costs(order.row)
            filled_out = swap_output(order.row, moved, order.row.fee_lamports)
            if filled_out <= 0:
                failures.append((order, "landed but nothing received"))
            else:
                fills.append((order, filled_out))
        if not fills and not failures:
            return
        moves = []
        async with ex.db.session(durable=False) as s:  # lost: settled again from the chain
            trades = []
            new_positions: list[dict[str, Any]] = []
            for order, filled_out in fills:
                position_id, trade = await ex.booking.position(
                    s, order.row, order.row.amount_in, filled_out, new_positions=new_positions
                )
                trades.append(trade)
                fields = {
                    "filled_in": order.row.amount_in,
                    "filled_out": filled_out,
                    "position_id": position_id,
                    "fee_lamports": order.row.fee_lamports,
                }
                moves.append((order.row.id, OrderState.SENT, OrderState.CONFIRMED, fields))
            await Positions(s, ex.clock).open_many(new_positions)  # before the trades name them
            await Trades(s, ex.clock).add_many(trades)
            for order, error in failures:
                fields = {"error": error, "fee_lamports": order.row.fee_lamports}
                moves.append((order.row.id, OrderState.SENT, OrderState.FAILED, fields))
            await Orders(s, ex.clock).advance_many(moves)
        self._apply(orders, moves)

    async def _settle_paper(self, orders: Sequence[_Order]) -> None:
        """One transaction: every paper order filled at its quote (each in a savepoint, so an
        account without the funds fails alone)."""
        ex = self.ex
        moves = []
        async with ex.db.session() as s:
            for order in orders:
                row = order.row
                filled_out = int(order.quoted["quoted_out"])
                try:
                    async with s.begin_nested():
                        await PaperBalances(s, ex.clock).swap(
                            str(order.owner),
                            pay_mint=row.input_mint,
                            pay=row.amount_in,
                            get_mint=row.output_mint,
                            get=filled_out,
                        )
                        position_id = await ex.booking.apply_fill(s, row, row.amount_in, filled_out)
                except InsufficientPaperFundsError as exc:
                    moves.append(
                        (row.id, OrderState.QUOTED, OrderState.FAILED, {"error": str(exc)})
                    )
                    continue
                fields = {
                    "filled_in": row.amount_in,
                    "filled_out": filled_out,
                    "position_id": position_id,
                }
                moves.append((row.id, OrderState.QUOTED, OrderState.CONFIRMED, fields))
            await Orders(s, ex.clock).advance_many(moves)
        self._apply(orders, moves)

    # ------------------------------------------------------------------ helpers
    async def _advance(
        self, moves: Sequence[tuple[_Order, OrderState, OrderState, dict[str, Any]]]
    ) -> None:
        """Moves after the signed bytes are stored (`sent`, `failed`): lazily committed, since
        after losing one the order is still signed, which the recovery finishes."""
        async with self.ex.db.session(durable=False) as s:
            await Orders(s, self.ex.clock).advance_many(
                [(o.row.id, source, target, fields) for o, source, target, fields in moves]
            )
        for order, _source, target, fields in moves:
            order.row.state = target.value
            for name, value in fields.items():
                setattr(order.row, name, value)
            self._step(order.row)

    def _apply(
        self,
        orders: Sequence[_Order],
        moves: Sequence[tuple[str, OrderState, OrderState, dict[str, Any]]],
    ) -> None:
        by_id = {o.row.id: o for o in orders}
        for order_id, _source, target, fields in moves:
            order = by_id[order_id]
            order.row.state = target.value
            for name, value in fields.items():
                setattr(order.row, name, value)
            self._step(order.row)
            order.outcome = _outcome(order.row)

    def _step(self, row: OrderRow) -> None:
        if self.ex.on_step is not None:
            self.ex.on_step(row)

    async def _gather(
        self, work: Callable[[_Order], Awaitable[None]], orders: Sequence[_Order]
    ) -> None:
        """`work` on every order, at most `concurrency` at a time, in their order: a few
        workers taking the next order, rather than a task and a semaphore turn per order."""
        queue = iter(orders)

        async def worker() -> None:
            for order in queue:
                await work(order)

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(orders)))))


def _spec(intent: SwapIntent, route: Route) -> dict[str, Any]:
    return {
        "idempotency_key": intent.idempotency_key,
        "user_id": intent.user_id,
        "token": intent.token,
        "input_mint": intent.input_mint,
        "output_mint": intent.output_mint,
        "side": intent.side,
        "purpose": intent.purpose,
        "amount_in": intent.amount_in,
        "route": route,
        "exit_reason": intent.exit_reason,
        "position_id": intent.position_id,
        "stop_frac": intent.stop_frac,
        "target_frac": intent.target_frac,
    }
